"""Per-example differences between two runs (`t5eval diff`): which examples flipped, how metrics moved.

Examples are matched by their `index` (position in the data file). An example is *correct* when its
one-example score is full marks: accuracy / SQuAD EM / MultiRC all-match through the task's metric
function when the task registry is available, else equality of the postprocessed values (a target
list, as SQuAD's, accepts any of its answers). Regression targets (STS-B) have no correctness: only
changed predictions are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.report.bootstrap import MetricFn
from t5eval.report.cells import md_cell
from t5eval.report.loading import Run, task_metric_fn
from t5eval.results import read_predictions

_PER_EXAMPLE_KEYS = ("accuracy", "em", "exact_match")


@dataclass(frozen=True)
class ExampleChange:
    """One example whose prediction differs between run A and run B."""

    index: int
    target: str
    prediction_a: str
    prediction_b: str
    correct_a: bool | None
    correct_b: bool | None

    @property
    def kind(self) -> str:
        if self.correct_a is None or self.correct_b is None or self.correct_a == self.correct_b:
            return "changed"
        return "fixed" if self.correct_b else "broken"


@dataclass
class TaskDiff:
    """The differences of one task: metric movement and changed examples."""

    task: str
    n_common: int
    only_a: int
    only_b: int
    metrics_a: dict[str, float]
    metrics_b: dict[str, float]
    changes: list[ExampleChange] = field(default_factory=list)
    shared_only: bool = False  # the runs scored different example sets: metrics are over the shared ones

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.changes)


def _unwrap(value: Any) -> Any:
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def _equal_correct(target: Any, prediction: Any) -> bool | None:
    t, p = _unwrap(target), _unwrap(prediction)
    if isinstance(t, float):
        return None  # a regression target (STS-B): no right or wrong
    if isinstance(t, list) and not isinstance(p, list):
        return p in t
    return bool(t == p)


def _correct(target: Any, prediction: Any, metric_fn: MetricFn | None) -> bool | None:
    if metric_fn is not None:
        try:
            scores = metric_fn([target], [prediction])
        except (ValueError, ZeroDivisionError, IndexError):
            scores = {}
        key = next((k for k in _PER_EXAMPLE_KEYS if k in scores), None)
        if key is not None:
            return bool(scores[key] >= 100.0 - 1e-9)
    return _equal_correct(target, prediction)


def diff_task(run_a: Run, run_b: Run, task: str, metric_fn: MetricFn | None = None) -> TaskDiff:
    """Compare one task's predictions in two runs (matched by example index)."""
    for run in (run_a, run_b):
        if task not in run.tasks:
            both = [*run_a.tasks, *(t for t in run_b.tasks if t not in run_a.tasks)]
            hint = "" if task in both else did_you_mean(task, both)  # a typo; else the runs' tasks say it
            raise T5evalError(f"task {task!r} is not in run {run.run_id}{hint}; {_tasks_of(run_a, run_b)}")
    fn = metric_fn or task_metric_fn(task, run_a.protocol)
    rows_a = {r["index"]: r for r in read_predictions(run_a.tasks[task].predictions)}
    rows_b = {r["index"]: r for r in read_predictions(run_b.tasks[task].predictions)}
    common = sorted(set(rows_a) & set(rows_b))
    out = TaskDiff(task, len(common), len(set(rows_a) - set(rows_b)), len(set(rows_b) - set(rows_a)),
                   run_a.tasks[task].metrics, run_b.tasks[task].metrics)  # fmt: skip
    if (out.only_a or out.only_b) and common and fn is not None:  # e.g. a --limit run: compare like with like
        out.metrics_a, out.metrics_b = (_metrics_on(rows, common, fn) for rows in (rows_a, rows_b))
        out.shared_only = True
    for i in common:
        a, b = rows_a[i], rows_b[i]
        if a["prediction_value"] == b["prediction_value"] and a["prediction"] == b["prediction"]:
            continue
        out.changes.append(ExampleChange(
            i, str(a["target"]), str(a["prediction"]), str(b["prediction"]),
            _correct(a["target_value"], a["prediction_value"], fn),
            _correct(b["target_value"], b["prediction_value"], fn),
        ))  # fmt: skip
    return out


