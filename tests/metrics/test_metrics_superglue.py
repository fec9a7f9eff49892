"""MultiRC and ReCoRD, current T5 code vs the paper-era versions; expected values by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5eval.metrics import multirc_exact_match, multirc_f1, multirc_f1_paper, record, record_paper

# Four MultiRC questions (groups), values as T5's multirc postprocessor gives them.
# q0: targets 1 0 1, predictions 1 1 1 | q1: targets 0 0, predictions 0 -1
# q2: targets 1 0,   predictions 1 0   | q3: targets 0 0, predictions 0 0
_T = [(0, 1), (0, 0), (0, 1), (1, 0), (1, 0), (2, 1), (2, 0), (3, 0), (3, 0)]
_P = [1, 1, 1, 0, -1, 1, 0, 0, 0]
MULTIRC_TARGETS = [{"value": v, "group": g} for g, v in _T]
MULTIRC_PREDICTIONS = [{"value": v} for v in _P]


def test_multirc_f1a_pools_all_answer_options() -> None:
    # -1 in q1 (target 0) becomes 1: pooled predictions 1 1 1 0 1 1 0 0 0.
    # TP 3 (q0 twice, q2), FP 2 (q0 middle, q1 invalid), FN 0 -> P 3/5, R 1, F1 = 1.2/1.6 = 0.75.
    assert multirc_f1(MULTIRC_TARGETS, MULTIRC_PREDICTIONS) == {"f1": pytest.approx(75.0)}


def test_multirc_paper_f1_is_mean_per_question() -> None:
    # q0: TP2 FP1 -> P 2/3 R 1 -> F1 0.8; q1: no TP -> 0; q2: 1; q3: no positive target, all
    # predictions right, but still no TP -> 0. Mean (0.8 + 0 + 1 + 0)/4 = 0.45.
    assert multirc_f1_paper(MULTIRC_TARGETS, MULTIRC_PREDICTIONS) == {"f1": pytest.approx(45.0)}


def test_multirc_exact_match_per_question_group() -> None:
    # q0 wrong (middle), q1 wrong (-1), q2 right, q3 right -> 2/4.
    assert multirc_exact_match(MULTIRC_TARGETS, MULTIRC_PREDICTIONS) == {"exact_match": pytest.approx(50.0)}


def test_multirc_accepts_bare_predictions_and_json_groups() -> None:
    targets = [{"value": 1, "group": [7, 0]}, {"value": 0, "group": [7, 0]}]  # group as JSON list
    # one group, both right -> EM 100; F1a: TP1 -> 100.
    assert multirc_exact_match(targets, [1, 0]) == {"exact_match": 100.0}
    assert multirc_f1(targets, [1, 0]) == {"f1": 100.0}


def _record_case() -> tuple[list[dict], list[dict]]:
    # Query A (group [0, 0]) has 2 gold answers, so T5 repeats it twice; query B has 1.
    a = {"value": ["Obama", "Barack Obama"], "group": [0, 0]}
    b = {"value": ["Paris"], "group": [0, 1]}
    targets = [a, a, b]
    predictions = [{"value": "Barack Obama"}, {"value": "Trump"}, {"value": "Paris France"}]
    return targets, predictions


def test_record_counts_each_query_once() -> None:
    targets, predictions = _record_case()
    # Dedup keeps the first copy of A ("Barack Obama": EM 1, F1 1) and B ("paris france" vs
    # "paris": P 1/2, R 1 -> F1 2/3; EM 0). EM = 1/2, F1 = (1 + 2/3)/2 = 5/6.
    result = record(targets, predictions)
    assert result["em"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * 5 / 6)


def test_record_paper_counts_every_copy() -> None:
    targets, predictions = _record_case()
    # Copies: A1 EM1 F1 1; A2 "trump" EM0 F1 0; B EM0 F1 2/3 -> EM 1/3, F1 (1 + 0 + 2/3)/3 = 5/9.
    result = record_paper(targets, predictions)
    assert result["em"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * 5 / 9)
    # The paper-era target was the bare answer list (qa postprocessor): same scores.
    bare = record_paper([t["value"] for t in targets], [p["value"] for p in predictions])
    assert bare == pytest.approx(result)


def test_record_needs_a_group() -> None:
    with pytest.raises(ValueError, match="'group'"):
        record([{"value": ["x"]}], ["x"])


def test_record_accepts_answers_key_and_bare_predictions() -> None:
    # "paris" vs "paris": EM 1, F1 1.
    assert record([{"answers": ["Paris"], "group": [3, 4]}], ["Paris"]) == {"em": 100.0, "f1": 100.0}


def test_multirc_oracle_on_real_validation(data_dir: Path) -> None:
    # MultiRC val has 953 questions; 3 of them have no correct answer option (counted from the
    # labels). An oracle gets F1a 100 and EM 100, but paper-era F1 gives those 3 questions F1 0:
    # 100 * 950 / 953 = 99.685.
    targets = []
    for line in (data_dir / "superglue" / "MultiRC" / "val.jsonl").read_text().splitlines():
        for question in json.loads(line)["passage"]["questions"]:
            targets += [{"value": a["label"], "group": question["idx"]} for a in question["answers"]]
    oracle = [{"value": t["value"]} for t in targets]
    assert len(targets) == 4848
    assert multirc_f1(targets, oracle) == {"f1": 100.0}
    assert multirc_exact_match(targets, oracle) == {"exact_match": 100.0}
    assert multirc_f1_paper(targets, oracle)["f1"] == pytest.approx(100 * 950 / 953)
