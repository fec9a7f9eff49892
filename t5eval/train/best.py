"""Which validation is the best: one rule for every training path (text-to-text `finetune`, task heads).

T5's `metric_group_max` keeps the step with the highest score (the mean of the task's metric group).
A NaN score (e.g. a Pearson correlation of constant predictions) is worse than any number, so it is
chosen only while no step has a number; ties keep the earlier step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def group_score(metrics: Mapping[str, float]) -> float:
    """T5's `metric_group_max` criterion: the mean of the task's metric group (NaN if any is NaN; -inf if none)."""
    return sum(metrics.values()) / len(metrics) if metrics else float("-inf")


def is_better(score: float, best_score: float | None) -> bool:
    """Whether `score` replaces `best_score` (None: nothing yet). NaN loses to any number; ties keep the earlier."""
    if best_score is None:
        return True
    if math.isnan(score):
        return False
    return math.isnan(best_score) or score > best_score


def select_best(history: Sequence[Mapping[str, Any]]) -> int | None:
    """Index of the best entry of a validation history (`{"metrics": {...}, ...}` in step order), or None if empty."""
    best: int | None = None
    best_score: float | None = None
    for index, entry in enumerate(history):
        score = group_score(entry["metrics"])
        if is_better(score, best_score):
            best, best_score = index, score
    return best
