"""T5's metric functions by name, as `t5/evaluation/metrics.py` defines them.

Every function takes (targets, predictions), both already postprocessed as seqio metric_fns
receive them, and returns `dict[str, float]` with every value ×100. This package imports nothing
from the rest of t5eval. The task YAML names a metric by its key in `METRICS`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from .bleu import BLEU_KWARGS, bleu, bleu_signature
from .classification import (
    accuracy,
    f1_score_with_invalid,
    matthews_corrcoef,
    mean_3class_f1,
    pearson_corrcoef,
    spearman_corrcoef,
)
from .rouge import ROUGE_SEED, rouge, rouge_settings
from .squad import normalize_squad, squad
from .superglue import multirc_exact_match, multirc_f1, multirc_f1_paper, record, record_paper

MetricFn = Callable[[Sequence[Any], Sequence[Any]], dict[str, float]]

METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "matthews_corrcoef": matthews_corrcoef,
    "f1_score_with_invalid": f1_score_with_invalid,
    "pearson_corrcoef": pearson_corrcoef,
    "spearman_corrcoef": spearman_corrcoef,
    "mean_3class_f1": mean_3class_f1,
    "multirc_f1": multirc_f1,
    "multirc_exact_match": multirc_exact_match,
    "multirc_f1_paper": multirc_f1_paper,
    "squad": squad,
    "record": record,
    "record_paper": record_paper,
    "rouge": rouge,
    "bleu": bleu,
}

#: What each metric computes, in T5's terms (recorded with the score).
_DEFINITIONS: dict[str, dict[str, Any]] = {
    "accuracy": {"fn": "sklearn.metrics.accuracy_score", "invalid": "-1 never matches"},
    "matthews_corrcoef": {"fn": "sklearn.metrics.matthews_corrcoef", "invalid": "-1 kept as a third class"},
    "f1_score_with_invalid": {"fn": "sklearn.metrics.f1_score (class 1)", "invalid": "-> 1 - target"},
    "pearson_corrcoef": {"fn": "scipy.stats.pearsonr", "invalid": "-1.0 correlated as a number"},
    "spearman_corrcoef": {"fn": "scipy.stats.spearmanr", "invalid": "-1.0 ranked as a number"},
    "mean_3class_f1": {
        "fn": "sklearn.metrics.fbeta_score(beta=1, labels=[0,1,2], average='macro')",
        "invalid": "-1 passed unchanged: a false negative only",
    },
    "multirc_f1": {"fn": "f1_score_with_invalid over all answer options (F1a)", "protocol": "current"},
    "multirc_exact_match": {"fn": "mean over idx/question groups of all_match", "protocol": "both"},
    "multirc_f1_paper": {"fn": "mean over idx/question groups of f1_score_with_invalid", "protocol": "paper"},
    "squad": {"fn": "qa_utils: normalize_squad, max over answers of EM and token F1"},
    "record": {"fn": "deduplicate_metric(squad) on (idx/passage, idx/query)", "protocol": "current"},
    "record_paper": {"fn": "squad over every repeated copy", "protocol": "paper"},
}


def metric_settings(name: str) -> dict[str, Any]:
    """What must be recorded with a score of metric `name`: definition, options, library, seed.

    Raises:
        ValueError: `name` is not in `METRICS` (the message suggests close names).
    """
    if name not in METRICS:
        close = difflib.get_close_matches(name, list(METRICS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown metric {name!r}{hint}; known: {', '.join(METRICS)}")
    if name == "bleu":
        return {"signature": bleu_signature(), "corpus_bleu_kwargs": dict(BLEU_KWARGS)}
    if name == "rouge":
        return rouge_settings()
    settings = dict(_DEFINITIONS[name])
    settings["libraries"] = {lib: version(lib) for lib in ("scikit-learn", "scipy", "numpy")}
    return settings


__all__ = [
    "METRICS",
    "ROUGE_SEED",
    "MetricFn",
    "accuracy",
    "bleu",
    "bleu_signature",
    "f1_score_with_invalid",
    "matthews_corrcoef",
    "mean_3class_f1",
    "metric_settings",
    "multirc_exact_match",
    "multirc_f1",
    "multirc_f1_paper",
    "normalize_squad",
    "pearson_corrcoef",
    "record",
    "record_paper",
    "rouge",
    "rouge_settings",
    "spearman_corrcoef",
    "squad",
]
