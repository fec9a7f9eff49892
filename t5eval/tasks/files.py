"""Library functions behind `t5eval export` and `t5eval score`: JSONL I/O, atomic writes, scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.results import with_undefined
from t5eval.tasks.data import Example, load_examples
from t5eval.tasks.readers import json_objects
from t5eval.tasks.registry import TaskRegistry
from t5eval.tasks.scoring import benchmark_average, compute_metrics, postprocess
from t5eval.tasks.spec import TaskSpec


def export_rows(spec: TaskSpec, split: str, examples: list[Example]) -> list[dict[str, Any]]:
    """Export lines: task, split, index, inputs, targets and the fields T5 keeps."""
    return [{"task": spec.name, "split": split, **ex.to_json()} for ex in examples]


def read_predictions(path: Path) -> dict[int, str]:
    """Predictions JSONL ({"index": int, "prediction": str} a line) -> {index: prediction}.

    Errors (one line each): missing file, malformed row (file + line), duplicate index, empty file.
    """
    if not path.is_file():
        raise T5evalError(f"predictions file {path} not found")
    out: dict[int, str] = {}
    for where, row in json_objects(path):
        if not isinstance(row.get("index"), int) or isinstance(row["index"], bool):
            raise T5evalError(f"{where}: expected an object with an integer 'index'")
        if not isinstance(row.get("prediction"), str):
            raise T5evalError(f"{where}: expected a string 'prediction'")
        if row["index"] in out:
            raise T5evalError(f"{where}: duplicate index {row['index']}; keep one prediction per example")
        out[row["index"]] = row["prediction"]
    if not out:
        raise T5evalError(f"predictions file {path} is empty; expected one JSON line per example")
    return out


def align(examples: list[Example], predictions: dict[int, str], path: Path) -> list[str]:
    """Predictions in example order; every example must have exactly one, and no extra indices."""
    known = {ex.index for ex in examples}
    missing = sorted(known - predictions.keys())
    extra = sorted(predictions.keys() - known)
    if missing:
        given = len(predictions)
        first_n = sorted(predictions) == list(range(given))
        hint = (f"they cover the first {given} examples only, as a `run --limit {given}` writes them: "
                f"pass --limit {given}" if first_n else
                "to score the first N examples only (as `run --limit N`), pass --limit N")
        raise T5evalError(f"{path}: no prediction for {len(missing)} of {len(examples)} examples "
                          f"(first missing index {missing[0]}); {hint}; `t5eval export` lists the indices")
    if extra:
        raise T5evalError(f"{path}: index {extra[0]} is not an example of this split "
                          f"({len(examples)} examples, indices 0..{len(examples) - 1})")
    return [predictions[ex.index] for ex in examples]


def score_task(spec: TaskSpec, split: str, predictions_path: Path, data_dir: str | Path | None,
               protocol: str = "current", limit: int | None = None) -> dict[str, Any]:
    """Score raw prediction texts against a split: {"task", "split", "n", "metrics", "protocol"}.

    `limit`: only the split's first N examples, the rule of `t5eval run --limit N` (so a limited run's
    predictions.jsonl rescores to its own metrics).
    """
    examples = load_examples(spec, split, data_dir, limit=limit, protocol=protocol).examples
    texts = align(examples, read_predictions(predictions_path), predictions_path)
    targets = [postprocess(spec, ex.targets, ex, is_target=True) for ex in examples]
    preds = [postprocess(spec, text, ex, is_target=False) for ex, text in zip(examples, texts, strict=True)]
    metrics = compute_metrics(spec, targets, preds, protocol)
    result = with_undefined({"task": spec.name, "split": split, "n": len(examples), "metrics": metrics,
                             "protocol": protocol}, metrics)
    return result if limit is None else {**result, "limit": limit}


def predictions_in(folder: Path, task: str) -> Path | None:
    """A task's predictions in a folder: `<task>.jsonl`, or a run folder's `<task>/predictions.jsonl`."""
    return next((p for p in (folder / f"{task}.jsonl", folder / task / "predictions.jsonl") if p.is_file()), None)


def task_predictions(predictions: Path, task: str) -> Path:
    """`score --predictions`: a JSONL file, or a folder (a run folder) holding the task's predictions."""
    if not predictions.is_dir():
        return predictions
    found = predictions_in(predictions, task)
    if found is None:
        raise T5evalError(f"--predictions {predictions} is a folder without {task}/predictions.jsonl or "
                          f"{task}.jsonl; pass a run folder that evaluated {task}, or the JSONL file")
    return found


def score_benchmark(reg: TaskRegistry, bench_name: str, predictions_dir: Path, data_dir: str | Path | None,
                    protocol: str = "current", split: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Score every member with DIR/<task>.jsonl (or a run folder's DIR/<task>/predictions.jsonl), then T5's
    benchmark average."""
    bench = reg.benchmark(bench_name)
    if not predictions_dir.is_dir():
        raise T5evalError(f"predictions dir {predictions_dir} not found")
    results = {}
    for name in bench.members:
        path = predictions_in(predictions_dir, name)
        if path is not None:
            results[name] = score_task(reg.get(name), split or bench.split, path, data_dir, protocol, limit)
    if not results:
        expected = ", ".join(f"{m}.jsonl" for m in bench.members)
        raise T5evalError(f"no predictions found in {predictions_dir}; expected files named {expected} "
                          "(or a run folder's <task>/predictions.jsonl)")
    avg = benchmark_average(bench, {t: r["metrics"] for t, r in results.items()})
    return {"benchmark": bench.name, "split": split or bench.split, "protocol": protocol, "tasks": results, **avg}
