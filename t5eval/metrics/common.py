"""Input checks and value helpers shared by the metric modules."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any


def check_lengths(targets: Sequence[Any], predictions: Sequence[Any]) -> None:
    """Raise ValueError unless there is one prediction per target and at least one of each."""
    if len(targets) != len(predictions):
        raise ValueError(f"metric got {len(targets)} targets but {len(predictions)} predictions")
    if len(targets) == 0:
        raise ValueError("metric got no examples; a score over 0 examples is undefined")


def hashable(group: Any) -> Hashable:
    """A group key usable in a dict: JSON turns T5's tuple keys into lists, so lists become tuples."""
    if isinstance(group, list | tuple):
        return tuple(hashable(g) for g in group)
    if isinstance(group, Mapping):
        return tuple(sorted((k, hashable(v)) for k, v in group.items()))
    return group


def field(value: Any, key: str, what: str) -> Any:
    """`value[key]` for a postprocessed dict, with an error naming the metric input that lacks it."""
    if not isinstance(value, Mapping) or key not in value:
        raise ValueError(f"{what} must be a dict with key {key!r}, got {value!r}")
    return value[key]


def unwrap(prediction: Any, key: str = "value") -> Any:
    """A prediction as T5 postprocessors give it (`{"value": x}`) or already bare (`x`)."""
    if isinstance(prediction, Mapping):
        return field(prediction, key, "a prediction")
    return prediction
