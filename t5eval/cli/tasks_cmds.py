"""CLI commands of the tasks area: `tasks`, `export`, `score` (see t5eval/cli/__init__.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer


def _task_rows() -> list[dict[str, Any]]:
    from t5eval.tasks import TaskRegistry

    reg = TaskRegistry.default()
    return [{"task": s.name, "benchmark": s.benchmark, "aliases": list(s.aliases), "splits": s.split_names,
             "eval_split": s.splits.get("eval"), "metrics": list(s.metrics), "version": s.version}
            for s in (reg.get(n) for n in reg.names())]


def tasks(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List every task with its benchmark, splits and metrics."""
    rows = _task_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [["TASK", "BENCHMARK", "ALIASES (also accepted)", "SPLITS", "METRICS"]]
    table += [[r["task"], r["benchmark"], ",".join(r["aliases"]), ",".join(r["splits"]), ",".join(r["metrics"])]
              for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        typer.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip())


def export(
    task: str = typer.Argument(..., help="Task name or alias, e.g. glue_rte_v002 or rte."),
    split: str = typer.Option(None, "--split", help="Split name (default: the task's eval split)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Local data folder (else $T5EVAL_DATA_DIR, else hub)."),
    out: Path = typer.Option(..., "--out", help="Output JSONL file."),
    limit: int = typer.Option(None, "--limit", help="Only the first N examples."),
    protocol: str = typer.Option("current", "--protocol", help="current | paper (preprocessing variant)."),
) -> None:
    """Write one JSON line per example: task, split, index, inputs, targets and the fields T5 keeps."""
    from t5eval.io import atomic_write_jsonl
    from t5eval.results import check_out_path
    from t5eval.tasks import TaskRegistry, load_examples
    from t5eval.tasks.files import export_rows

    check_out_path(out)
    spec = TaskRegistry.default().get(task)
    split = split or spec.splits.get("eval") or spec.split_names[0]
    loaded = load_examples(spec, split, data_dir, limit=limit, protocol=protocol)
    atomic_write_jsonl(out, export_rows(spec, split, loaded.examples))
    typer.echo(f"{spec.name} {split}: {len(loaded.examples)} examples -> {out}")


def score(
    task: str = typer.Argument(..., help="Task name/alias, or a benchmark (glue, super_glue) with --predictions-dir."),
    predictions: Path = typer.Option(None, "--predictions", help="JSONL with index and prediction, or a run "
                                     "folder (its <task>/predictions.jsonl)."),
    predictions_dir: Path = typer.Option(None, "--predictions-dir", help="Folder of <task>.jsonl, or a run "
                                         "folder (benchmarks)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Local data folder (else $T5EVAL_DATA_DIR, else hub)."),
    split: str = typer.Option(None, "--split", help="Split name (default: the task's eval split)."),
    protocol: str = typer.Option("current", "--protocol", help="current | paper (metric variants)."),
    limit: int = typer.Option(None, "--limit", help="Only the first N examples (as `run --limit N`)."),
    out: Path = typer.Option(None, "--out", help="Also write the result JSON here."),
) -> None:
    """Score raw predictions with T5's postprocessing and metrics (×100); benchmarks also get the average."""
    from t5eval.errors import T5evalError
    from t5eval.io import atomic_write_text, json_text
    from t5eval.results import check_out_path
    from t5eval.tasks import TaskRegistry
    from t5eval.tasks.files import score_benchmark, score_task, task_predictions
    from t5eval.tasks.spec import check_protocol

    check_protocol(protocol)
    if out is not None:
        check_out_path(out)
    reg = TaskRegistry.default()
    run: Callable[[], dict[str, Any]]
    if task in reg.benchmarks and (predictions_dir is not None or task not in reg.aliases):
        if predictions_dir is None:
            raise T5evalError(f"scoring benchmark {task} needs --predictions-dir DIR holding <task>.jsonl files")
        run = lambda: score_benchmark(reg, task, predictions_dir, data_dir, protocol, split, limit)  # noqa: E731
    else:
        if predictions is None:
            raise T5evalError("give --predictions FILE.jsonl (or a benchmark name with --predictions-dir)")
        spec = reg.get(task)
        chosen = split or spec.splits.get("eval") or spec.split_names[0]
        path = task_predictions(predictions, spec.name)
        run = lambda: score_task(spec, chosen, path, data_dir, protocol, limit)  # noqa: E731
    result = run()
    text = json_text(result)
    typer.echo(text)
    if out is not None:
        atomic_write_text(out, text + "\n")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("tasks")(tasks)
    app.command("export")(export)
    app.command("score")(score)
