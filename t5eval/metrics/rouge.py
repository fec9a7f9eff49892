"""ROUGE as T5's `metrics.rouge` (CNN/DailyMail), with a seeded bootstrap so scores repeat."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import numpy as np
from rouge_score import rouge_scorer, scoring

from .common import check_lengths

ROUGE_KEYS = ("rouge1", "rouge2", "rougeLsum")
#: Seed of numpy's global RNG during the bootstrap (T5 leaves it unseeded, so its scores vary).
ROUGE_SEED = 0
_BOOTSTRAP = {"confidence_interval": 0.95, "n_samples": 1000}  # rouge_score's defaults, as T5 uses


def prepare_summary(summary: str) -> str:
    """T5's `_prepare_summary`: every " . " becomes " .\\n".

    rougeLsum splits sentences on newlines, and the T5 vocabulary cannot emit "\\n", so sentence
    ends are recovered from the space-separated periods.
    """
    return summary.replace(" . ", " .\n")


def rouge_scores(targets: Sequence[str], predictions: Sequence[str]) -> list[dict[str, Any]]:
    """Per-example rouge_score `Score`s for `ROUGE_KEYS` (default options: no stemming)."""
    check_lengths(targets, predictions)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS))
    return [
        scorer.score(target=prepare_summary(t), prediction=prepare_summary(p))
        for t, p in zip(targets, predictions, strict=True)
    ]


def bootstrap_mid(scores: list[dict[str, Any]], seed: int) -> dict[str, float]:
    """Median ("mid") F-measure ×100 of 1000 bootstrap means, per key (`BootstrapAggregator`).

    The aggregator draws from numpy's global RNG; it is seeded here and its previous state put
    back afterwards, so callers' random streams are not disturbed.
    """
    aggregator = scoring.BootstrapAggregator(**_BOOTSTRAP)
    for s in scores:
        aggregator.add_scores(s)
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        result = aggregator.aggregate()
    finally:
        np.random.set_state(saved)
    return {key: 100.0 * float(result[key].mid.fmeasure) for key in ROUGE_KEYS}


def rouge(targets: Sequence[str], predictions: Sequence[str], *, seed: int = ROUGE_SEED) -> dict[str, float]:
    """ROUGE-1/2/Lsum F ×100: bootstrap mid (T5's figure) plus the plain means (`<key>_mean`)."""
    scores = rouge_scores(targets, predictions)
    result = bootstrap_mid(scores, seed)
    for key in ROUGE_KEYS:
        result[f"{key}_mean"] = 100.0 * float(np.mean([s[key].fmeasure for s in scores]))
    return result


def rouge_settings(seed: int = ROUGE_SEED) -> dict[str, Any]:
    """What a ROUGE score depends on, to record beside it."""
    return {
        "library": f"rouge-score {version('rouge-score')}",
        "score_keys": list(ROUGE_KEYS),
        "use_stemmer": False,
        "tokenizer": "rouge_score default (lower-case, non-alphanumeric -> space)",
        "split_summaries": False,
        "prepare": "' . ' -> ' .\\n' on target and prediction",
        "aggregate": "BootstrapAggregator mid fmeasure x100",
        **_BOOTSTRAP,
        "seed": seed,
        "means": "plain mean fmeasure x100 as <key>_mean",
    }
