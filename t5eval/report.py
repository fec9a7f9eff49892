"""Paper-style reports: our runs beside the T5 paper's Table 14 / Table 1, with intervals and deltas.

Layout (`SECTIONS`) follows Table 14: GLUE (two halves), SQuAD + SuperGLUE, SuperGLUE (cont.),
translation and summarization. A column is a (task, metric) pair, named by the T5 task (spec §1–6)
so any task alias or registry name maps onto it. Averages follow spec §3 and are never taken
silently over fewer tasks or over unlike splits. `build_report` writes the Markdown (+ PNG plots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from t5eval.bootstrap import (
    BootstrapResult,
    Interval,
    Run,
    TaskResult,
    canonical_task,
    interval_of_average,
    load_run,
    task_intervals,
)
from t5eval.errors import T5evalError, did_you_mean

PAPER_SCORES = Path(__file__).resolve().parents[1] / "task_defs" / "paper_scores.yaml"


@dataclass(frozen=True)
class Column:
    """One report column: a metric of a T5 task (`task` None for a benchmark average)."""

    id: str
    label: str
    task: str | None
    keys: tuple[str, ...]  # accepted metric keys, first found wins
    benchmark: str
    digits: int = 1


_ACC = ("accuracy",)
COLUMNS: dict[str, Column] = {c.id: c for c in (
    Column("glue_avg", "GLUE avg", None, (), "glue"),
    Column("cola", "CoLA MCC", "glue_cola_v002", ("matthews_corrcoef",), "glue"),
    Column("sst2", "SST-2 acc", "glue_sst2_v002", _ACC, "glue"),
    Column("mrpc_f1", "MRPC F1", "glue_mrpc_v002", ("f1",), "glue"),
    Column("mrpc_acc", "MRPC acc", "glue_mrpc_v002", _ACC, "glue"),
    Column("stsb_pearson", "STS-B P", "glue_stsb_v002", ("pearson_corrcoef", "pearson"), "glue"),
    Column("stsb_spearman", "STS-B S", "glue_stsb_v002", ("spearman_corrcoef", "spearman"), "glue"),
    Column("qqp_f1", "QQP F1", "glue_qqp_v002", ("f1",), "glue"),
    Column("qqp_acc", "QQP acc", "glue_qqp_v002", _ACC, "glue"),
    Column("mnli_m", "MNLI-m", "glue_mnli_matched_v002", _ACC, "glue"),
    Column("mnli_mm", "MNLI-mm", "glue_mnli_mismatched_v002", _ACC, "glue"),
    Column("qnli", "QNLI", "glue_qnli_v002", _ACC, "glue"),
    Column("rte", "RTE", "glue_rte_v002", _ACC, "glue"),
    Column("wnli", "WNLI", "glue_wnli_v002_simple_eval", _ACC, "glue"),
    Column("squad_em", "SQuAD EM", "squad_v010_allanswers", ("em", "exact_match"), "squad", 2),
    Column("squad_f1", "SQuAD F1", "squad_v010_allanswers", ("f1",), "squad", 2),
    Column("superglue_avg", "SGLUE avg", None, (), "superglue"),
    Column("boolq", "BoolQ acc", "super_glue_boolq_v102", _ACC, "superglue"),
    Column("cb_f1", "CB F1", "super_glue_cb_v102", ("mean_3class_f1",), "superglue"),
    Column("cb_acc", "CB acc", "super_glue_cb_v102", _ACC, "superglue"),
    Column("copa", "COPA acc", "super_glue_copa_v102", _ACC, "superglue"),
    Column("multirc_f1a", "MultiRC F1a", "super_glue_multirc_v102", ("f1",), "superglue"),
    Column("multirc_em", "MultiRC EM", "super_glue_multirc_v102", ("exact_match", "em"), "superglue"),
    Column("record_f1", "ReCoRD F1", "super_glue_record_v102", ("f1",), "superglue"),
    Column("record_em", "ReCoRD EM", "super_glue_record_v102", ("em", "exact_match"), "superglue"),
    Column("sglue_rte", "RTE acc", "super_glue_rte_v102", _ACC, "superglue"),
    Column("wic", "WiC acc", "super_glue_wic_v102", _ACC, "superglue"),
    Column("wsc", "WSC acc", "super_glue_wsc_v102_simple_eval", _ACC, "superglue"),
    Column("ende", "EnDe BLEU", "wmt_t2t_ende_v003", ("bleu",), "wmt"),
    Column("enfr", "EnFr BLEU", "wmt15_enfr_v003", ("bleu",), "wmt"),
    Column("enro", "EnRo BLEU", "wmt16_enro_v003", ("bleu",), "wmt"),
    Column("cnndm_r1", "CNN/DM R-1", "cnn_dailymail_v002", ("rouge1",), "cnn_dailymail", 2),
    Column("cnndm_r2", "CNN/DM R-2", "cnn_dailymail_v002", ("rouge2",), "cnn_dailymail", 2),
    Column("cnndm_rl", "CNN/DM R-L(sum)", "cnn_dailymail_v002", ("rougeLsum", "rougeL"), "cnn_dailymail", 2),
)}  # fmt: skip

SECTIONS: list[tuple[str, list[str]]] = [
    ("GLUE", ["glue_avg", "cola", "sst2", "mrpc_f1", "mrpc_acc", "stsb_pearson", "stsb_spearman"]),
    ("GLUE (cont.)", ["qqp_f1", "qqp_acc", "mnli_m", "mnli_mm", "qnli", "rte", "wnli"]),
    ("SQuAD and SuperGLUE", ["squad_em", "squad_f1", "superglue_avg", "boolq", "cb_f1", "cb_acc", "copa"]),
    ("SuperGLUE (cont.)", ["multirc_f1a", "multirc_em", "record_f1", "record_em", "sglue_rte", "wic", "wsc"]),
    ("Translation and summarization", ["ende", "enfr", "enro", "cnndm_r1", "cnndm_r2", "cnndm_rl"]),
]

# Averaging groups (spec §3): a group score is the mean of its metrics; the average is the mean of groups.
GLUE_GROUPS = [["cola"], ["sst2"], ["mrpc_f1", "mrpc_acc"], ["stsb_pearson", "stsb_spearman"],
               ["qqp_f1", "qqp_acc"], ["mnli_m", "mnli_mm"], ["qnli"], ["rte"]]  # fmt: skip
SUPERGLUE_GROUPS = [["boolq"], ["cb_f1", "cb_acc"], ["copa"], ["multirc_f1a", "multirc_em"],
                    ["record_f1", "record_em"], ["sglue_rte"], ["wic"], ["wsc"]]  # fmt: skip


def average_groups(rule: str) -> dict[str, list[list[str]]]:
    """Groups of each average: validation excludes WNLI (`compute_avg_glue`); Table 14 (test) adds it."""
    glue = GLUE_GROUPS + ([["wnli"]] if rule == "test" else [])
    return {"glue_avg": glue, "superglue_avg": SUPERGLUE_GROUPS}


# ---------------------------------------------------------------- paper reference numbers


@dataclass(frozen=True)
class PaperTable:
    """One paper table: rows of column values, splits per benchmark, confidence and notes."""

    name: str
    title: str
    splits: dict[str, str]
    rows: dict[str, dict[str, float]]
    confidence: dict[str, str]  # "row.column" -> label; default under "*"
    notes: list[dict[str, str]]

    def cell_confidence(self, row: str, col: str) -> str:
        return self.confidence.get(f"{row}.{col}", self.confidence["*"])

    def marks(self, row: str, col: str) -> str:
        """Footnote marks of a cell (notes with cell `row.col` or `*.col`)."""
        return "".join(n["mark"] for n in self.notes if n["cell"] in (f"{row}.{col}", f"*.{col}"))


def load_paper_scores(path: Path = PAPER_SCORES) -> dict[str, PaperTable]:
    """Read `paper_scores.yaml`; an unknown column or a non-number is a one-line error naming it."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise T5evalError(f"{path}: cannot read paper scores ({err}); fix or restore the file") from err
    tables = {}
    for name, t in data["tables"].items():
        for row, values in t["rows"].items():
            for col, value in values.items():
                if col not in COLUMNS or col not in t["columns"]:
                    raise T5evalError(f"{path}: {name}.{row}: unknown column {col!r}{did_you_mean(col, COLUMNS)}")
                if not isinstance(value, int | float):
                    raise T5evalError(f"{path}: {name}.{row}.{col}: {value!r} is not a number")
        confidence = {"*": t["confidence"], **t.get("cell_confidence", {})}
        rows = {str(r): {c: float(v) for c, v in vals.items()} for r, vals in t["rows"].items()}
        tables[name] = PaperTable(name, t["title"], t["splits"], rows, confidence, t.get("notes", []))
    return tables


