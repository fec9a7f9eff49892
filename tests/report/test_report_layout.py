"""The report's layout from the fixed results fixture, against tables written and checked by hand.

Fixture runs (tests/report/fixtures/results): run_small_a (T5-Small, 15 tasks, validation) and
run_small_b (SST-2 and RTE only). Expected numbers computed by hand:
- run_small_a GLUE avg (8 groups, no WNLI): (40 + 87.5 + (88+84)/2 + (85+84)/2 + (70+88.5)/2
  + (82+83)/2 + 90 + 70) / 8 = 619.75 / 8 = 77.46875 -> 77.5; vs Table 14 Small 77.4 -> +0.1.
- run_small_a SuperGLUE: BoolQ, CB, MultiRC only -> incomplete 3/8, not averaged.
- run_small_b GLUE: SST-2 and RTE only -> incomplete 2/8.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from t5eval.report.build import build_report
from tests.conftest import REPO_ROOT

FIXTURES = Path("tests/report/fixtures/results")

GLUE_TABLE = """\
## GLUE

| Model | GLUE avg | CoLA MCC | SST-2 acc | MRPC F1 | MRPC acc | STS-B P | STS-B S |
|---|---|---|---|---|---|---|---|
| Paper T5-Small (test) | 77.4 | 41.0 | 91.8 | 89.7 | 86.6 | 85.6 | 85.0 |
| `run_small_a` (validation) | 77.5 | 40.0 | 87.5 | 88.0 | 84.0 | 85.0 | 84.0 |
| Δ `run_small_a` − paper | +0.1 | -1.0 | -4.3 | -1.7 | -2.6 | -0.6 | -1.0 |
| `run_small_b` (validation) | n/a (incomplete 2/8) | — | 75.0 | — | — | — | — |
| Δ `run_small_b` − paper | — | — | -16.8 | — | — | — | — |
"""

SQUAD_SGLUE_TABLE = """\
## SQuAD and SuperGLUE

| Model | SQuAD EM | SQuAD F1 | SGLUE avg | BoolQ acc | CB F1 | CB acc | COPA acc |
|---|---|---|---|---|---|---|---|
| Paper T5-Small (squad: validation; superglue: test) | 79.10 | 87.24 | 63.3 | 76.4 | 56.9 | 81.6 | 46.0 |
| `run_small_a` (validation) | 80.00 | 88.00 | n/a (incomplete 3/8) | 76.0 | 60.0 | 80.0 | — |
| Δ `run_small_a` − paper | +0.90 | +0.76 | — | -0.4 | +3.1 | -1.6 | — |
"""

WMT_CNN_TABLE = """\
| Model | EnDe BLEU | EnFr BLEU | EnRo BLEU | CNN/DM R-1 | CNN/DM R-2 | CNN/DM R-L(sum) |
|---|---|---|---|---|---|---|
| Paper T5-Small (test) | 26.7 | 36.0 | 26.8 | 41.12 | 19.56 | 38.35‡ |
| `run_small_a` (validation) | 25.5 | — | — | 40.00 | 18.50 | 37.00 |
| Δ `run_small_a` − paper | -1.2 | — | — | -1.12 | -1.06 | -1.35 |
"""

TABLE1_ROWS = """\
| Paper baseline, mean ± std of 10 runs | 83.28 ± 0.235 | 19.24 ± 0.065 | 80.88 ± 0.343 | 71.36 ± 0.416 | 26.98 ± 0.112 | 39.82 ± 0.090 | 27.65 ± 0.108 |
| Paper, no pre-training | 66.22 | 17.60 | 50.31 | 53.04 | 25.86 | 39.77 | 24.04 |
| `run_small_a` | 77.47 | 18.50 | 80.00 | n/a (incomplete 3/8) | 25.50 | — | — |
| Δ `run_small_a` − baseline | -5.81 | -0.74 | -0.88 | — | -1.48 | — | — |
"""


@pytest.fixture()
def report_text(tmp_path, monkeypatch) -> str:
    monkeypatch.chdir(REPO_ROOT)
    out = build_report([FIXTURES / "run_small_a", FIXTURES / "run_small_b"], tmp_path / "r.md",
                       n_boot=0, plots=False)
    return out.read_text(encoding="utf-8")


def test_tables_match_hand_checked_markdown(report_text):
    assert GLUE_TABLE in report_text
    assert SQUAD_SGLUE_TABLE in report_text
    assert WMT_CNN_TABLE in report_text
    assert TABLE1_ROWS in report_text


def test_sections_in_table14_order(report_text):
    titles = [line for line in report_text.splitlines() if line.startswith("## ")]
    assert titles[:7] == ["## Runs", "## GLUE", "## GLUE (cont.)", "## SQuAD and SuperGLUE", "## SuperGLUE (cont.)",
                          "## Translation and summarization",
                          "## Table 1 columns (validation; the paper's baseline is a T5-Base-size model)"]


def test_incomplete_averages_are_explained_and_notes_filtered(report_text):
    assert ("- `run_small_b` GLUE avg: not computed, incomplete 2/8 (missing cola, mrpc_f1/mrpc_acc, "
            "stsb_pearson/stsb_spearman, qqp_f1/qqp_acc, mnli_m/mnli_mm, qnli).") in report_text
    assert "‡ The paper heads this column \"ROUGE-L\"" in report_text
    assert "89.25" not in report_text  # the 11B note only when the 11B row is shown


def test_footnotes_carry_each_runs_settings(report_text):
    line = next(x for x in report_text.splitlines() if x.startswith("[^run_small_a]:"))
    for part in ("model t5-small (size small, v1.0", "fine-tune steps 0", "protocol current", "seed 0",
                 "beam 4, α 0.6, max 128 (cnn_dailymail_v002, wmt_t2t_ende_v003)", "Table 14 row small"):
        assert part in line


def test_intervals_plots_and_approx_marker(tmp_path, monkeypatch):
    from t5eval.metrics import accuracy
    from t5eval.report import loading as bootstrap

    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(bootstrap, "task_metric_fn", lambda name, protocol: accuracy)
    out = build_report([FIXTURES / "run_small_a"], tmp_path / "r.md", n_boot=300, plots=True)
    text = out.read_text(encoding="utf-8")
    row = next(x for x in text.splitlines() if x.startswith("| `run_small_a` (validation) | 77.5"))
    low, high = map(float, row.split("|")[4].strip().removeprefix("87.5 [").removesuffix("]").split(", "))
    assert 50.0 <= low < 87.5 and high == 100.0  # 7 of 8 right: the resamples reach 100 but not 87.5's floor
    delta = next(x for x in text.splitlines() if x.startswith("| Δ `run_small_a` − paper | +0.1"))
    assert "≈ -4.3" in delta  # paper 91.8 lies inside the SST-2 interval
    for png in ("r_scores.png", "r_history.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in text
