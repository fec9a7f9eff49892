"""The report's family/transfer columns, BERT Table 1 and T5 Table 10 reference rows, and the reading
comprehension vs closed-book section, from fixture runs (tests/report/fixtures/results), against Markdown
written by hand.

Reference cells are read off the papers, not from paper_scores.yaml:
- BERT (Devlin et al. 2019) Table 1, GLUE test: BERT-Base MNLI 84.6/83.4, QQP 71.2, QNLI 90.5, SST-2 93.5,
  CoLA 52.1, STS-B 85.8, MRPC 88.9, RTE 66.4, Average 79.6; BERT-Large 86.7/85.9, 72.1, 92.7, 94.9, 60.5,
  86.5, 89.3, 70.1, Average 82.1.
- T5 (Raffel et al. 2020) Table 10, validation: All parameters 83.28 19.24 80.88 71.36 26.98 39.82 27.65;
  adapters d=32 80.52 15.08 79.32 60.40 13.84 17.88 15.54; d=128 81.51 16.62 79.47 63.03 19.83 27.50 22.63;
  d=512 81.54 17.78 79.18 64.30 23.45 33.98 25.81; d=2048 82.62 18.30 79.40 68.61 25.64 36.92 26.93 (the
  paper's appendix Table 16: Table 10 prints d=128's row again); gradual unfreezing 82.50 18.95 79.17 70.79
  26.71 39.02 26.93.

run_squad_rc_cb, worked by hand (SQuAD normalisation: lower-case, punctuation and articles removed):
with context: "Denver Broncos" EM 1 F1 1; "Santa Clara" vs "Santa Clara, California": EM 0, F1 2·1·(2/3)/(1+2/3)
= 0.8; "gold" 1/1; "Beyoncé" 1/1 -> EM 75.00, F1 95.00. Closed-book: "Denver Broncos" 1/1; "Levi's Stadium"
0/0; "silver" 0/0; "Beyonce" vs "Beyoncé" 0/0 (accents are kept) -> EM 25.00, F1 25.00. Δ +50.00 / +70.00.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from t5eval.report.build import build_report
from tests.conftest import REPO_ROOT

FIXTURES = Path("tests/report/fixtures/results")
RUNS = ["run_small_a", "run_bert_sst2_adapters", "run_t5head_sst2_gu", "run_squad_rc_cb"]

RUNS_TABLE = """\
| Run | family | transfer | trainable parameters | size | init |
|---|---|---|---|---|---|
| `run_small_a` | T5 text-to-text | all | — | small | pretrained |
| `run_bert_sst2_adapters` | BERT + head | adapters:32 | 1,219,586 | bert-base | pretrained |
| `run_t5head_sst2_gu` | T5 encoder + head | gradual-unfreezing | 3,416,066 → 35,332,354 | small | pretrained |
| `run_squad_rc_cb` | T5 text-to-text | all | — | small | pretrained |
"""

BERT_GLUE = """\
| Paper T5-Small (test) | 77.4 | 41.0 | 91.8 | 89.7 | 86.6 | 85.6 | 85.0 |
| BERT-Base, BERT paper Table 1 (test) | 79.6¶ | 52.1 | 93.5 | 88.9 | — | — | 85.8 |
| BERT-Large, BERT paper Table 1 (test) | 82.1¶ | 60.5 | 94.9 | 89.3 | — | — | 86.5 |
| `run_small_a` (validation) | 77.5 | 40.0 | 87.5 | 88.0 | 84.0 | 85.0 | 84.0 |
"""

BERT_GLUE_CONT = """\
| BERT-Base, BERT paper Table 1 (test) | 71.2 | — | 84.6 | 83.4 | 90.5 | 66.4 | — |
| BERT-Large, BERT paper Table 1 (test) | 72.1 | — | 86.7 | 85.9 | 92.7 | 70.1 | — |
"""

TABLE10 = """\
| Row | GLUE avg | CNN/DM R-2 | SQuAD EM | SGLUE avg | EnDe BLEU | EnFr BLEU | EnRo BLEU |
|---|---|---|---|---|---|---|---|
| Paper: All parameters ⋆ (validation) | 83.28 | 19.24 | 80.88 | 71.36 | 26.98 | 39.82 | 27.65 |
| Paper: Adapter layers, d = 32 (validation) | 80.52 | 15.08 | 79.32 | 60.40 | 13.84 | 17.88 | 15.54 |
| Paper: Adapter layers, d = 128 (validation) | 81.51 | 16.62 | 79.47 | 63.03 | 19.83 | 27.50 | 22.63 |
| Paper: Adapter layers, d = 512 (validation) | 81.54 | 17.78 | 79.18 | 64.30 | 23.45 | 33.98 | 25.81 |
| Paper: Adapter layers, d = 2048 (validation) | 82.62 | 18.30 | 79.40 | 68.61 | 25.64 | 36.92 | 26.93 |
| Paper: Gradual unfreezing (validation) | 82.50 | 18.95 | 79.17 | 70.79 | 26.71 | 39.02 | 26.93 |
| `run_small_a`: all, T5 text-to-text | 77.47 | 18.50 | 80.00 | n/a (incomplete 3/8) | 25.50 | — | — |
| `run_squad_rc_cb`: all, T5 text-to-text | — | — | 75.00 | — | — | — | — |
"""

BY_APPROACH = """\
| transfer | Run | family | trainable parameters | paper row | SST-2 acc |
|---|---|---|---|---|---|
| all | `run_small_a` | T5 text-to-text | — | All parameters ⋆ | 87.5 |
| adapters:32 | `run_bert_sst2_adapters` | BERT + head | 1,219,586 | Adapter layers, d = 32 | 87.5 |
| gradual-unfreezing | `run_t5head_sst2_gu` | T5 encoder + head | 3,416,066 → 35,332,354 | Gradual unfreezing | 62.5 |
"""

READING = """\
| Run | family | tasks | with context EM | with context F1 | closed-book EM | closed-book F1 | Δ EM | Δ F1 |
|---|---|---|---|---|---|---|---|---|
| `run_small_a` | T5 text-to-text | squad_v010_allanswers | 80.00 | 88.00 | — | — | — | — |
| `run_squad_rc_cb` | T5 text-to-text | squad_v010_allanswers, squad_v010_context_free | 75.00 | 95.00 | 25.00 | 25.00 | +50.00 | +70.00 |
"""


def _report(tmp_path: Path, runs: list[Path], n_boot: int = 0) -> str:
    return build_report(runs, tmp_path / "r.md", n_boot=n_boot, plots=False).read_text(encoding="utf-8")


@pytest.fixture()
def text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(REPO_ROOT)
    return _report(tmp_path, [FIXTURES / r for r in RUNS])


def test_runs_table_names_family_approach_and_trainable_parameters(text: str) -> None:
    assert RUNS_TABLE in text  # run_small_a predates --transfer: no transfer key reads as "all"


def test_bert_table1_rows_sit_in_the_glue_tables_when_a_head_run_is_shown(text: str) -> None:
    assert BERT_GLUE in text and BERT_GLUE_CONT in text
    assert "BERT paper" not in text.split("## SQuAD and SuperGLUE")[1].split("## Table 1 columns")[0]  # GLUE only
    assert "- ¶ BERT's Average (BERT paper Table 1) is the plain mean of its nine printed test numbers" in text


def test_table10_section_with_our_runs_grouped_by_approach(text: str) -> None:
    section = text.split("## Transfer approaches (paper Table 10)")[1].split("\n## ")[0]
    assert TABLE10 in section and BY_APPROACH in section


def test_reading_comprehension_vs_closed_book_rows(text: str) -> None:
    assert "## Reading comprehension vs closed-book" in text and READING in text


def test_no_reference_rows_without_head_runs_or_other_approaches(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    text = _report(tmp_path, [FIXTURES / "run_small_a", FIXTURES / "run_small_b"])
    assert "BERT paper Table 1" not in text and "## Transfer approaches" not in text and "¶" not in text


def test_difference_interval_and_stored_metrics_recompute(tmp_path: Path, monkeypatch) -> None:
    """Every answer right with its context and wrong without: each resample gives 100 and 0, so the
    intervals are [100, 100], [0, 0] and the difference's [+100, +100]. Also: the fixtures' stored metrics
    equal T5's metrics recomputed from their predictions (no "differs from the stored" note)."""
    monkeypatch.chdir(REPO_ROOT)
    run = tmp_path / "run_all_or_nothing"
    shutil.copytree(FIXTURES / "run_squad_rc_cb", run)
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    record["run_id"] = run.name
    for task, right in (("squad_v010_allanswers", True), ("squad_v010_context_free", False)):
        path = run / task / "predictions.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            row["prediction"] = row["prediction_value"] = row["target_value"][0] if right else "nothing like it"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        record["tasks"][task]["metrics"] = {"em": 100.0, "f1": 100.0} if right else {"em": 0.0, "f1": 0.0}
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    text = _report(tmp_path, [*(FIXTURES / r for r in RUNS[1:]), run], n_boot=50)
    section = text.split("## Reading comprehension vs closed-book")[1].split("\n## ")[0]
    row = next(x for x in section.splitlines() if x.startswith("| `run_all_or_nothing` |"))
    assert row.endswith("| 100.00 [100.00, 100.00] | 100.00 [100.00, 100.00] | 0.00 [0.00, 0.00] | "
                        "0.00 [0.00, 0.00] | +100.00 [+100.00, +100.00] | +100.00 [+100.00, +100.00] |")
    assert "differs from the stored" not in text


def test_a_run_that_trained_nothing_reads_as_not_fine_tuned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    run = tmp_path / "zero_shot"
    shutil.copytree(FIXTURES / "run_small_b", run)
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    record["run_id"], record["settings"]["finetune"] = run.name, {"enabled": False}
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    text = _report(tmp_path, [run])
    assert "| `zero_shot` | T5 text-to-text | none (not fine-tuned) | — | small | pretrained |" in text
    assert "## Transfer approaches" not in text
