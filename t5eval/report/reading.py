"""Reading comprehension vs closed-book: SQuAD with its context (`squad_v010_allanswers`) beside the question
alone (`squad_v010_context_free`) for each run, EM and F1 with 95% intervals and the difference.

The columns are `zero_shot.COLUMNS`' shared SQuAD and closed-book columns (a T5 task or its GPT-2 prompt
version, first found), so decoder-only runs line up too. The difference's interval is the percentile
interval of (draw with context − draw without) over the two tasks' bootstrap draws; the tasks are
resampled independently (their own seeds), so it is wider than a paired interval would be.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from t5eval.report.bootstrap import BootstrapResult
from t5eval.report.cells import Cell, ReportData, md_cell, md_table, run_cell_text
from t5eval.report.loading import Run, TaskResult
from t5eval.report.runs import family
from t5eval.report.zero_shot import COLUMNS as SHARED
from t5eval.report.zero_shot import SharedColumn
from t5eval.results import is_subset

_SHARED = {c.label: c for c in SHARED}
WITH_CONTEXT = {"EM": _SHARED["SQuAD EM"], "F1": _SHARED["SQuAD F1"]}
CLOSED_BOOK = {"EM": _SHARED["closed-book EM"], "F1": replace(_SHARED["closed-book EM"], label="closed-book F1",
                                                               metric="f1")}


def _task(run: Run, column: SharedColumn) -> TaskResult | None:
    return next((run.tasks[n] for n in column.tasks if n in run.tasks and column.metric in run.tasks[n].metrics),
                None)


def _cell(run: Run, data: ReportData, column: SharedColumn) -> Cell | None:
    task = _task(run, column)
    if task is None:
        return None
    boot = data.intervals[run.label].get(task.name)
    interval = boot.intervals.get(column.metric) if isinstance(boot, BootstrapResult) else None
    draws = boot.draws.get(column.metric) if isinstance(boot, BootstrapResult) else None
    limit = (run.record.get("settings") or {}).get("limit")
    return Cell(task.metrics[column.metric], interval, draws, task.split, partial=is_subset(task.n, limit))


def _difference(rc: Cell | None, cb: Cell | None) -> str:
    """RC − closed-book, with the interval of the draws' differences when both tasks have draws."""
    if rc is None or cb is None or rc.value is None or cb.value is None:
        return "—"
    text = f"{rc.value - cb.value:+.2f}"
    if rc.draws is not None and cb.draws is not None and len(rc.draws) == len(cb.draws):
        low, high = np.nanpercentile(rc.draws - cb.draws, [2.5, 97.5])
        text += f" [{float(low):+.2f}, {float(high):+.2f}]"
    return text


def render_reading_vs_closed_book(data: ReportData) -> list[str]:
    """The section, or nothing when no run has SQuAD with or without its context."""
    rows = []
    for run in data.runs:
        rc = {k: _cell(run, data, c) for k, c in WITH_CONTEXT.items()}
        cb = {k: _cell(run, data, c) for k, c in CLOSED_BOOK.items()}
        if not any((*rc.values(), *cb.values())):
            continue
        names = [t.name for t in (_task(run, WITH_CONTEXT["EM"]), _task(run, CLOSED_BOOK["EM"])) if t is not None]
        rows.append([md_cell(run.label, code=True), md_cell(family(run)), md_cell(", ".join(names))]
                    + [run_cell_text(rc[k], 2) for k in ("EM", "F1")] + [run_cell_text(cb[k], 2) for k in ("EM", "F1")]
                    + [_difference(rc[k], cb[k]) for k in ("EM", "F1")])
    if not rows:
        return []
    return ["## Reading comprehension vs closed-book", "",
            "SQuAD v1.1 with its context paragraph (`squad_v010_allanswers`, or GPT-2's `gpt2_squad_rc`) and the "
            "question alone (`squad_v010_context_free`, or `gpt2_squad_closed_book`), same questions and "
            "answers, T5's SQuAD EM/F1; `value [95% interval]`; Δ = with context − closed-book, its interval from "
            "the two tasks' independent resamples. `*`: scored on a subset (--limit).", "",
            *md_table(["Run", "family", "tasks", "with context EM", "with context F1", "closed-book EM",
                       "closed-book F1", "Δ EM", "Δ F1"], rows), ""]

