"""Run options, run directories (new / resume / refuse), progress bars and the run.json record.

Split out of `t5eval.runner` so that the runner only composes the flow.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.io import read_json
from t5eval.results import (
    SCHEMA_VERSION,
    check_settings,
    env_record,
    now_iso,
    settings_fingerprint,
    write_settings,
)

PAPER_STEPS = 2**18  # fine-tuning steps of the paper's baseline (spec §8)
PAPER_EVAL_EVERY = 5000  # checkpoint interval (spec §8)
PAPER_BATCH_TOKENS = 128 * 512  # 65,536 tokens per batch (spec §8)
DEVICE_KINDS = ("cpu", "cuda", "mps")
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class RunOptions:
    """Everything `t5eval run` was asked to do. Defaults are the paper's fine-tuning settings."""

    target: str
    model: str
    init: str = "pretrained"
    vocab: Path | None = None
    data_dir: Path | None = None
    out: Path | None = None
    results_root: Path = Path("results")
    limit: int | None = None
    seed: int = 0
    steps: int = PAPER_STEPS
    eval_every: int = PAPER_EVAL_EVERY
    batch_tokens: int = PAPER_BATCH_TOKENS
    grad_accum: int = 1
    max_input_len: int | None = None  # extra cap on training inputs (train_lengths are maxima)
    finetune: bool = True
    mixture: bool = False
    protocol: str = "current"
    split: str | None = None  # evaluate on this split (role or name) instead of each task's eval split
    threads: int | None = None
    overwrite: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    fsdp: bool = False  # shard training with FSDP2 under torchrun (≥ 2 ranks); results as with DDP
    skip_missing: bool = False  # leave out tasks whose eval data is not found (run.json lists them)
    command: tuple[str, ...] = ()

    def resolved_data_dir(self) -> str | None:
        """--data-dir, else $T5EVAL_DATA_DIR, else None (the hub copy)."""
        value = self.data_dir or os.environ.get("T5EVAL_DATA_DIR")
        return str(Path(value).resolve()) if value else None


def default_device() -> str:
    """`cuda` when a GPU is visible, else `cpu` (the `--device` default)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(name: str) -> str:
    """Validate `--device` (cpu, cuda, cuda:N, mps) against this machine; returns it unchanged.

    Raises:
        T5evalError: an unknown device name, or one this machine does not have.
    """
    import torch

    kind, _, index = name.partition(":")
    if kind not in DEVICE_KINDS or (index and (kind != "cuda" or not index.isdigit())):
        raise T5evalError(f"--device {name!r} is not cpu, cuda, cuda:N or mps{did_you_mean(kind, DEVICE_KINDS)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise T5evalError(f"--device {name} but CUDA is not available on this machine; use --device cpu")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise T5evalError(f"--device {name} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                          f"use cuda:0 … cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise T5evalError(f"--device {name} but MPS (Apple GPU) is not available on this machine; use --device cpu")
    return name


def check_dtype(name: str) -> str:
    """Validate `--dtype`: float32 (exact) or bfloat16 (autocast forward passes, fp32 weights)."""
    if name not in DTYPES:
        raise T5evalError(f"--dtype {name!r} is not one of {', '.join(DTYPES)}{did_you_mean(name, DTYPES)}")
    return name


def eval_split(spec: Any, override: str | None = None) -> str:
    """The split a task is scored on: `override` (a role such as "test", or a split name), else the
    spec's eval role (validation for every T5 table but Table 14).

    Raises:
        T5evalError: `override` names no split of the task.
    """
    if override is None:
        return str(spec.splits.get("eval") or spec.splits.get("validation") or "validation")
    if override in spec.splits:
        return str(spec.splits[override])
    if override in spec.split_names:
        return override
    choices = sorted({*spec.splits, *spec.split_names})
    raise T5evalError(f"task {spec.name} has no split {override!r}{did_you_mean(override, choices)}; "
                      f"use one of: {', '.join(choices)}")


def train_split(spec: Any, data_dir: Path | None) -> str | None:
    """The task's train split when its data is reachable, else None (never the validation split)."""
    from t5eval.tasks import has_split

    split = spec.splits.get("train")
    if split is None:
        return None
    return str(split) if has_split(spec, split, data_dir) else None


def check_eval_data(specs: list[Any], data_dir: Path | None, split: str | None = None,
                    skip_missing: bool = False) -> list[Any]:
    """The tasks to run: refuse up front (before any training) when a task's eval split is not in the
    data, or with `skip_missing` leave such tasks out (at least one must remain).

    Raises:
        T5evalError: names the tasks without eval data and suggests the runnable comma list.
    """
    from t5eval.tasks import has_split

    missing = [s.name for s in specs if not has_split(s, eval_split(s, split), data_dir)]
    ready = [s for s in specs if s.name not in missing]
    if not missing or (skip_missing and ready):
        return ready
    where = data_dir or os.environ.get("T5EVAL_DATA_DIR") or "the hub"
    names = ",".join(s.name for s in ready)
    hint = (f"run the others with: t5eval run {names} ... (or add --skip-missing)" if ready
            else "pass --data-dir with the files")
    raise T5evalError(f"no eval data for {', '.join(missing)} in {where}; {hint}")


