"""GLUE/SuperGLUE classification metrics on small sets, expected values worked out by hand."""

from __future__ import annotations

import math

import pytest

from t5eval.metrics import (
    accuracy,
    f1_score_with_invalid,
    matthews_corrcoef,
    mean_3class_f1,
    pearson_corrcoef,
    spearman_corrcoef,
)


def test_accuracy_counts_invalid_as_wrong() -> None:
    # targets 0 1 1 0, predictions 0 1 -1 1: rows 1 and 2 match -> 2/4 = 50.
    assert accuracy([0, 1, 1, 0], [0, 1, -1, 1]) == {"accuracy": pytest.approx(50.0)}


def test_matthews_keeps_invalid_as_third_class() -> None:
    # targets 1 1 0 0, predictions 1 -1 0 0. Multiclass MCC = (c*s - sum p_k t_k) /
    # sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)), s = 4 samples, c = 3 correct.
    # counts (class: true t, predicted p): -1: t0 p1; 0: t2 p2; 1: t2 p1.
    # sum p_k t_k = 0 + 4 + 2 = 6; numerator 12 - 6 = 6; (16 - 6)(16 - 8) = 80 -> 6/sqrt(80).
    expected = 100 * 6 / math.sqrt(80)  # 67.08
    assert matthews_corrcoef([1, 1, 0, 0], [1, -1, 0, 0])["matthews_corrcoef"] == pytest.approx(expected)
    # Had -1 been mapped to the wrong binary class (0): TP1 TN2 FP0 FN1 ->
    # (1*2 - 0*1)/sqrt(1*2*2*3) = 2/sqrt(12) = 57.74, which is not what T5 reports.
    assert expected != pytest.approx(100 * 2 / math.sqrt(12))


def test_f1_with_invalid_makes_invalid_always_wrong() -> None:
    # targets 1 1 0 0 1, predictions 1 -1 -1 0 0 -> invalid replaced by 1-target: 1 0 1 0 0.
    # TP 1 (row 0), FP 1 (row 2), FN 2 (rows 1, 4): P = 1/2, R = 1/3, F1 = 2PR/(P+R) = 2/5.
    predictions = [1, -1, -1, 0, 0]
    assert f1_score_with_invalid([1, 1, 0, 0, 1], predictions) == {"f1": pytest.approx(40.0)}
    assert predictions == [1, -1, -1, 0, 0]  # the caller's list is not modified


def test_pearson_and_spearman_include_invalid_as_number() -> None:
    targets = [0.0, 1.0, 2.0, 3.0]
    predictions = [0.0, 1.0, 5.0, -1.0]  # the last prediction did not parse -> -1.0
    # Pearson: target deviations -1.5 -0.5 0.5 1.5 (sum sq 5); prediction mean 1.25, deviations
    # -1.25 -0.25 3.75 -2.25 (sum sq 20.75); cross sum 1.875 + 0.125 + 1.875 - 3.375 = 0.5.
    # r = 0.5 / sqrt(5 * 20.75) = 0.049088.
    pearson = pearson_corrcoef(targets, predictions)["pearson_corrcoef"]
    assert pearson == pytest.approx(100 * 0.5 / math.sqrt(5 * 20.75))
    # Spearman: prediction ranks 2 3 4 1; rank deviations -0.5 0.5 1.5 -1.5 (sum sq 5);
    # cross sum 0.75 - 0.25 + 0.75 - 2.25 = -1 -> rho = -1/5.
    assert spearman_corrcoef(targets, predictions)["spearman_corrcoef"] == pytest.approx(-20.0)


def test_cb_macro_f1_counts_invalid_as_false_negative_only() -> None:
    # targets 0 0 1 2, predictions 0 1 1 -1.
    # class 0: TP1 FP0 FN1 -> P 1, R 1/2, F1 2/3; class 1: TP1 FP1 FN0 -> F1 2/3;
    # class 2: TP0 FN1 (the -1) -> F1 0. Macro mean = (2/3 + 2/3 + 0)/3 = 4/9.
    assert mean_3class_f1([0, 0, 1, 2], [0, 1, 1, -1]) == {"mean_3class_f1": pytest.approx(400 / 9)}
    # If -1 had been turned into class 0 instead, class 0 would gain a FP: F1 1/2 ->
    # (1/2 + 2/3 + 0)/3 = 38.89; T5's value differs.
    assert mean_3class_f1([0, 0, 1, 2], [0, 1, 1, 0])["mean_3class_f1"] == pytest.approx(100 * 7 / 18)


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 targets but 2 predictions"):
        accuracy([0, 1, 1], [0, 1])