# ---------------------------------------------------------------- cells and averages


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


def paper_average(row: dict[str, float], rule: str) -> dict[str, float]:
    """Recompute a paper row's averages from its per-task cells (spec §3; used to check the yaml)."""
    out = {}
    for avg, groups in average_groups(rule).items():
        if all(c in row for g in groups for c in g):
            out[avg] = float(np.mean([np.mean([row[c] for c in g]) for g in groups]))
    return out


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
        partial = limit is not None and task.n == int(limit)  # --limit cut the split (a smaller split is whole)
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


@dataclass
class ReportData:
    """Everything `render_markdown` needs."""

    runs: list[Run]
    cells: dict[str, dict[str, Cell]]  # run label -> column -> cell
    intervals: dict[str, dict[str, BootstrapResult | str]]
    paper: dict[str, PaperTable]
    plots: list[tuple[str, str]] = field(default_factory=list)  # (caption, relative path)


# ---------------------------------------------------------------- Markdown


def _split_label(table: PaperTable, cols: list[str]) -> str:
    splits = {b: table.splits[b] for b in dict.fromkeys(COLUMNS[c].benchmark for c in cols)}
    if len(set(splits.values())) == 1:
        return next(iter(splits.values()))
    return "; ".join(f"{b}: {s}" for b, s in splits.items())