def model_slug(model: str) -> str:
    """A short, path-safe name for a model source (hub id, local dir or preset)."""
    name = Path(model.rstrip("/")).name or model
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def default_run_id(opts: RunOptions) -> str:
    """A readable run id like `20261123-1512_t5-small_glue`."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M")
    return f"{stamp}_{_suffix(opts)}"


def _suffix(opts: RunOptions) -> str:
    target = re.sub(r"[^A-Za-z0-9._-]+", "+", opts.target.strip())
    return f"{model_slug(opts.model)}_{target}"


def run_settings(opts: RunOptions, specs: list[Any], tokenizer: Any, weights_sha256: str) -> dict[str, Any]:
    """The settings that shape results: a restart must match them (threads and paths of outputs not)."""
    finetune = None
    if opts.finetune:
        finetune = {
            "steps": opts.steps, "eval_every": opts.eval_every, "batch_tokens": opts.batch_tokens,
            "grad_accum": opts.grad_accum, "max_input_len": opts.max_input_len, "lr": 1e-3,
            "dropout": 0.1, "mixture": opts.mixture,
        }  # fmt: skip
    return {
        "tasks": [s.name for s in specs], "model": opts.model, "init": opts.init,
        "weights_sha256": weights_sha256,
        "seed": opts.seed, "finetune": finetune, "protocol": opts.protocol, "limit": opts.limit,
        "split": opts.split, "vocab_sha256": tokenizer.sha256, "data_dir": opts.resolved_data_dir(),
        "device": opts.device, "dtype": opts.dtype,
        "task_defs": {s.name: s.sha256 for s in specs},
    }  # fmt: skip


def _find_same_run(opts: RunOptions, fingerprint: str) -> Path | None:
    """The newest run under results_root with this model/target and the same settings (to resume/reuse)."""
    root = opts.results_root
    if not root.is_dir():
        return None
    for path in sorted(root.glob(f"*_{_suffix(opts)}"), reverse=True):
        settings = path / "settings.json"
        if settings.exists() and read_json(settings).get("fingerprint") == fingerprint:
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
        run_dir = _find_same_run(opts, settings_fingerprint(settings))
    if run_dir is None:
        run_dir = opts.results_root / default_run_id(opts)
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / "settings.json").exists():
            raise T5evalError(f"{run_dir} exists and is not a t5eval run (no settings.json); choose another --out")
        if opts.overwrite:
            shutil.rmtree(run_dir)
        elif check_settings(run_dir, settings):
            if (run_dir / "run.json").exists():
                return run_dir, read_json(run_dir / "run.json")
            log(f"resuming the unfinished run in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_settings(run_dir, settings)
    return run_dir, None


def model_record(loaded: Any, init: str) -> dict[str, Any]:
    """The `model` block: source, init, size/variant (from the config's shape), weights hash, config."""
    from t5eval.model import PRESETS

    cfg = loaded.config
    shape = ("d_model", "d_ff", "num_layers", "num_heads", "d_kv", "feed_forward_proj")
    size = next(
        (n.split("-")[-1] for n, p in PRESETS.items() if all(getattr(p, k) == getattr(cfg, k) for k in shape)),
        None,
    )
    return {
        "source": str(loaded.source), "init": init, "size": size, "variant": cfg.variant,
        "weights_sha256": loaded.weights_sha256, "config": cfg.to_hf(),
    }  # fmt: skip


def task_record(task: Any, result: Any, state: Any, opts: RunOptions, optimizer: Any) -> dict[str, Any]:
    """A task's entry in run.json (schema in docs/ARCHITECTURE.md)."""
    spec = task.spec
    history = state.history.get(task.name, []) if state else []
    best = state.best.get(task.name) if state else None
    return {
        "split": task.split, "n": len(task.examples), "metrics": result.metrics,
        "best_step": best["step"] if best else None, "finetuned": state is not None,
        "weights_sha256": result.weights_sha256,
        "task_def": {"name": spec.name, "t5_name": spec.t5_name, "version": spec.version,
                     "sha256": spec.sha256, "path": spec.path},
        "data_files": task.files, "data_source": task.source,
        "decode": {"beam_size": task.decode_config.beam_size, "alpha": task.decode_config.alpha,
                   "max_decode_len": task.decode_config.max_decode_len, "eval_inputs_truncated": False},
        "metric_settings": metric_settings(spec, opts.protocol),
        "train": _train_block(state, spec, opts, optimizer),
        "history": history,
        "throughput": {
            "train_tokens_per_s": round(state.tokens_per_s, 1) if state else 0.0,
            "decode_tokens_per_s": round(task.stats.tokens_per_s, 1),
            "decoded_examples": task.stats.decoded, "cached_examples": task.stats.cached,
        },
    }  # fmt: skip


def _train_block(state: Any, spec: Any, opts: RunOptions, optimizer: Any) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "steps": state.step, "train_tokens": state.train_tokens, "train_seconds": round(state.train_seconds, 2),
        "train_lengths": dict(spec.train_lengths), "max_input_len": opts.max_input_len,
        "batch_tokens": opts.batch_tokens, "grad_accum": opts.grad_accum, "eval_every": opts.eval_every,
        "mixture": opts.mixture, "optimizer": optimizer, "dropout": 0.1, "seed": opts.seed,
        "resumed_from_steps": list(state.resumed_from),
        "selection": "metric_group_max (mean of the task's metrics; ties keep the earlier step)",
    }  # fmt: skip


