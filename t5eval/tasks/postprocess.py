"""Postprocessors: decoded text -> the value a metric compares (T5 `t5/data/postprocessors.py`).

Each is `fn(text, example, is_target, **args)`; with `is_target=True` the text is the raw target
string (`targets_pretokenized`) and `example` is the whole preprocessed example, as in seqio.
Looked up by name from `POSTPROCESSORS`, the names used in `task_defs/**.yaml`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol


class ExampleLike(Protocol):
    """What a postprocessor reads from an example: its target text and kept fields (read-only, so the
    frozen `Example` dataclass satisfies it)."""

    @property
    def targets(self) -> str: ...

    @property
    def fields(self) -> dict[str, Any]: ...


def string_label_to_class_id(text: str, example: ExampleLike, is_target: bool, *,
                             label_classes: Sequence[str], default: int = -1) -> int:
    """Exact match against the class names; anything else is `default` (-1, always wrong)."""
    return list(label_classes).index(text) if text in label_classes else default


def string_to_float(text: str, example: ExampleLike, is_target: bool, *, default: float = -1.0) -> float:
    """STS-B: `float(text)`, or -1.0 when the text does not parse."""
    try:
        return float(text)
    except ValueError:
        return default


def multirc(text: str, example: ExampleLike, is_target: bool) -> dict[str, Any]:
    """{"value": 0|1|-1} ("False"/"True"/other); targets also get "group" = idx/question."""
    res: dict[str, Any] = {"value": string_label_to_class_id(text, example, is_target,
                                                             label_classes=("False", "True"))}
    if is_target:
        res["group"] = example.fields["idx/question"]
    return res


def record(text: str, example: ExampleLike, is_target: bool) -> dict[str, Any]:
    """Prediction -> {"value": text}; target -> all gold answers + group (idx/passage, idx/query)."""
    if is_target:
        return {"value": list(example.fields["answers"]),
                "group": (example.fields["idx/passage"], example.fields["idx/query"])}
    return {"value": text}


def qa(text: str, example: ExampleLike, is_target: bool) -> Any:
    """SQuAD: the prediction text as is; the target is the list of all (padded) answers."""
    return list(example.fields["answers"]) if is_target else text


_DETERMINERS = frozenset({
    "a", "an", "few", "her", "his", "each", "every", "many", "much", "my", "our", "some", "that", "the",
    "their", "these", "this", "those", "which", "whose", "your",
})


def _wsc_clean(text: str) -> str:
    """Lower-case, strip, and drop determiners (split on single spaces, as T5)."""
    return " ".join(w for w in text.strip().lower().split(" ") if w not in _DETERMINERS)


def wsc_simple(text: str, example: ExampleLike, is_target: bool) -> int:
    """Target -> the gold label. Prediction -> 1 if it names the referent (span1_text), else 0.

    Empty after cleaning -> -1 (never matches). If exactly one of prediction and referent has an
    apostrophe -> 0 ("Bob" vs "Bob's hat"). Otherwise 1 when either word set contains the other.
    """
    if is_target:
        return int(example.fields["label"])
    prediction = _wsc_clean(text)
    if not prediction:
        return -1
    referent = _wsc_clean(example.targets)
    if ("'" in prediction) != ("'" in referent):
        return 0
    pred_words, ref_words = set(prediction.split(" ")), set(referent.split(" "))
    return int(pred_words <= ref_words or ref_words <= pred_words)


def identity(text: str, example: ExampleLike, is_target: bool) -> str:
    """No postprocessing (CNN/DM, WMT): the text itself."""
    return text


Postprocessor = Callable[..., Any]

POSTPROCESSORS: dict[str, Postprocessor] = {
    "string_label_to_class_id": string_label_to_class_id,
    "string_to_float": string_to_float,
    "multirc": multirc,
    "record": record,
    "qa": qa,
    "wsc_simple": wsc_simple,
    "identity": identity,
}
