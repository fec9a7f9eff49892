"""The results schema (docs/ARCHITECTURE.md, "Results schema"): write and read a run's record.

Layout of `results/<run_id>/`:
- `run.json`: the run record (model, vocab, settings, env, per-task results, benchmark averages);
- `settings.json`: the fingerprint of the settings that shape the results (a restart must match it);
- `<task>/predictions.jsonl`: index, inputs, target, prediction, target_value, prediction_value;
- `<task>/metrics.json`: `{"task", "split", "n", "metrics"}`;
- `<task>/result.json`: the task's entry of `run.json`, written when the task finishes (resume marker).
Everything is written atomically (`t5eval.io`).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import math
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json, atomic_write_jsonl, sha256_json
from t5eval.trust import check_task_key, read_json_object, read_jsonl_objects

SCHEMA_VERSION = 1
PACKAGES = (
    "t5eval", "torch", "transformers", "sentencepiece", "safetensors", "sacrebleu", "rouge-score",
    "scikit-learn", "scipy", "numpy", "datasets", "typer", "rich",
)  # fmt: skip
PREDICTION_FIELDS = ("index", "inputs", "target", "prediction", "target_value", "prediction_value")


def now_iso() -> str:
    """Current UTC time, ISO-8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that can change a result (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo: Path | None = None) -> str | None:
    """`git rev-parse HEAD` of the t5eval checkout, with '+dirty' when tracked files changed."""
    cwd = repo or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


@functools.cache
def pin_git_commit() -> str | None:
    """The checkout's commit, read once per process: call it when a job starts, so the record names the code
    that was loaded even if the checkout moves while the job runs (a run.json written at the end would
    otherwise name a later commit)."""
    return git_commit()


def code_change_note(previous: dict[str, Any]) -> str:
    """A warning clause when a finished run record was made by another commit (settings do not hash code)."""
    then, now = (previous.get("env") or {}).get("git_commit"), git_commit()
    if then and now and then != now:
        return f", made by commit {then[:12]} (this checkout: {now[:12]}): its numbers may differ from this code's"
    return ""


def device_name(device: str) -> str:
    """A human-readable name of the device the run used."""
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(torch.device(device)))
    return f"{platform.processor() or platform.machine()} CPU ({platform.system()})"


def env_record(device: str, threads: int | None) -> dict[str, Any]:
    """The `env` block: python, package versions, git commit, device name, CPU threads."""
    import torch

    return {
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git_commit": pin_git_commit(),
        "device_name": device_name(device),
        "torch_threads": threads or torch.get_num_threads(),
        "platform": platform.platform(),
    }


def check_out_path(path: Path, flag: str = "--out", *, folder: bool = False) -> None:
    """Refuse an output path that cannot be written: at or under an existing regular file (or, for a
    file output, an existing folder). Call it before any work, so that nothing is written on refusal.

    Raises:
        T5evalError: one line naming the path, the file in the way, and the fix.
    """
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None and (blocker != path or folder):
        if blocker == path:
            raise T5evalError(f"{flag} {path} is an existing file, not a folder; choose a new folder name")
        raise T5evalError(f"{flag} {path} is under {blocker}, which is a file, not a folder; "
                          "choose a path outside it")
    if not folder and path.is_dir():
        raise T5evalError(f"{flag} {path} is a folder; give a file path (e.g. {path / 'out.json'})")


def prediction_row(
    index: int, inputs: str, target: str, prediction: str, target_value: Any, prediction_value: Any
) -> dict[str, Any]:
    """One `predictions.jsonl` line (field names fixed by the schema)."""
    values = (index, inputs, target, prediction, target_value, prediction_value)
    return dict(zip(PREDICTION_FIELDS, values, strict=True))


