"""The run folder: its id, the settings a restart must match, and new / resume / reuse / refuse."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.results import (
    check_out_path,
    check_settings,
    record_from_json,
    settings_fingerprint,
    write_settings,
)
from t5eval.run.options import RunOptions
from t5eval.run.plan import RunPlan
from t5eval.tasks import TaskSpec
from t5eval.tokenizer import Tokenizer
from t5eval.tokenizer.pairs import PairTokenizer
from t5eval.trust import (
    RUN,
    clear_for_overwrite,
    read_json_object,
    require_kind,
    sweep_temp_files,
    write_marker,
)


def model_slug(model: str) -> str:
    """A short, path-safe name for a model source (hub id, local dir or preset)."""
    name = Path(model.rstrip("/")).name or model
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def default_run_id(opts: RunOptions) -> str:
    """A readable run id like `20261123-1512_t5-small_glue`."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M")
    return f"{stamp}_{run_suffix(opts)}"


def run_suffix(opts: RunOptions) -> str:
    target = re.sub(r"[^A-Za-z0-9._-]+", "+", opts.target.strip())
    return f"{model_slug(opts.model)}_{target}"


def run_settings(plan: RunPlan, specs: list[TaskSpec], tokenizer: Tokenizer | PairTokenizer, weights_sha256: str) -> dict[str, Any]:
    """The settings that shape results: a restart must match them (threads and paths of outputs not).
    `finetune` comes from the plan's config objects (`TrainConfig`, `HeadHyperparameters`)."""
    opts = plan.opts
    return {
        "tasks": [s.name for s in specs], "model": opts.model, "init": opts.init,
        "weights_sha256": weights_sha256,
        "seed": opts.seed, "finetune": plan.finetune_settings(), "protocol": opts.protocol, "limit": opts.limit,
        "split": opts.split, "vocab_sha256": tokenizer.sha256, "data_dir": opts.resolved_data_dir(),
        "device": opts.device, "dtype": opts.dtype,
        "task_defs": {s.name: s.sha256 for s in specs},
    } | ({"scoring": opts.scoring} if opts.scoring != "generate" else {}) | (
        {"kernels": opts.kernels} if opts.kernels != "mkl" else {}) | (
        {"ensemble": list(opts.ensemble), "ensemble_reduce": opts.ensemble_reduce} if opts.ensemble else {})  # fmt: skip


def find_same_run(opts: RunOptions, fingerprint: str) -> Path | None:
    """The newest run under results_root with this model/target and the same settings (to resume/reuse);
    folders whose settings.json cannot be read are passed over."""
    root = opts.results_root
    if not root.is_dir():
        return None
    for path in sorted(root.glob(f"*_{run_suffix(opts)}"), reverse=True):
        try:
            same = read_json_object(path / "settings.json", "").get("fingerprint") == fingerprint
        except T5evalError:
            continue
        if same:
            return path
    return None


def prepare_run_dir(
    opts: RunOptions, settings: dict[str, Any], log: Callable[[str], None]
) -> tuple[Path, dict[str, Any] | None]:
    """Pick the run dir: --out, else the newest run with the same settings, else a new id.

    Returns (run dir, the finished record when the dir already holds this exact finished run).
    Raises:
        T5evalError: the dir holds a run with other settings, or something that is not a run.
    """
    run_dir = opts.out
    if run_dir is None and not opts.overwrite:
        run_dir = find_same_run(opts, settings_fingerprint(settings))
        if run_dir is not None:
            log(f"found a run with the same settings under {opts.results_root}: {run_dir} "
                "(pass --out to choose the folder, or --overwrite to start afresh)")
    if run_dir is None:
        run_dir = opts.results_root / default_run_id(opts)
    run_dir = Path(run_dir)
    flag = "--out" if opts.out is not None else "results folder"
    check_out_path(run_dir, flag, folder=True)
    if opts.overwrite:
        kept = clear_for_overwrite(run_dir, RUN, flag)  # refuses (deleting nothing) unless it is a run folder
        if kept:
            log(f"--overwrite: kept what t5eval did not write in {run_dir}: {', '.join(kept)}")
    elif require_kind(run_dir, RUN, flag) and check_settings(run_dir, settings):
        if (run_dir / "run.json").exists():
            return run_dir, record_from_json(read_run_json(run_dir))
        for path in sweep_temp_files(run_dir):
            log(f"removed {path} (left by an interrupted write)")
        log(f"resuming the unfinished run in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_marker(run_dir, RUN)
    write_settings(run_dir, settings)
    return run_dir, None


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """A finished run's run.json (one line naming the file and the fix when it is damaged)."""
    return read_json_object(run_dir / "run.json", "delete it and rerun: it is written again from the "
                                                  "finished tasks' files")
