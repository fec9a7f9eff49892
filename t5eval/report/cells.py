"""A run's report cells: each column's value with its 95% interval, and benchmark averages."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from t5eval.report.bootstrap import BootstrapResult, Interval, interval_of_average
from t5eval.report.loading import Run, TaskResult, canonical_task
from t5eval.report.paper import COLUMNS, Column, PaperTable, average_groups
from t5eval.results import is_subset


def metric_key(task: TaskResult, col: Column) -> str | None:
    """The column's metric key in a task result (first accepted key present), or None."""
    return next((k for k in col.keys if k in task.metrics), None)


@dataclass
class Cell:
    """A run's value in one column: value, interval, and the notes that qualify it."""

    value: float | None
    interval: Interval | None = None
    draws: np.ndarray | None = None
    split: str = "validation"
    note: str = ""  # e.g. "incomplete 5/8", "mixed splits"
    detail: str = ""  # what is missing, for the notes under the tables
    partial: bool = False


def _group_means(cells: dict[str, Cell], groups: list[list[str]]) -> tuple[list[float], list[str]]:
    present, missing = [], []
    for group in groups:
        values = [cells[c].value for c in group if c in cells]
        if len(values) == len(group) and all(v is not None for v in values):
            present.append(float(np.mean([v for v in values if v is not None])))
        else:
            missing.append("/".join(group))
    return present, missing


def average_cell(cells: dict[str, Cell], groups: list[list[str]]) -> Cell:
    """A benchmark average (spec §3) or, when any group is missing or splits differ, why there is none."""
    present, missing = _group_means(cells, groups)
    if missing:
        if not present:
            return Cell(None)
        return Cell(None, note=f"incomplete {len(present)}/{len(groups)}", detail=f"missing {', '.join(missing)}")
    splits = {cells[c].split for g in groups for c in g}
    if len(splits) > 1:
        return Cell(None, note="mixed splits", detail=f"splits {', '.join(sorted(splits))} are not averaged")
    value = float(np.mean(present))
    interval = None
    if all(cells[c].draws is not None for g in groups for c in g):
        interval = interval_of_average([[cells[c].draws for c in g] for g in groups])  # type: ignore[misc]
    return Cell(value, interval, split=splits.pop(), partial=any(cells[c].partial for g in groups for c in g))


def by_t5_name(run: Run) -> dict[str, TaskResult]:
    """The run's tasks under their T5 names (tasks the report has no column for are left out)."""
    named = {canonical_task(t.name): t for t in run.tasks.values()}
    return {name: task for name, task in named.items() if name}


def run_cells(run: Run, intervals: dict[str, BootstrapResult | str]) -> dict[str, Cell]:
    """Every column's cell for a run (averages by the validation rule: 8 GLUE groups, no WNLI)."""
    by_name = by_t5_name(run)
    limit = (run.record.get("settings") or {}).get("limit")
    cells: dict[str, Cell] = {}
    for col in COLUMNS.values():
        task = by_name.get(col.task or "")
        if task is None:
            continue
        key = metric_key(task, col)
        value = task.metrics[key] if key else None
        boot = intervals.get(task.name)
        interval = boot.intervals.get(key) if isinstance(boot, BootstrapResult) and key else None
        draws = boot.draws.get(key) if isinstance(boot, BootstrapResult) and key else None
        partial = is_subset(task.n, limit)
        cells[col.id] = Cell(value, interval, draws, task.split, partial=partial)
    for avg, groups in average_groups("validation").items():
        cell = average_cell(cells, groups)
        if cell.value is not None or cell.note:
            cells[avg] = cell
    return cells


def fmt(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def run_cell_text(cell: Cell | None, digits: int) -> str:
    """`value [low, high]` (+ split when not validation, `*` when on a subset), or why there is none."""
    if cell is None:
        return "—"
    if cell.value is None:
        return f"n/a ({cell.note})" if cell.note else "—"
    text = fmt(cell.value, digits)
    if cell.interval is not None:
        text += f" [{fmt(cell.interval.low, digits)}, {fmt(cell.interval.high, digits)}]"
    if cell.split != "validation":
        text += f" ({md_cell(cell.split)})"
    return text + ("*" if cell.partial else "")


_MD_TEXT = str.maketrans({"\\": "\\\\", "|": "\\|", "`": "\\`", "&": "&amp;", "<": "&lt;", ">": "&gt;"})


def md_cell(value: object, code: bool = False) -> str:
    """Run data (a run id, model source, path, task or metric name, a prediction) made safe for Markdown.

    Every table cell and line we render from a run's files goes through here, so a `|` cannot split a
    table, a backtick cannot end a code span, HTML is shown as text and a newline cannot end the line.
    Plain (`code=False`): newlines to spaces, `\\ | `` ` `` escaped, `& < >` as entities. `code=True`: a code
    span with a fence longer than any backtick run inside, `|` escaped (GitHub reads `\\|` as `|` in tables);
    HTML inside a code span is shown as text by Markdown itself.
    """
    text = " ".join(str(value).splitlines())
    if not code:
        return text.translate(_MD_TEXT)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def md_footnote_id(label: str) -> str:
    """A footnote id (`[^id]`) for a run label: characters other than letters, digits, `.`, `_`, `-` become `-`."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", label)


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


@dataclass
class ReportData:
    """Everything `render_markdown` needs."""

    runs: list[Run]
    cells: dict[str, dict[str, Cell]]  # run label -> column -> cell
    intervals: dict[str, dict[str, BootstrapResult | str]]
    paper: dict[str, PaperTable]
    plots: list[tuple[str, str]] = field(default_factory=list)  # (caption, relative path)


def paper_row_for(run: Run, table: PaperTable) -> str | None:
    """The Table 14 row matching the run's model size (v1.0 only: the paper has no v1.1 rows)."""
    variant = str((run.record.get("model") or {}).get("variant") or "v1.0")
    return run.size if run.size in table.rows and variant == "v1.0" else None
