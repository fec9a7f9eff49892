"""Averaging rules (spec §3) for our runs, task-name resolution, and the ≈ delta marker."""

from __future__ import annotations

import numpy as np
import pytest

from t5eval.report.bootstrap import Interval
from t5eval.report.cells import Cell, average_cell
from t5eval.report.loading import canonical_task
from t5eval.report.paper import GLUE_GROUPS, SUPERGLUE_GROUPS, average_groups
from t5eval.report.render import _delta_cell


def _cells(values: dict[str, float], split: str = "validation") -> dict[str, Cell]:
    return {c: Cell(v, split=split) for c, v in values.items()}


GLUE_FULL = {"cola": 40.0, "sst2": 90.0, "mrpc_f1": 88.0, "mrpc_acc": 84.0, "stsb_pearson": 86.0,
             "stsb_spearman": 84.0, "qqp_f1": 70.0, "qqp_acc": 88.0, "mnli_m": 80.0, "mnli_mm": 82.0,
             "qnli": 90.0, "rte": 70.0, "wnli": 10.0}  # fmt: skip


def test_validation_glue_average_is_8_groups_without_wnli():
    # (40 + 90 + 86 + 85 + 79 + 81 + 90 + 70) / 8 = 621 / 8 = 77.625; WNLI's 10.0 must not count.
    cell = average_cell(_cells(GLUE_FULL), average_groups("validation")["glue_avg"])
    assert cell.value == pytest.approx(77.625)
    assert len(GLUE_GROUPS) == 8 and len(SUPERGLUE_GROUPS) == 8


def test_test_rule_adds_wnli_as_a_ninth_task():
    cell = average_cell(_cells(GLUE_FULL), average_groups("test")["glue_avg"])
    assert cell.value == pytest.approx((621 + 10) / 9)


def test_missing_group_is_incomplete_not_averaged():
    values = dict(GLUE_FULL)
    del values["mnli_mm"]  # half of the MNLI group missing -> the whole group is missing
    cell = average_cell(_cells(values), average_groups("validation")["glue_avg"])
    assert cell.value is None
    assert cell.note == "incomplete 7/8"
    assert cell.detail == "missing mnli_m/mnli_mm"


def test_unlike_splits_are_not_averaged():
    cells = _cells(GLUE_FULL)
    cells["rte"] = Cell(70.0, split="test")
    cell = average_cell(cells, average_groups("validation")["glue_avg"])
    assert cell.value is None and cell.note == "mixed splits"
    assert "test, validation" in cell.detail


def test_average_interval_from_draws():
    cells = {c: Cell(v, draws=np.full(50, v)) for c, v in GLUE_FULL.items()}
    cell = average_cell(cells, average_groups("validation")["glue_avg"])
    assert cell.interval is not None
    assert cell.interval.low == pytest.approx(77.625) and cell.interval.high == pytest.approx(77.625)


def test_delta_marks_paper_values_inside_our_interval():
    inside = Cell(80.0, interval=Interval(76.0, 84.0, 1000, "mean"))
    assert _delta_cell(inside, 77.4, 1) == "≈ +2.6"
    assert _delta_cell(inside, 85.0, 1) == "-5.0"
    assert _delta_cell(Cell(80.0), 77.4, 1) == "+2.6"  # no interval: plain delta
    assert _delta_cell(None, 77.4, 1) == "—"


@pytest.mark.parametrize(("name", "t5_name"), [
    ("glue_rte_v002", "glue_rte_v002"), ("rte", "glue_rte_v002"), ("glue_rte", "glue_rte_v002"),
    ("super_glue_rte", "super_glue_rte_v102"), ("super_glue_rte_v102", "super_glue_rte_v102"),
    ("mnli_mismatched", "glue_mnli_mismatched_v002"), ("cb", "super_glue_cb_v102"),
    ("squad", "squad_v010_allanswers"), ("wmt_t2t_ende_v003", "wmt_t2t_ende_v003"),
])  # fmt: skip
def test_task_names_map_to_t5_names(name, t5_name):
    assert canonical_task(name) == t5_name


def test_unknown_task_has_no_column():
    assert canonical_task("glue_ax_v002_unknown") is None