def _metrics_on(rows: dict[int, dict[str, Any]], indices: list[int], fn: MetricFn) -> dict[str, float]:
    """The task's metrics recomputed over the examples `indices` from stored target/prediction values."""
    return fn([rows[i]["target_value"] for i in indices], [rows[i]["prediction_value"] for i in indices])


def _subset_note(d: TaskDiff) -> str:
    """Says that the two runs scored different example sets, and what the metrics are computed over."""
    sizes = f"A scored {d.n_common + d.only_a} examples, B {d.n_common + d.only_b} (a --limit run scores the first N)"
    if d.shared_only:
        return f"The runs scored different example sets ({sizes}): the metrics below are recomputed on the " \
               f"{d.n_common} shared examples only."
    return f"The runs scored different example sets ({sizes}): the metrics below are each run's own, over " \
           "different examples, and are not comparable."


def _tasks_of(*runs: Run) -> str:
    """'run A has t1, t2; run B has t3': each run's scored tasks."""
    return "; ".join(f"run {run.run_id} has {', '.join(run.tasks) or 'no task'}" for run in runs)


def diff_runs(run_a: Run, run_b: Run, task: str | None = None) -> list[TaskDiff]:
    """Diffs of one task, or of every task both runs have predictions for."""
    if task is not None:
        return [diff_task(run_a, run_b, task)]
    common = [t for t in run_a.tasks if t in run_b.tasks and run_a.tasks[t].predictions.exists()
              and run_b.tasks[t].predictions.exists()]  # fmt: skip
    if not common:
        raise T5evalError(f"runs {run_a.run_id} and {run_b.run_id} share no task with predictions; "
                          f"{_tasks_of(run_a, run_b)}; diff compares a task both runs scored")
    return [diff_task(run_a, run_b, t) for t in common]


def _clip(text: str, width: int = 40) -> str:
    """A prediction or target cut to `width` characters, then escaped for a table cell (`md_cell`)."""
    text = " ".join(text.splitlines())
    return md_cell(text if len(text) <= width else text[: width - 1] + "…")


def render_diff(diffs: list[TaskDiff], label_a: str, label_b: str, show: int = 20) -> str:
    """Markdown: per task, metric movement, counts of fixed/broken/changed, and the first `show` changes."""
    out = [f"# Diff {md_cell(label_a, code=True)} → {md_cell(label_b, code=True)}", ""]
    for d in diffs:
        out += [f"## {md_cell(d.task)}", "",
                f"{d.n_common} examples in both runs; {d.only_a} only in A, {d.only_b} only in B. "
                f"Changed predictions: {len(d.changes)} (fixed {d.count('fixed')}, broken {d.count('broken')}, "
                f"other {d.count('changed')}).", ""]  # fmt: skip
        if d.only_a or d.only_b:
            out += [_subset_note(d), ""]
        out += ["| metric | A | B | B − A |", "|---|---|---|---|"]
        for key in sorted(set(d.metrics_a) | set(d.metrics_b)):
            a, b = d.metrics_a.get(key), d.metrics_b.get(key)
            delta = f"{b - a:+.4f}" if a is not None and b is not None else "—"
            out.append(f"| {md_cell(key)} | {'—' if a is None else f'{a:.4f}'} | {'—' if b is None else f'{b:.4f}'} | {delta} |")
        if d.changes:
            out += ["", "| index | change | target | A | B |", "|---|---|---|---|---|"]
            out += [f"| {c.index} | {c.kind} | {_clip(c.target)} | {_clip(c.prediction_a)} | {_clip(c.prediction_b)} |"
                    for c in d.changes[:show]]  # fmt: skip
            if len(d.changes) > show:
                out.append(f"\n… {len(d.changes) - show} more (raise --show)")
        out.append("")
    return "\n".join(out)