def _paper_cell(table: PaperTable, row: str, col: str, extra: str = "") -> str:
    value = table.rows[row].get(col)
    if value is None:
        return "—"
    text = f"{value:.{COLUMNS[col].digits if table.name == 'table14' else 2}f}{extra}{table.marks(row, col)}"
    return text + (" (unconfirmed)" if table.cell_confidence(row, col) == "R" else "")


def _run_cell(cell: Cell | None, digits: int) -> str:
    if cell is None:
        return "—"
    if cell.value is None:
        return f"n/a ({cell.note})" if cell.note else "—"
    text = fmt(cell.value, digits)
    if cell.interval is not None:
        text += f" [{fmt(cell.interval.low, digits)}, {fmt(cell.interval.high, digits)}]"
    if cell.split != "validation":
        text += f" ({cell.split})"
    return text + ("*" if cell.partial else "")


def _delta_cell(cell: Cell | None, ref: float | None, digits: int) -> str:
    """Ours − paper; "≈" when the paper value lies inside our 95% interval."""
    if cell is None or cell.value is None or ref is None:
        return "—"
    delta = f"{cell.value - ref:+.{digits}f}"
    return f"≈ {delta}" if cell.interval is not None and cell.interval.contains(ref) else delta


def paper_row_for(run: Run, table: PaperTable) -> str | None:
    """The Table 14 row matching the run's model size (v1.0 only: the paper has no v1.1 rows)."""
    variant = str((run.record.get("model") or {}).get("variant") or "v1.0")
    return run.size if run.size in table.rows and variant == "v1.0" else None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render_section(data: ReportData, title: str, cols: list[str]) -> list[str]:
    """One Table-14 block: paper rows for the runs' sizes, each run (value [95% CI]) and its deltas."""
    t14 = data.paper["table14"]
    sizes = list(dict.fromkeys(s for r in data.runs if (s := paper_row_for(r, t14))))
    rows = [[f"Paper T5-{s.upper() if s[0].isdigit() else s.title()} ({_split_label(t14, cols)})"]
            + [_paper_cell(t14, s, c) for c in cols] for s in sizes]  # fmt: skip
    for run in data.runs:
        cells = data.cells[run.label]
        if not any(c in cells for c in cols):
            continue
        rows.append([f"`{run.label}` (validation)"] + [_run_cell(cells.get(c), COLUMNS[c].digits) for c in cols])
        size = paper_row_for(run, t14)
        if size:
            ref = t14.rows[size]
            rows.append([f"Δ `{run.label}` − paper"]
                        + [_delta_cell(cells.get(c), ref.get(c), COLUMNS[c].digits) for c in cols])  # fmt: skip
    if not rows:
        return [f"## {title}", "", "_No run has these tasks, and no Table 14 row matches the runs' sizes._", ""]
    return [f"## {title}", "", *_table(["Model", *[COLUMNS[c].label for c in cols]], rows), ""]


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
        rows.append([f"`{run.label}`"] + [_run_cell(cells.get(c), 2) for c in cols])
        rows.append([f"Δ `{run.label}` − baseline"]
                    + [_delta_cell(cells.get(c), t1.rows["baseline_average"][c], 2) for c in cols])  # fmt: skip
    title = "## Table 1 columns (validation; the paper's baseline is a T5-Base-size model)"
    return [title, "", *_table(["Row", *[COLUMNS[c].label for c in cols]], rows), ""]


