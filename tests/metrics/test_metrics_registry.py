"""The name -> function table the task definitions dispatch through."""

from __future__ import annotations

import json

import pytest

from t5eval.metrics import METRICS, metric_settings

EXPECTED_KEYS = {
    "accuracy": {"accuracy"},
    "matthews_corrcoef": {"matthews_corrcoef"},
    "f1_score_with_invalid": {"f1"},
    "pearson_corrcoef": {"pearson_corrcoef"},
    "spearman_corrcoef": {"spearman_corrcoef"},
    "mean_3class_f1": {"mean_3class_f1"},
    "multirc_f1": {"f1"},
    "multirc_exact_match": {"exact_match"},
    "multirc_f1_paper": {"f1"},
    "squad": {"em", "f1"},
    "record": {"em", "f1"},
    "record_paper": {"em", "f1"},
    "rouge": {"rouge1", "rouge2", "rougeLsum", "rouge1_mean", "rouge2_mean", "rougeLsum_mean"},
    "bleu": {"bleu"},
}

_MRC_T = [{"value": 1, "group": 0}, {"value": 0, "group": 0}]
_REC_T = [{"value": ["a b"], "group": [0, 0]}]
SAMPLES = {
    "accuracy": ([0, 1], [0, 1]),
    "matthews_corrcoef": ([0, 1], [0, 1]),
    "f1_score_with_invalid": ([0, 1], [0, 1]),
    "pearson_corrcoef": ([0.0, 1.0, 2.0], [0.0, 1.0, 2.0]),
    "spearman_corrcoef": ([0.0, 1.0, 2.0], [0.0, 1.0, 2.0]),
    "mean_3class_f1": ([0, 1, 2], [0, 1, 2]),
    "multirc_f1": (_MRC_T, [{"value": 1}, {"value": 0}]),
    "multirc_exact_match": (_MRC_T, [{"value": 1}, {"value": 0}]),
    "multirc_f1_paper": (_MRC_T, [{"value": 1}, {"value": 0}]),
    "squad": ([["a b"]], ["a b"]),
    "record": (_REC_T, [{"value": "a b"}]),
    "record_paper": (_REC_T, [{"value": "a b"}]),
    "rouge": (["one two three"], ["one two three"]),
    "bleu": (["one two three four five"], ["one two three four five"]),
}


def test_names_and_keys() -> None:
    assert set(METRICS) == set(EXPECTED_KEYS)


@pytest.mark.parametrize("name", sorted(EXPECTED_KEYS))
def test_perfect_predictions_score_100_as_python_floats(name: str) -> None:
    result = METRICS[name](*SAMPLES[name])
    assert set(result) == EXPECTED_KEYS[name]
    for value in result.values():
        assert type(value) is float
        assert value == pytest.approx(100.0)
    json.dumps(metric_settings(name))  # the settings are recordable as JSON


def test_unknown_metric_suggests_a_name() -> None:
    with pytest.raises(ValueError, match="did you mean accuracy"):
        metric_settings("acuracy")