def metric_settings(spec: Any, protocol: str) -> dict[str, Any]:
    """How the metrics were computed: names, protocol, and each metric's definition/options/signature."""
    from t5eval.metrics import metric_settings as settings_of

    names = list(spec.metrics_for(protocol))
    return {"protocol": protocol, "metrics": names, "settings": {n: settings_of(n) for n in names}}


def benchmarks_record(registry: Any, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Benchmark averages (T5's rules, spec §3) for every benchmark the run touched."""
    from t5eval.tasks import benchmark_average

    metrics = {name: rec["metrics"] for name, rec in records.items()}
    out: dict[str, Any] = {}
    for bench in sorted({registry.get(name).benchmark for name in records}):
        try:
            avg = benchmark_average(bench, metrics, registry=registry)
        except T5evalError as err:
            out[bench] = {"average": None, "complete": False, "note": str(err)}
            continue
        out[bench] = dict(avg)
    return out


def build_run_record(
    opts: RunOptions, run_dir: Path, model_info: dict[str, Any], tokenizer: Any,
    records: dict[str, dict[str, Any]], registry: Any, start: float,
) -> dict[str, Any]:  # fmt: skip
    """Assemble run.json (schema 1)."""
    loaded = model_info.get("loaded")
    model = model_record(loaded, opts.init) if loaded else {"source": opts.model, "init": opts.init}
    return {
        "schema": SCHEMA_VERSION, "run_id": run_dir.name, "status": "complete",
        "command": list(opts.command), "created": now_iso(),
        "wall_time_s": round(time.perf_counter() - start, 2),
        "model": model,
        "vocab": {"path": str(tokenizer.path), "sha256": tokenizer.sha256},
        "settings": _settings_block(opts),
        "env": _env_block(opts),
        "tasks": records,
        "benchmarks": benchmarks_record(registry, records),
    }  # fmt: skip


def _env_block(opts: RunOptions) -> dict[str, Any]:
    """`env_record` plus the device and dtype the run used (GPU name from torch.cuda.get_device_name)."""
    env = env_record(opts.device, opts.threads)
    if opts.device.startswith("mps"):
        env["device_name"] = "Apple GPU (MPS)"
    env.update(device=opts.device, dtype=opts.dtype)
    return env


def _settings_block(opts: RunOptions) -> dict[str, Any]:
    finetune: dict[str, Any] = {"enabled": opts.finetune}
    if opts.finetune:
        finetune.update(steps=opts.steps, eval_every=opts.eval_every, batch_tokens=opts.batch_tokens,
                        grad_accum=opts.grad_accum, max_input_len=opts.max_input_len, lr=1e-3,
                        schedule="constant", dropout=0.1, optimizer="torch.optim.Adafactor",
                        mixture=opts.mixture)
    return {
        "seed": opts.seed, "finetune": finetune, "protocol": opts.protocol, "limit": opts.limit,
        "split": opts.split or "each task's eval split", "device": opts.device, "dtype": opts.dtype, "threads": opts.threads,
        "decode_batch_tokens": opts.batch_tokens, "data_dir": opts.resolved_data_dir(),
    }  # fmt: skip


class RunProgress:
    """rich progress bars with ETA for training and decoding; a no-op when `console` is None."""

    def __init__(self, console: Any | None) -> None:
        self._progress = None
        self._train_id: Any = None
        if console is not None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
            )  # fmt: skip

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def training(self, label: str, total: int) -> Callable[[int, float], None]:
        """Add a training bar; returns `update(step, loss)`."""
        if self._progress is None:
            return lambda step, loss: None
        bar = self._progress.add_task(f"train {label}", total=total, info="")
        self._train_id = bar
        progress = self._progress
        return lambda step, loss: progress.update(bar, completed=step, info=f"loss {loss:.3f}")

    def done_training(self) -> None:
        """Remove the finished training bar."""
        if self._progress is not None and self._train_id is not None:
            self._progress.remove_task(self._train_id)
            self._train_id = None

    @contextmanager
    def decoding(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A transient decode bar; yields `advance(n)`."""
        if self._progress is None:
            yield lambda n: None
            return
        bar = self._progress.add_task(f"decode {label}", total=total, info="")
        progress = self._progress
        try:
            yield lambda n: progress.advance(bar, n)
        finally:
            progress.remove_task(bar)
