"""The results schema (docs/ARCHITECTURE.md, "Results schema"): write and read the files of a run folder.

Layout of `results/<run_id>/`:
- `run.json`: the run record (model, vocab, settings, env, per-task results, benchmark averages);
- `settings.json`: the fingerprint of the settings that shape the results (a restart must match it);
- `<task>/predictions.jsonl`: index, inputs, target, prediction, target_value, prediction_value;
- `<task>/metrics.json`: `{"task", "split", "n", "metrics"}`;
- `<task>/result.json`: the task's entry of `run.json`, written when the task finishes (resume marker).
Everything is written atomically (`t5eval.io`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json, atomic_write_jsonl
from t5eval.trust import check_task_key, read_json_object, read_jsonl_objects

SCHEMA_VERSION = 1


PREDICTION_FIELDS = ("index", "inputs", "target", "prediction", "target_value", "prediction_value")


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
