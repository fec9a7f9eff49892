"""BERT's Table 1 and the T5 paper's Table 10 in paper_scores.yaml: hand-checked cells and internal checks."""

from __future__ import annotations

import pytest

from t5eval.report.paper import load_paper_scores


@pytest.fixture(scope="module")
def paper():
    return load_paper_scores()


def test_bert_table1_cells_and_its_average_rule(paper) -> None:
    rows = paper["bert_table1"].rows
    # Read off BERT Table 1 by hand: BASE 84.6/83.4 71.2 90.5 93.5 52.1 85.8 88.9 66.4 avg 79.6;
    # LARGE 86.7/85.9 72.1 92.7 94.9 60.5 86.5 89.3 70.1 avg 82.1.
    assert rows["bert_base"]["cola"] == 52.1 and rows["bert_base"]["rte"] == 66.4
    assert rows["bert_large"]["mnli_mm"] == 85.9 and rows["bert_large"]["qqp_f1"] == 72.1
    for row in rows.values():  # BERT's Average = the plain mean of the nine printed task numbers
        tasks = [v for k, v in row.items() if k != "glue_avg"]
        assert len(tasks) == 9
        assert round(sum(tasks) / 9, 1) == row["glue_avg"]


def test_t5_table10_cells_and_its_baseline_row_is_table1s(paper) -> None:
    rows = paper["table10"].rows
    assert rows["adapters_32"]["superglue_avg"] == 60.40 and rows["adapters_512"]["enfr"] == 33.98
    assert rows["gradual_unfreezing"]["glue_avg"] == 82.50 and rows["gradual_unfreezing"]["enro"] == 26.93
    assert rows["all_parameters"] == paper["table1"].rows["baseline_average"]  # the paper's ⋆ baseline
    # d = 2048: the appendix Table 16 row (Table 10 prints d = 128's row again; noted in the yaml)
    assert rows["adapters_2048"]["glue_avg"] == 82.62 and rows["adapters_2048"]["ende"] == 25.64
    assert set(rows) == {"all_parameters", "adapters_32", "adapters_128", "adapters_512", "adapters_2048",
                         "gradual_unfreezing"}