def write_predictions(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Atomically write `predictions.jsonl`, rows in file order."""
    atomic_write_jsonl(path, rows)


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Read `predictions.jsonl`; a missing field is a one-line error naming the file and line."""
    rows = read_jsonl_objects(path, f"the file is damaged: delete {Path(path).parent} and rerun the run's command "
                                    "to score that task again")
    for line, row in enumerate(rows, start=1):
        missing = [f for f in PREDICTION_FIELDS if f not in row]
        if missing:
            raise T5evalError(f"{path}, line {line}: missing field(s) {', '.join(missing)}")
    return rows


def is_subset(n: int, limit: int | None) -> bool:
    """Whether a task's `n` scored examples are a --limit cut of its split (a split smaller than the
    limit was scored whole)."""
    return limit is not None and n == int(limit)


def undefined_metrics(metrics: dict[str, float]) -> dict[str, str]:
    """{metric: why it is not a number} for the NaN metrics, which files store as null."""
    reasons = {}
    for key, value in metrics.items():
        if isinstance(value, float) and math.isnan(value):
            reasons[key] = ("not a number: a correlation is undefined when the predictions (or targets) are "
                            "constant" if "corrcoef" in key else "not a number on these predictions")
    return reasons


def with_undefined(block: dict[str, Any], metrics: dict[str, float]) -> dict[str, Any]:
    """`block` plus `undefined_metrics` (after its metrics) when some metric is NaN, else `block` as is."""
    reasons = undefined_metrics(metrics)
    return {**block, "undefined_metrics": reasons} if reasons else block


def metrics_from_json(metrics: dict[str, Any]) -> dict[str, float]:
    """Metrics as read from a file: null (a NaN written as strict JSON) back to NaN; old files' NaN kept."""
    return {key: math.nan if value is None else float(value) for key, value in metrics.items()}


def task_entry_from_json(entry: dict[str, Any]) -> dict[str, Any]:
    """A run.json task entry (or result.json) with its metrics and history metrics as floats (NaN for null)."""
    out = dict(entry)
    if isinstance(out.get("metrics"), dict):
        out["metrics"] = metrics_from_json(out["metrics"])
    out["history"] = [{**h, "metrics": metrics_from_json(h["metrics"])} if isinstance(h.get("metrics"), dict)
                      else h for h in out.get("history") or []]
    return out


def record_from_json(record: dict[str, Any]) -> dict[str, Any]:
    """A run record as read from run.json, its task metrics as floats (`task_entry_from_json`)."""
    tasks = record.get("tasks")
    if not isinstance(tasks, dict):
        return record
    return {**record, "tasks": {name: task_entry_from_json(entry) for name, entry in tasks.items()}}


def write_metrics(path: Path, task: str, split: str, n: int, metrics: dict[str, float]) -> None:
    """Atomically write a task's `metrics.json` (same shape as `t5eval score` writes)."""
    atomic_write_json(path, with_undefined({"task": task, "split": split, "n": n, "metrics": metrics}, metrics))


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the settings that shape the results."""
    return sha256_json(settings)


def check_settings(run_dir: Path, settings: dict[str, Any]) -> bool:
    """Refuse a run dir that holds a run with other settings. Returns True when resuming one.

    Raises:
        T5evalError: `run_dir/settings.json` exists with a different fingerprint (names the first
            differing setting and suggests --overwrite).
    """
    path = run_dir / "settings.json"
    if not path.exists():
        return False
    saved = read_json_object(path, "delete it if this folder is a run or pre-training t5eval made, or choose another --out")
    if saved.get("fingerprint") == settings_fingerprint(settings):
        return True
    key, there, now = _first_difference(saved.get("settings", {}), settings)
    raise T5evalError(
        f"{run_dir} holds a run with different settings ({key}: {there!r} there, {now!r} now); "
        "pass --overwrite to replace it or choose another --out"
    )


def _first_difference(old: Any, new: Any, prefix: str = "") -> tuple[str, Any, Any]:
    """The first (dotted key, old value, new value) where two settings dicts differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{prefix}{key}.")
    return prefix.rstrip(".") or "settings", old, new


def write_settings(run_dir: Path, settings: dict[str, Any]) -> None:
    """Record the settings and their fingerprint (checked by `check_settings` on restart)."""
    atomic_write_json(
        run_dir / "settings.json", {"fingerprint": settings_fingerprint(settings), "settings": settings}
    )


def read_run(run_dir: Path) -> dict[str, Any]:
    """Read `run.json`, checking the schema version."""
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise T5evalError(f"{path} not found; pass a results/<run_id> folder written by `t5eval run`")
    record = read_json_object(path, "delete it and rerun the run's command: it is written again from the finished "
                                    "tasks' files")
    if record.get("schema") != SCHEMA_VERSION:
        raise T5evalError(f"{path}: schema {record.get('schema')!r}, this t5eval reads {SCHEMA_VERSION}")
    for task in record.get("tasks") or {}:
        check_task_key(task, path)  # it names the task's folder
    return record_from_json(record)


def write_run(run_dir: Path, record: dict[str, Any]) -> None:
    """Atomically write `run.json`."""
    atomic_write_json(Path(run_dir) / "run.json", record)
