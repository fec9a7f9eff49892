"""Markdown rendering of a report: sections beside the paper's tables, notes, footnotes."""

from __future__ import annotations

from t5eval.report.bootstrap import BootstrapResult
from t5eval.report.cells import (
    Cell,
    ReportData,
    md_cell,
    md_footnote_id,
    md_table,
    paper_row_for,
    run_cell_text,
)
from t5eval.report.loading import Run
from t5eval.report.paper import COLUMNS, SECTIONS, PaperTable
from t5eval.report.reading import render_reading_vs_closed_book
from t5eval.report.runs import is_head_run, render_runs, render_transfer
from t5eval.report.zero_shot import render_zero_shot


def _split_label(table: PaperTable, cols: list[str]) -> str:
    splits = {b: table.splits[b] for b in dict.fromkeys(COLUMNS[c].benchmark for c in cols)}
    if len(set(splits.values())) == 1:
        return next(iter(splits.values()))
    return "; ".join(f"{b}: {s}" for b, s in splits.items())


def _paper_cell(table: PaperTable, row: str, col: str, extra: str = "") -> str:
    value = table.rows[row].get(col)
    if value is None:
        return "—"
    digits = table.digits if table.digits is not None else COLUMNS[col].digits if table.name == "table14" else 2
    text = f"{value:.{digits}f}{extra}{table.marks(row, col)}"
    return text + (" (unconfirmed)" if table.cell_confidence(row, col) == "R" else "")


def _delta_cell(cell: Cell | None, ref: float | None, digits: int) -> str:
    """Ours − paper; "≈" when the paper value lies inside our 95% interval."""
    if cell is None or cell.value is None or ref is None:
        return "—"
    delta = f"{cell.value - ref:+.{digits}f}"
    return f"≈ {delta}" if cell.interval is not None and cell.interval.contains(ref) else delta


def render_section(data: ReportData, title: str, cols: list[str]) -> list[str]:
    """One Table-14 block: paper rows for the runs' sizes, each run (value [95% CI]) and its deltas."""
    t14 = data.paper["table14"]
    sizes = list(dict.fromkeys(s for r in data.runs if (s := paper_row_for(r, t14))))
    rows = [[f"Paper T5-{s.upper() if s[0].isdigit() else s.title()} ({_split_label(t14, cols)})"]
            + [_paper_cell(t14, s, c) for c in cols] for s in sizes]  # fmt: skip
    bert = data.paper.get("bert_table1")
    if bert is not None and any(is_head_run(r) for r in data.runs) and {COLUMNS[c].benchmark for c in cols} == {"glue"}:
        rows += [[f"BERT-{row.split('_')[1].title()}, BERT paper Table 1 ({_split_label(bert, cols)})"]
                 + [_paper_cell(bert, row, c) for c in cols] for row in bert.rows]
    for run in data.runs:
        cells = data.cells[run.label]
        if not any(c in cells for c in cols):
            continue
        rows.append([f"{md_cell(run.label, code=True)} (validation)"] + [run_cell_text(cells.get(c), COLUMNS[c].digits) for c in cols])
        size = paper_row_for(run, t14)
        if size:
            ref = t14.rows[size]
            rows.append([f"Δ {md_cell(run.label, code=True)} − paper"]
                        + [_delta_cell(cells.get(c), ref.get(c), COLUMNS[c].digits) for c in cols])  # fmt: skip
    if not rows:
        return [f"## {title}", "", "_No run has these tasks, and no Table 14 row matches the runs' sizes._", ""]
    return [f"## {title}", "", *md_table(["Model", *[COLUMNS[c].label for c in cols]], rows), ""]


def render_table1(data: ReportData) -> list[str]:
    """Table 1 (validation): the baseline mean ± std of 10 runs and no pre-training, beside each run."""
    t1 = data.paper["table1"]
    cols = [c for c in t1.rows["baseline_average"]]
    std = t1.rows["baseline_std"]
    rows = [["Paper baseline, mean ± std of 10 runs"]
            + [_paper_cell(t1, "baseline_average", c, f" ± {std[c]:.3f}") for c in cols],
            ["Paper, no pre-training"] + [_paper_cell(t1, "no_pretraining", c) for c in cols]]  # fmt: skip
    for run in data.runs:
        cells = data.cells[run.label]
        if not any(c in cells for c in cols):
            continue
        rows.append([md_cell(run.label, code=True)] + [run_cell_text(cells.get(c), 2) for c in cols])
        rows.append([f"Δ {md_cell(run.label, code=True)} − baseline"]
                    + [_delta_cell(cells.get(c), t1.rows["baseline_average"][c], 2) for c in cols])  # fmt: skip
    title = "## Table 1 columns (validation; the paper's baseline is a T5-Base-size model)"
    return [title, "", *md_table(["Row", *[COLUMNS[c].label for c in cols]], rows), ""]


