"""Bootstrap intervals: against the normal approximation, determinism, group resampling, BLEU stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu

from t5eval.metrics import accuracy, bleu, f1_score_with_invalid, multirc_exact_match
from t5eval.report.bootstrap import bootstrap_metrics, interval_of_average, resampling_units


def test_accuracy_interval_close_to_normal_approximation():
    # 140 of 200 right: p = 0.7, normal 95% half-width 1.96 * sqrt(0.7 * 0.3 / 200) = 6.35 points.
    targets = [1] * 200
    preds = [1] * 140 + [0] * 60
    res = bootstrap_metrics(targets, preds, accuracy, n_boot=2000, seed=0, name="t")
    iv = res.intervals["accuracy"]
    half = 100 * 1.96 * math.sqrt(0.7 * 0.3 / 200)
    assert res.point["accuracy"] == 70.0
    assert iv.method == "mean"
    assert iv.low == pytest.approx(70.0 - half, abs=1.0)
    assert iv.high == pytest.approx(70.0 + half, abs=1.0)


def test_same_seed_same_interval_other_seed_differs():
    targets = [1, 0] * 50
    preds = [1, 1, 0, 0] * 25
    a = bootstrap_metrics(targets, preds, accuracy, n_boot=500, seed=3, name="x")
    b = bootstrap_metrics(targets, preds, accuracy, n_boot=500, seed=3, name="x")
    c = bootstrap_metrics(targets, preds, accuracy, n_boot=500, seed=4, name="x")
    assert a.intervals == b.intervals
    assert np.array_equal(a.draws["accuracy"], b.draws["accuracy"])
    assert not np.array_equal(a.draws["accuracy"], c.draws["accuracy"])


def test_non_mean_metric_is_recomputed_per_resample():
    targets = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1] * 3
    preds = [1, 0, 0, 1, 1, 1, 0, 0, 1, 0] * 3
    res = bootstrap_metrics(targets, preds, f1_score_with_invalid, n_boot=200, seed=0, name="f1")
    iv = res.intervals["f1"]
    assert iv.method == "recompute"  # F1 is not a mean of one-example F1s
    assert iv.low < res.point["f1"] < iv.high


def test_multirc_resamples_question_groups():
    # 3 questions: q0 (2 options, both right), q1 (3 options, one wrong), q2 (1 option, right).
    targets = [{"value": v, "group": g} for v, g in [(1, 0), (0, 0), (1, 1), (1, 1), (0, 1), (1, 2)]]
    preds = [{"value": v} for v in [1, 0, 1, 0, 0, 1]]
    assert resampling_units(targets) == [[0, 1], [2, 3, 4], [5]]
    res = bootstrap_metrics(targets, preds, multirc_exact_match, n_boot=400, seed=0, name="multirc")
    assert res.n_units == 3
    assert res.point["exact_match"] == pytest.approx(200 / 3)
    assert res.intervals["exact_match"].method == "mean"  # EM is a mean over groups
    # Every resample of 3 groups gives EM in {0, 33.3, 66.7, 100}.
    draws = res.draws["exact_match"]
    assert set(np.round(draws, 6)) <= {0.0, round(100 / 3, 6), round(200 / 3, 6), 100.0}


def test_bleu_uses_sentence_statistics_and_matches_sacrebleu():
    refs = ["The cat sat on the mat.", "It is raining today in Paris.", "He reads a long book.",
            "We walked home after dinner.", "The train was late again."]
    hyps = ["The cat sat on a mat.", "It rains today in Paris.", "He reads a book.",
            "We walked home after the dinner.", "The train is late again."]
    res = bootstrap_metrics(refs, hyps, bleu, n_boot=300, seed=0, name="wmt")
    expected = sacrebleu.corpus_bleu(hyps, [refs], smooth_method="exp", tokenize="intl").score
    assert res.point["bleu"] == pytest.approx(expected)
    assert res.intervals["bleu"].method == "bleu-stats"
    # Resample 0 recomputed directly with sacrebleu gives the same value as the stats path.
    rng_picks = np.random.default_rng([0, __import__("zlib").crc32(b"wmt")]).integers(0, 5, size=(300, 5))
    sub_h = [hyps[i] for i in rng_picks[0]]
    sub_r = [refs[i] for i in rng_picks[0]]
    direct = sacrebleu.corpus_bleu(sub_h, [sub_r], smooth_method="exp", tokenize="intl").score
    assert res.draws["bleu"][0] == pytest.approx(direct)


def test_interval_of_average_averages_groups_then_metrics():
    a = np.array([60.0, 70.0, 80.0])
    b = np.array([80.0, 90.0, 100.0])
    c = np.array([10.0, 20.0, 30.0])
    iv = interval_of_average([[a, b], [c]])  # groups: mean(a, b) = 70/80/90; then mean with c -> 40/50/60
    assert iv.low == pytest.approx(np.percentile([40.0, 50.0, 60.0], 2.5))
    assert iv.high == pytest.approx(np.percentile([40.0, 50.0, 60.0], 97.5))
