"""The paper's reference numbers (task_defs/paper_scores.yaml) and the report's columns and averaging groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from t5eval.errors import T5evalError, did_you_mean
from t5eval.tasks.defs import builtin_task_defs

PAPER_SCORES = builtin_task_defs() / "paper_scores.yaml"


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


@dataclass(frozen=True)
class PaperTable:
    """One paper table: rows of column values, splits per benchmark, confidence and notes."""

    name: str
    title: str
    splits: dict[str, str]
    rows: dict[str, dict[str, float]]
    confidence: dict[str, str]  # "row.column" -> label; default under "*"
    notes: list[dict[str, str]]
    digits: int | None = None  # decimals as printed (None: the column's for Table 14, else 2)
    bold: dict[str, frozenset[str]] = field(default_factory=dict)  # column -> the rows the paper prints in bold
    per_task: dict[str, dict[str, float]] = field(default_factory=dict)  # row -> column -> the appendix's score
    per_task_source: str | None = None  # where `per_task` comes from (the paper's appendix Table 16)
    per_task_confidence: str | None = None  # the confidence label of every `per_task` cell

    def cell(self, row: str, col: str) -> float | None:
        """A row's value in a column: the table's own cell, else the appendix's per-task score (None: neither)."""
        value = self.rows.get(row, {}).get(col)
        return value if value is not None else self.per_task.get(row, {}).get(col)

    def cell_confidence(self, row: str, col: str) -> str:
        if col not in self.rows.get(row, {}) and col in self.per_task.get(row, {}) and self.per_task_confidence:
            return self.per_task_confidence
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
        per_task = _per_task_rows(path, name, t, data.get("appendix"))
        appendix = data["appendix"] if per_task else {}
        tables[name] = PaperTable(name, t["title"], t["splits"], rows, confidence, t.get("notes", []),
                                  t.get("digits"), _bold_cells(path, name, t), per_task,
                                  appendix.get("source"), appendix.get("confidence"))
    return tables


def _per_task_rows(path: Path, name: str, table: dict, appendix: dict | None) -> dict[str, dict[str, float]]:
    """A table's `per_task` rows (lists in `appendix.columns` order) as column -> value; a row the table
    lacks, a list of the wrong length or a non-number is a one-line error naming it."""
    if not table.get("per_task"):
        return {}
    if appendix is None:
        raise T5evalError(f"{path}: {name}.per_task: the file has no `appendix:` naming the per-task columns; add it")
    columns = appendix["columns"]
    for col in columns:
        if col not in COLUMNS:
            raise T5evalError(f"{path}: appendix.columns: unknown column {col!r}{did_you_mean(col, COLUMNS)}")
    out = {}
    for row, values in table["per_task"].items():
        where = f"{path}: {name}.per_task.{row}"
        if row not in table["rows"]:
            raise T5evalError(f"{where}: not a row of the table{did_you_mean(str(row), table['rows'])}")
        if not isinstance(values, list) or len(values) != len(columns):
            raise T5evalError(f"{where}: {len(values) if isinstance(values, list) else 'no'} values for the "
                              f"{len(columns)} columns of `appendix.columns`; give one per column, in its order")
        for col, value in zip(columns, values, strict=True):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise T5evalError(f"{where}: {col}: {value!r} is not a number")
        out[str(row)] = {col: float(v) for col, v in zip(columns, values, strict=True)}
    return out


def _bold_cells(path: Path, name: str, table: dict) -> dict[str, frozenset[str]]:
    """A table's `bold` (column -> rows); a column or row the table lacks is a one-line error naming it."""
    bold = {}
    for col, rows in (table.get("bold") or {}).items():
        if col not in table["columns"]:
            raise T5evalError(f"{path}: {name}.bold: {col!r} is not a column of the table"
                              f"{did_you_mean(col, table['columns'])}")
        for row in rows:
            if row not in table["rows"]:
                raise T5evalError(f"{path}: {name}.bold.{col}: {row!r} is not a row of the table"
                                  f"{did_you_mean(row, table['rows'])}")
        bold[col] = frozenset(rows)
    return bold
