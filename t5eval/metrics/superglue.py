"""MultiRC and ReCoRD metrics, current T5 code and the paper-era (2019) versions.

Input shapes are those of T5's postprocessors (`t5/data/postprocessors.py`):
- MultiRC (`multirc`): target `{"value": 0|1|-1, "group": idx/question}`, prediction `{"value": 0|1|-1}`
  (a bare 0/1/−1 is accepted too).
- ReCoRD (`record`): target `{"value": [all gold answers], "group": [idx/passage, idx/query]}`
  (`"answers"` is accepted in place of `"value"`; the group may be a list, as JSON stores T5's
  tuple), prediction `{"value": text}` or a bare string. `record_paper` also takes the paper-era
  target, a bare list of answers (T5's `qa` postprocessor).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from .classification import binary_f1, f1_score_with_invalid
from .common import check_lengths, field, hashable, unwrap
from .squad import squad


def multirc_groups(targets: Sequence[Any], predictions: Sequence[Any]) -> list[tuple[list[int], list[int]]]:
    """(target values, prediction values) per question group, in order of first appearance.

    Mirrors T5's `mean_group_metric`, which groups on the target's `group` key.
    """
    check_lengths(targets, predictions)
    grouped: dict[Hashable, tuple[list[int], list[int]]] = {}
    for t, p in zip(targets, predictions, strict=True):
        key = hashable(field(t, "group", "a MultiRC target"))
        values = grouped.setdefault(key, ([], []))
        values[0].append(int(field(t, "value", "a MultiRC target")))
        values[1].append(int(unwrap(p)))
    return list(grouped.values())


def multirc_f1(targets: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """F1a ×100 (key `f1`): `f1_score_with_invalid` over all answer options pooled.

    Current T5 (`multirc_f1_over_all_answers`, since commit ba171b6, 2019-12-16, "as in jiant").
    """
    check_lengths(targets, predictions)
    t = [int(field(x, "value", "a MultiRC target")) for x in targets]
    p = [int(unwrap(x)) for x in predictions]
    return f1_score_with_invalid(t, p)


def multirc_exact_match(targets: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """EM ×100 (key `exact_match`): mean over questions of 100·[every option in it is right].

    T5's `mean_group_metric(all_match)`; a −1 prediction never equals its target.
    """
    scores = [100.0 * float(t == p) for t, p in multirc_groups(targets, predictions)]
    return {"exact_match": float(np.mean(scores))}


def multirc_f1_paper(targets: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """Paper-era F1 ×100 (key `f1`): the mean over questions of each question's own F1.

    T5 before commit ba171b6 (2019-12-16) used `mean_group_metric(f1_score_with_invalid)`. A
    question with no true-positive option scores 0, even one whose targets are all 0 and whose
    predictions are all correct: sklearn's F1 has no true positive there (2019 sklearn set it
    to 0 with a warning). Invalid predictions count as wrong, as in `f1_score_with_invalid`.
    """
    scores = [100.0 * binary_f1(t, p) for t, p in multirc_groups(targets, predictions)]
    return {"f1": float(np.mean(scores))}


def record_answers(target: Any) -> list[str]:
    """The gold answers of a ReCoRD target (a `record` postprocessor dict, or a bare list)."""
    if isinstance(target, Mapping):
        answers = target.get("value", target.get("answers"))
        if answers is None:
            raise ValueError(f"a ReCoRD target dict needs key 'value' (or 'answers'), got {target!r}")
        return list(answers)
    if isinstance(target, list | tuple):
        return list(target)
    raise ValueError(f"a ReCoRD target must be a dict or a list of answers, got {target!r}")


def record(targets: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """ReCoRD EM/F1 ×100 (keys `em`, `f1`), current T5: each query counted once.

    T5 repeats a query once per gold answer; `deduplicate_metric(squad)` (commit 9860243,
    2022-04-25) keeps only the first target/prediction pair of each (idx/passage, idx/query)
    group, then scores SQuAD EM/F1 with the max over all the gold answers.
    """
    check_lengths(targets, predictions)
    seen: set[Hashable] = set()
    kept_targets: list[list[str]] = []
    kept_predictions: list[str] = []
    for t, p in zip(targets, predictions, strict=True):
        key = hashable(field(t, "group", "a ReCoRD target"))
        if key in seen:
            continue
        seen.add(key)
        kept_targets.append(record_answers(t))
        kept_predictions.append(unwrap(p))
    return squad(kept_targets, kept_predictions)


def record_paper(targets: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """Paper-era ReCoRD EM/F1 ×100: every repeated copy scored, so a query with k answers counts k times.

    T5 at release (2019) used the `qa` postprocessor (target = all answers) and `metrics.qa`.
    """
    check_lengths(targets, predictions)
    return squad([record_answers(t) for t in targets], [unwrap(p) for p in predictions])