def run_footnote(run: Run, intervals: dict[str, BootstrapResult | str], t14: PaperTable) -> str:
    """One line of settings per run: model, steps, decoding, protocol, seed, limit, provenance."""
    ref = paper_row_for(run, t14) or f"none (size {run.size}; the paper has v1.0 small … 11b)"
    path = f"path `{run.path}`"  # the one part `describe` puts in a code span
    parts = [f"path {md_cell(run.path, code=True)}" if part == path else md_cell(part) for part in run.describe()]
    parts.append(md_cell(f"Table 14 row {ref}"))
    reasons: dict[str, list[str]] = {}
    for task, why in intervals.items():
        if isinstance(why, str):
            reasons.setdefault(why, []).append(task)
    parts += [md_cell(f"no interval ({why}) for {', '.join(tasks)}") for why, tasks in reasons.items()]
    return f"[^{md_footnote_id(run.label)}]: {md_cell(run.label, code=True)}: " + "; ".join(parts) + "."


def _notes(data: ReportData, body: str) -> list[str]:
    """Averages left out, stored-vs-recomputed mismatches, and the paper notes whose mark is in `body`."""
    lines = []
    for run in data.runs:
        for cid, cell in data.cells[run.label].items():
            if cell.value is None and cell.note:
                lines.append(f"- {md_cell(run.label, code=True)} {COLUMNS[cid].label}: not computed, {md_cell(cell.note)} "
                             f"({md_cell(cell.detail)}).")
        for name, boot in data.intervals[run.label].items():
            if isinstance(boot, BootstrapResult):
                stored = run.tasks[name].metrics
                bad = [k for k, v in boot.point.items() if k in stored and abs(stored[k] - v) > 1e-6]
                lines += [f"- {md_cell(run.label, code=True)} {md_cell(name)}: recomputed {k} = {boot.point[k]:.4f} differs from the "
                          f"stored {stored[k]:.4f}." for k in bad]  # fmt: skip
    for table in data.paper.values():
        lines += [f"- {n['mark']} {n['text']}" for n in table.notes if n["mark"] in body]
    return lines


def render_markdown(data: ReportData) -> str:
    """The whole report: legend, Table-14 blocks, Table-1 block, notes, plots, run footnotes."""
    refs = ", ".join(f"{md_cell(r.label, code=True)}[^{md_footnote_id(r.label)}]" for r in data.runs)
    out = [
        "# T5 evaluation report", "", f"Runs: {refs}.", "",
        "Ours: validation split unless marked \"(test)\"; `value [low, high]` is the 95% bootstrap interval "
        "(examples, or question groups for MultiRC EM / ReCoRD, resampled with a fixed seed). "
        "Paper rows: Table 14 (test sets, SQuAD validation; averages over 9 GLUE tasks incl. WNLI), so deltas "
        "compare unlike splits. `≈`: the paper value lies inside our interval. `*`: scored on a subset "
        "(--limit). Our averages follow the validation rule (spec §3: 8 GLUE groups without WNLI; 8 SuperGLUE "
        "groups) and are left out, with the reason, when a group or a split is missing.", "",
    ]  # fmt: skip
    out += render_runs(data)
    for title, cols in SECTIONS:
        out += render_section(data, title, cols)
    out += render_table1(data)
    out += render_transfer(data)
    out += render_reading_vs_closed_book(data)
    out += render_zero_shot(data.runs)
    notes = _notes(data, "\n".join(out))
    if notes:
        out += ["## Notes", "", *notes, ""]
    if data.plots:
        out += ["## Plots", ""] + [f"![{cap}]({rel})" for cap, rel in data.plots] + [""]
    out += [run_footnote(r, data.intervals[r.label], data.paper["table14"]) for r in data.runs]
    return "\n".join(out) + "\n"