def run_footnote(run: Run, intervals: dict[str, BootstrapResult | str], t14: PaperTable) -> str:
    """One line of settings per run: model, steps, decoding, protocol, seed, limit, provenance."""
    ref = paper_row_for(run, t14) or f"none (size {run.size}; the paper has v1.0 small … 11b)"
    parts = [*run.describe(), f"Table 14 row {ref}"]
    reasons: dict[str, list[str]] = {}
    for task, why in intervals.items():
        if isinstance(why, str):
            reasons.setdefault(why, []).append(task)
    parts += [f"no interval ({why}) for {', '.join(tasks)}" for why, tasks in reasons.items()]
    return f"[^{run.label}]: `{run.label}`: " + "; ".join(parts) + "."


def _notes(data: ReportData, body: str) -> list[str]:
    """Averages left out, stored-vs-recomputed mismatches, and the paper notes whose mark is in `body`."""
    lines = []
    for run in data.runs:
        for cid, cell in data.cells[run.label].items():
            if cell.value is None and cell.note:
                lines.append(f"- `{run.label}` {COLUMNS[cid].label}: not computed, {cell.note} ({cell.detail}).")
        for name, boot in data.intervals[run.label].items():
            if isinstance(boot, BootstrapResult):
                stored = run.tasks[name].metrics
                bad = [k for k, v in boot.point.items() if k in stored and abs(stored[k] - v) > 1e-6]
                lines += [f"- `{run.label}` {name}: recomputed {k} = {boot.point[k]:.4f} differs from the "
                          f"stored {stored[k]:.4f}." for k in bad]  # fmt: skip
    for table in data.paper.values():
        lines += [f"- {n['mark']} {n['text']}" for n in table.notes if n["mark"] in body]
    return lines


def render_markdown(data: ReportData) -> str:
    """The whole report: legend, Table-14 blocks, Table-1 block, notes, plots, run footnotes."""
    refs = ", ".join(f"`{r.label}`[^{r.label}]" for r in data.runs)
    out = [
        "# T5 evaluation report", "", f"Runs: {refs}.", "",
        "Ours: validation split unless marked \"(test)\"; `value [low, high]` is the 95% bootstrap interval "
        "(examples, or question groups for MultiRC EM / ReCoRD, resampled with a fixed seed). "
        "Paper rows: Table 14 (test sets, SQuAD validation; averages over 9 GLUE tasks incl. WNLI), so deltas "
        "compare unlike splits. `≈`: the paper value lies inside our interval. `*`: scored on a subset "
        "(--limit). Our averages follow the validation rule (spec §3: 8 GLUE groups without WNLI; 8 SuperGLUE "
        "groups) and are left out, with the reason, when a group or a split is missing.", "",
    ]  # fmt: skip
    for title, cols in SECTIONS:
        out += render_section(data, title, cols)
    out += render_table1(data)
    notes = _notes(data, "\n".join(out))
    if notes:
        out += ["## Notes", "", *notes, ""]
    if data.plots:
        out += ["## Plots", ""] + [f"![{cap}]({rel})" for cap, rel in data.plots] + [""]
    out += [run_footnote(r, data.intervals[r.label], data.paper["table14"]) for r in data.runs]
    return "\n".join(out) + "\n"


def build_report(
    run_paths: list[Path], out: Path, *, n_boot: int = 1000, seed: int = 0, plots: bool = True,
    paper_path: Path = PAPER_SCORES,
) -> Path:  # fmt: skip
    """Load runs, bootstrap every task, render Markdown (+ PNGs beside it); returns the Markdown path."""
    from t5eval.io import atomic_write_text
    from t5eval.report_plots import write_plots

    runs = [load_run(p) for p in run_paths]
    seen: dict[str, int] = {}
    for run in runs:  # unique labels for runs that share a run_id
        seen[run.label] = seen.get(run.label, 0) + 1
        run.label += f"-{seen[run.label]}" if seen[run.label] > 1 else ""
    intervals = {r.label: {t.name: task_intervals(r, t, n_boot=n_boot, seed=seed) for t in r.tasks.values()}
                 for r in runs}  # fmt: skip
    cells = {r.label: run_cells(r, intervals[r.label]) for r in runs}
    data = ReportData(runs, cells, intervals, load_paper_scores(paper_path))
    out.parent.mkdir(parents=True, exist_ok=True)
    if plots:
        data.plots = write_plots(data, out)
    atomic_write_text(out, render_markdown(data))
    return out
