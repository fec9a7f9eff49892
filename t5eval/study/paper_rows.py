"""The study report's section "The paper's rows": the paper's numbers for the study's levels, in our columns
where the paper gives a per-task score (its appendix Table 16, `per_task` in task_defs/paper_scores.yaml)
beside the table's own aggregate columns, and how far our ordering of the levels agrees with the paper's.

Our score of a task is the mean of its metrics (stats.task_score: MRPC F1 and accuracy, CB F1 and accuracy,
...), so the paper's comparable score is the mean of the paper's columns of the same metrics
(`task_paper_columns`). The concordance is counted per task and for the mean over those tasks; only when none
of our tasks has a paper column does it fall back to our average against the study's `paper_column` (an
aggregate such as the GLUE average)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from t5eval.report.paper import COLUMNS, PaperTable, load_paper_scores
from t5eval.study.results import fmt_score
from t5eval.study.stats import concordance, mean_std

if TYPE_CHECKING:
    from collections.abc import Iterable

    from t5eval.report.loading import Run
    from t5eval.study.results import StudyResults


@dataclass(frozen=True)
class TaskMatch:
    """One of our tasks and the paper columns of its metrics (their mean is the paper's task score)."""

    task: str  # run.json task name, e.g. glue_mrpc_v002
    metrics: tuple[str, ...]  # our metric keys, in run.json order
    columns: tuple[str, ...]  # the paper column of each metric, e.g. (mrpc_acc, mrpc_f1)

    @property
    def label(self) -> str:
        """The report's column label of the task (as in our scores table)."""
        return f"{self.task} ({'/'.join(self.metrics)})"


def task_metrics(runs: Iterable[Run], task: str) -> tuple[str, ...]:
    """The metric keys of a task, from the first run that scored it (empty when none did)."""
    return next((tuple(run.tasks[task].metrics) for run in runs if task in run.tasks), ())


def task_paper_columns(task: str, metrics: Iterable[str]) -> tuple[str, ...]:
    """The paper column (`report.paper.COLUMNS` id) of each metric of a run task, in the metrics' order;
    empty when a metric has none (the paper then has no score comparable with ours)."""
    columns = []
    for metric in metrics:
        found = [c.id for c in COLUMNS.values() if c.task == task and metric in c.keys]
        if not found:
            return ()
        columns.append(found[0])
    return tuple(columns)


def task_matches(res: StudyResults, table: PaperTable) -> list[TaskMatch]:
    """Our tasks whose every metric has a column in the paper table (its rows or per-task rows)."""
    held = {c for rows in (table.rows, table.per_task) for values in rows.values() for c in values}
    matches = []
    for task in res.tasks:
        metrics = task_metrics(res.runs.values(), task)
        columns = task_paper_columns(task, metrics)
        if columns and set(columns) <= held:
            matches.append(TaskMatch(task, metrics, columns))
    return matches


def _mean_or_none(values: list[float | None]) -> float | None:
    """The mean of the values; None when there are none or one is missing."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present and len(present) == len(values) else None


def paper_task_score(table: PaperTable, row: str, columns: Iterable[str]) -> float | None:
    """The paper's score of a task in a row: the mean of its metrics' cells (None when one is missing)."""
    return _mean_or_none([table.cell(row, c) for c in columns])


def paper_average(table: PaperTable, row: str, matches: list[TaskMatch]) -> float | None:
    """The mean of the paper's task scores over the matched tasks (None when one is missing)."""
    return _mean_or_none([paper_task_score(table, row, m.columns) for m in matches])


def _task_cell(table: PaperTable, row: str, match: TaskMatch) -> str:
    """The paper's task score; for a task of several metrics, its printed cells after it, in our order."""
    score = paper_task_score(table, row, match.columns)
    if score is None or len(match.columns) == 1:
        return fmt_score(score)
    return f"{fmt_score(score)} ({'/'.join(fmt_score(table.cell(row, c)) for c in match.columns)})"


def _aggregate_cell(table: PaperTable, row: str, column: str) -> str:
    """A cell of the table as printed: bold where the paper prints it bold; — where the row has none."""
    text = fmt_score(table.rows[row].get(column))
    return f"**{text}**" if row in table.bold.get(column, ()) else text


def paper_section(res: StudyResults) -> list[str]:
    """The section's lines: the paper's rows of the study's levels, notes, and the concordance lines."""
    table_name = res.study.paper_table
    tables = load_paper_scores()
    if table_name is None or table_name not in tables:
        return [f"The paper's rows for this table are not transcribed in `task_defs/paper_scores.yaml` "
                f"({table_name or 'no table named'}): no paper rows and no concordance."]
    table = tables[table_name]
    matches = task_matches(res, table)
    aggregates = [c for c in COLUMNS if any(c in row for row in table.rows.values())]
    mean_label = "average" if len(matches) == len(res.tasks) else f"mean of {', '.join(m.task for m in matches)}"
    header = ["level (paper)", *[m.label for m in matches], *([mean_label] if matches else []),
              *[COLUMNS[c].label for c in aggregates], "confidence"]
    lines = [f"{table.title} (validation sets, the paper's T5-Base at 2^19 + 2^18 steps):", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for level in res.levels:
        row = res.study.levels[level].paper_row or ""
        if row not in table.rows:
            continue
        shown = [c for m in matches for c in m.columns] + [c for c in aggregates if c in table.rows[row]]
        marks = {table.cell_confidence(row, c) for c in shown if table.cell(row, c) is not None}
        task_cells = [_task_cell(table, row, m) for m in matches]
        average = [fmt_score(paper_average(table, row, matches))] if matches else []
        cells = [res.study.levels[level].label, *task_cells, *average,
                 *[_aggregate_cell(table, row, c) for c in aggregates], "/".join(sorted(marks))]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, "", *_reading_note(matches), "", *concordance_lines(res, table, matches)]


def _reading_note(matches: list[TaskMatch]) -> list[str]:
    """What the section's columns are and where they come from."""
    if matches:
        tasks = "; ".join(f"{m.task}: {' and '.join(COLUMNS[c].label for c in m.columns)}" for m in matches)
        first = (f"Our tasks' columns: the paper's per-task scores of the same metrics ({tasks}), from its "
                 "appendix Table 16 (every task of every experiment), averaged within a task as ours are (the "
                 "printed cells in brackets, in our metrics' order); average: their mean, as our average (a task "
                 "of ours without a paper score is left out of it, and the column names the tasks it averages). "
                 "The appendix prints no bold. ")
    else:
        first = "None of our tasks has a per-task score in the paper's table: only its aggregate columns are shown. "
    return [first + "The other columns are the table's own (GLUE and SuperGLUE averages, CNN/DM ROUGE-2, SQuAD "
            "EM, BLEU), bold as the paper prints it (its rule, over all of the paper's rows, not only those "
            "shown). Confidence: V = confirmed from the paper's text; R = not confirmed against the paper "
            "(source in `task_defs/paper_scores.yaml`)."]


def _our_mean(res: StudyResults, level: str, tasks: list[str]) -> float | None:
    """Our mean over seeds of the mean of these tasks' scores (None when the level has no finished seed)."""
    if not all(res.scores[level][t] for t in tasks):
        return None
    return float(np.mean([mean_std(res.scores[level][t])[0] for t in tasks]))


def concordance_lines(res: StudyResults, table: PaperTable, matches: list[TaskMatch]) -> list[str]:
    """How far our ordering of the levels agrees with the paper's: per matched task and for their mean;
    without a match, our average against the study's `paper_column`."""
    rows = {lv: res.study.levels[lv].paper_row or "" for lv in res.levels}
    rows = {lv: row for lv, row in rows.items() if row in table.rows}

    def ours(tasks: list[str]) -> dict[str, float]:
        means = {lv: _our_mean(res, lv, tasks) for lv in res.levels}
        return {lv: m for lv, m in means.items() if m is not None}

    if not matches:
        column = res.study.paper_column
        paper = {lv: v for lv, row in rows.items() if (v := table.rows[row].get(column)) is not None}
        label = COLUMNS[column].label if column in COLUMNS else column
        return [concordance(ours(res.tasks), paper).text(f"our average vs the paper's {label}; none of our tasks "
                                                         "has a per-task score in the paper's table")]
    lines = []
    for m in matches:
        paper = {lv: s for lv, row in rows.items() if (s := paper_task_score(table, row, m.columns)) is not None}
        named = " and ".join(COLUMNS[c].label for c in m.columns)
        named = f"mean of {named}" if len(m.columns) > 1 else named
        lines.append("- " + concordance(ours([m.task]), paper).text(f"{m.task} vs the paper's {named}"))
    if len(matches) > 1:
        tasks = [m.task for m in matches]
        paper = {lv: s for lv, row in rows.items() if (s := paper_average(table, row, matches)) is not None}
        which = "our average" if len(tasks) == len(res.tasks) else f"our mean of {', '.join(tasks)}"
        lines.append("- " + concordance(ours(tasks), paper).text(f"{which} vs the paper's mean of the same "
                                                                 "per-task scores"))
    return lines
