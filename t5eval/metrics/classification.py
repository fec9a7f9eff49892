"""Classification and regression metrics of GLUE/SuperGLUE, as `t5/evaluation/metrics.py` defines them.

Inputs are what T5's postprocessors give: class ids (0, 1, 2, …) with −1 for a prediction that
matched no label word (`string_label_to_class_id`), or floats with −1.0 for an unparsable STS-B
prediction (`string_to_float`). Every value is ×100, as in T5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.stats
import sklearn.metrics

from .common import check_lengths


def accuracy(targets: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """Percent of exact matches (sklearn `accuracy_score`).

    T5 quirk: an invalid prediction (−1) never equals a class id, so it counts as wrong.
    """
    check_lengths(targets, predictions)
    return {"accuracy": 100.0 * float(sklearn.metrics.accuracy_score(list(targets), list(predictions)))}


def matthews_corrcoef(targets: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Matthews correlation ×100 (CoLA).

    T5 quirk: −1 predictions go into sklearn unchanged, so they form a third class (the
    multiclass MCC formula), which is not the same as counting them as the wrong binary class.
    """
    check_lengths(targets, predictions)
    return {"matthews_corrcoef": 100.0 * float(sklearn.metrics.matthews_corrcoef(targets, predictions))}


def replace_invalid(targets: Sequence[int], predictions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Return (targets, predictions) as new arrays with each prediction ∉ {0, 1} set to 1 − target.

    T5's `f1_score_with_invalid` does this so that an invalid prediction is always wrong: a false
    negative when the target is 1, a false positive when it is 0. (T5 edits the caller's array in
    place when given one; here the inputs are left untouched.)
    """
    t = np.array(targets, dtype=np.int64)  # (N,)
    p = np.array(predictions, dtype=np.int64)  # (N,), a copy
    invalid = (p != 0) & (p != 1)  # (N,) bool
    p[invalid] = 1 - t[invalid]
    return t, p


def binary_f1(targets: Sequence[int], predictions: Sequence[int]) -> float:
    """sklearn F1 of class 1 after `replace_invalid`, in [0, 1].

    When no example is a true positive, F1 is 0 (`zero_division=0`, which is also what the
    sklearn of 2019 returned, with a warning, and what today's default "warn" returns).
    """
    t, p = replace_invalid(targets, predictions)
    return float(sklearn.metrics.f1_score(t, p, zero_division=0.0))


def f1_score_with_invalid(targets: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """F1 of class 1 ×100 (MRPC, QQP), any prediction other than 0/1 counted as wrong."""
    check_lengths(targets, predictions)
    return {"f1": 100.0 * binary_f1(targets, predictions)}


def pearson_corrcoef(targets: Sequence[float], predictions: Sequence[float]) -> dict[str, float]:
    """Pearson r ×100 (STS-B, scipy).

    Targets are the rounded reference values (T5 scores against `round(label*5)/5`); an
    unparsable prediction arrives as −1.0 and is correlated as that number, as in T5.
    """
    check_lengths(targets, predictions)
    result = scipy.stats.pearsonr(np.asarray(targets, float), np.asarray(predictions, float))
    return {"pearson_corrcoef": 100.0 * float(result.statistic)}


def spearman_corrcoef(targets: Sequence[float], predictions: Sequence[float]) -> dict[str, float]:
    """Spearman ρ ×100 (STS-B, scipy); −1.0 invalid predictions are ranked as numbers, as in T5."""
    check_lengths(targets, predictions)
    result = scipy.stats.spearmanr(np.asarray(targets, float), np.asarray(predictions, float))
    return {"spearman_corrcoef": 100.0 * float(result.statistic)}


def mean_3class_f1(targets: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Unweighted mean of the per-class F1 over classes 0, 1, 2, ×100 (CB).

    T5 (`mean_multiclass_f1(num_classes=3)`) calls sklearn `fbeta_score(beta=1, labels=range(3),
    average="macro")` on the raw values. A −1 prediction is passed unchanged: as −1 is not in
    `labels`, it is a false negative for its true class and a false positive for no class.
    """
    check_lengths(targets, predictions)
    score = sklearn.metrics.fbeta_score(
        list(targets), list(predictions), beta=1, labels=[0, 1, 2], average="macro", zero_division=0.0
    )
    return {"mean_3class_f1": 100.0 * float(score)}
