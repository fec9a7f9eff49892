"""SQuAD EM/F1 as T5's `metrics.squad` + `qa_utils` compute them (also used by ReCoRD)."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence

import numpy as np

from .common import check_lengths

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_squad(text: str) -> str:
    """T5's `normalize_squad` (the official SQuAD v1.1 normalization), in this order.

    1. lower-case; 2. delete every ASCII `string.punctuation` character (deleted, not spaced, so
    `U.S.` → `us`, but the punctuation-padded `U . S .` → `u s`); 3. replace `\\b(a|an|the)\\b` with a
    space; 4. split on whitespace and join with single spaces.
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(target: str, prediction: str) -> float:
    """Bag-of-tokens F1 of two normalized strings (tokens from `.split()`), in [0, 1].

    As T5's `qa_utils._f1_score`: 0 when no token is shared, including when both are empty.
    """
    prediction_tokens = prediction.split()
    target_tokens = target.split()
    common = collections.Counter(prediction_tokens) & collections.Counter(target_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(target_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(answers: Sequence[str], prediction: str) -> tuple[float, float]:
    """(EM, F1) of one prediction, each the max over the gold answers, in [0, 1], after normalization."""
    if isinstance(answers, str) or len(answers) == 0:
        raise ValueError(f"a SQuAD target must be a non-empty list of answer strings, got {answers!r}")
    if not isinstance(prediction, str):
        raise ValueError(f"a SQuAD prediction must be a string, got {prediction!r}")
    pred = normalize_squad(prediction)
    golds = [normalize_squad(a) for a in answers]
    em = max(float(g == pred) for g in golds)
    f1 = max(token_f1(g, pred) for g in golds)
    return em, f1


def squad(targets: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, float]:
    """Mean over examples of max-over-answers EM and F1, ×100 (keys `em`, `f1`).

    Targets are lists of all gold answers (T5's `qa` postprocessor on the target side; for T5's
    SQuAD task these are the punctuation-padded answers), predictions are strings.
    """
    check_lengths(targets, predictions)
    pairs = np.array([squad_scores(t, p) for t, p in zip(targets, predictions, strict=True)])  # (N, 2)
    em, f1 = pairs.mean(axis=0)
    return {"em": 100.0 * float(em), "f1": 100.0 * float(f1)}
