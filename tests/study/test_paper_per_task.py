"""The paper's per-task scores (appendix Table 16, `per_task` in task_defs/paper_scores.yaml) for every row of
Tables 1, 2 and 4-13, checked with facts the transcription cannot fake:

- every row's GLUE per-task cells average to the GLUE average that its table prints (a different cell,
  transcribed from the table itself), by the spec's §3 rule (T5_TASKS.md: the mean of 8 group scores, MRPC
  F1/acc, STS-B Pearson/Spearman, QQP F1/acc and MNLI-m/mm each averaged within the task first, WNLI out), and
  the SuperGLUE cells to its SGLUE average likewise (CB F1/acc, MultiRC F1a/EM, ReCoRD F1/EM grouped);
- cells read off the appendix by hand (the JMLR LaTeX source, \\label{tab:giant});
- the rows the paper prints in two tables carry the same numbers in both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from t5eval.errors import T5evalError
from t5eval.report.paper import PAPER_SCORES, average_groups, load_paper_scores

TABLES = ("table1", "table2", "table4", "table5", "table6", "table7", "table8", "table9", "table10", "table11",
          "table12", "table13")
ASKED = ("sst2", "mrpc_f1", "mrpc_acc", "rte", "cola", "stsb_pearson", "stsb_spearman", "cb_f1", "cb_acc", "copa",
         "boolq", "wic")
STAR_ROWS = {"table2": "encoder_decoder", "table4": "baseline", "table5": "replace_corrupted_spans",
             "table6": "rate_15", "table7": "baseline_iid", "table8": "c4", "table9": "full_dataset",
             "table10": "all_parameters", "table11": "baseline", "table12": "baseline", "table13": "baseline"}
# Half a unit of the printed average plus half a unit of the printed per-task cells (their mean's rounding).
ROUNDING = 0.01


@pytest.fixture(scope="module")
def paper():
    return load_paper_scores()


def _average(cells: dict[str, float], groups: list[list[str]]) -> float:
    return sum(sum(cells[c] for c in group) / len(group) for group in groups) / len(groups)


def test_every_row_has_the_appendix_scores_of_26_columns(paper) -> None:
    for name in TABLES:
        table = paper[name]
        assert set(table.per_task) == set(table.rows), name
        assert "tab:giant" in (table.per_task_source or "") and table.per_task_confidence == "V", name
        for row, cells in table.per_task.items():
            assert len(cells) == 26 and set(ASKED) <= set(cells), (name, row)
            assert table.cell_confidence(row, "sst2") == "V"
    assert sum(len(paper[name].per_task) for name in TABLES) == 70  # 69 appendix rows + Table 4's borrowed baseline


def test_glue_and_superglue_averages_recompute_from_the_per_task_cells(paper) -> None:
    groups = average_groups("validation")
    checked = 0
    for name in TABLES:
        table = paper[name]
        for row, printed in table.rows.items():
            if row == "baseline_std":  # standard deviations do not average
                continue
            cells = table.per_task[row]
            for average, column_groups in groups.items():
                assert all(c in cells for group in column_groups for c in group), (name, row, average)
                got = _average(cells, column_groups)
                assert abs(got - printed[average]) <= ROUNDING, (name, row, average, got, printed[average])
                checked += 1
    assert checked == 2 * 69  # every row but the standard deviations, GLUE and SuperGLUE


def test_the_check_catches_a_single_misread_cell(paper) -> None:
    """A digit swap in one single-metric cell (SST-2 92.68 -> 92.86) moves the GLUE average by 0.18 / 8."""
    cells = dict(paper["table1"].per_task["baseline_average"], sst2=92.86)
    glue = average_groups("validation")["glue_avg"]
    assert abs(_average(cells, glue) - 83.28) > ROUNDING
    assert abs(_average(paper["table1"].per_task["baseline_average"], glue) - 83.28) <= ROUNDING


def test_hand_read_cells(paper) -> None:
    # Read by hand off appendix Table 16 in the paper's LaTeX source.
    cell = {name: paper[name].per_task for name in TABLES}
    assert cell["table1"]["baseline_average"]["sst2"] == 92.68
    baseline = cell["table1"]["baseline_average"]
    assert (baseline["mrpc_f1"], baseline["mrpc_acc"]) == (92.07, 88.92)
    assert cell["table1"]["baseline_std"]["rte"] == 1.393
    assert cell["table1"]["baseline_std"]["copa"] == 2.741
    assert cell["table1"]["no_pretraining"]["multirc_em"] == 0.84
    assert cell["table2"]["language_model"]["cola"] == 24.50
    deshuffling = cell["table4"]["deshuffling"]
    assert (deshuffling["stsb_pearson"], deshuffling["stsb_spearman"]) == (84.03, 83.82)
    assert cell["table5"]["mass_style"]["rte"] == 77.26
    assert (cell["table6"]["rate_50"]["mrpc_f1"], cell["table6"]["rate_50"]["mrpc_acc"]) == (91.11, 87.99)
    assert cell["table7"]["span_3"]["boolq"] == 76.85
    wiki_tbc = cell["table8"]["wikipedia_tbc"]
    assert (wiki_tbc["multirc_f1a"], wiki_tbc["multirc_em"]) == (51.59, 50.93)
    assert cell["table8"]["realnews_like"]["wic"] == 66.61
    assert cell["table9"]["tokens_2e23"]["sst2"] == 89.45
    assert (cell["table10"]["adapters_32"]["cb_f1"], cell["table10"]["adapters_32"]["cb_acc"]) == (50.87, 73.21)
    assert (cell["table11"]["temperature_4"]["cb_f1"], cell["table11"]["temperature_4"]["cb_acc"]) == (97.36, 96.43)
    assert cell["table11"]["proportional_2e18"]["wsc"] == 67.31
    assert cell["table12"]["multi_task_pretraining"]["sglue_rte"] == 81.23
    assert (cell["table13"]["size_4x_steps_1x"]["wic"], cell["table13"]["size_4x_steps_1x"]["wsc"]) == (70.22, 91.35)
    assert cell["table13"]["ensemble_4x_finetune_only"]["copa"] == 69.00


def test_glue_rte_and_superglue_rte_are_different_columns(paper) -> None:
    # The paper fine-tunes and scores RTE in both benchmarks: baseline 76.28 (GLUE) and 75.34 (SuperGLUE).
    baseline = paper["table1"].per_task["baseline_average"]
    assert (baseline["rte"], baseline["sglue_rte"]) == (76.28, 75.34)


def test_rows_printed_twice_carry_the_same_scores(paper) -> None:
    baseline = paper["table1"].per_task["baseline_average"]
    for name, row in STAR_ROWS.items():  # the ★ baseline, printed in every table (Table 4: borrowed)
        assert paper[name].per_task[row] == baseline, name
    assert paper["table4"].per_task["bert_style"] == paper["table5"].per_task["bert_style"]
    assert paper["table11"].per_task["proportional_2e19"] == paper["table12"].per_task["multi_task_training"]
    assert paper["table4"].per_task["deshuffling"] != baseline  # the comparison can fail


def test_cell_reads_the_table_then_the_appendix(paper) -> None:
    table = paper["table13"]
    assert table.cell("ensemble_4x", "enro") == 28.57  # Table 13's own cell (the appendix prints 28.09)
    assert table.cell("ensemble_4x", "wsc") == 72.12
    assert table.cell("ensemble_4x", "wnli") is None and table.cell("no_such_row", "sst2") is None


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = PAPER_SCORES.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "paper_scores.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("      baseline_std:      [1.111, ", "      baseline_std:      [",
     "table1.per_task.baseline_std: 25 values for the 26 columns of `appendix.columns`; give one per column"),
    ("      no_pretraining:    [12.29,", "      no_pretrainin:    [12.29,",
     "table1.per_task.no_pretrainin: not a row of the table (did you mean no_pretraining"),
    ("      no_pretraining:    [12.29,", "      no_pretraining:    [x12,",
     "table1.per_task.no_pretraining: cola: 'x12' is not a number"),
    ("  columns: [cola, sst2,", "  columns: [colaa, sst2,",
     "appendix.columns: unknown column 'colaa' (did you mean cola"),
    ("appendix:\n", "appendix_gone:\n", "table1.per_task: the file has no `appendix:` naming the per-task columns"),
])
def test_a_broken_per_task_row_is_one_error_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(T5evalError) as err:
        load_paper_scores(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)
