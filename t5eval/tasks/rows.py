"""Row normalisation: one pure function turns a raw row (from a local file or the HF hub) into the
TFDS feature dict that T5's preprocessors read.

Local readers and hub rows both go through `normalize_row`, so both give the same examples.
Label coercion follows TFDS `_cast_label`: booleans become "False"/"True" class ids, label names
become their class index, and a missing label (test split) becomes -1. Known quirks (labels stored
as the strings "true"/"false", `idx` stored as a digit string) are accepted with a `DataWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from t5eval.errors import T5evalError

LABEL_KINDS = ("int", "name", "bool", "float", "copa", "none")


class DataWarning(UserWarning):
    """A data quirk that was repaired (string labels, string idx, a partial data file)."""


def _file_of(where: str) -> str:
    """The file part of "path, line N" (warnings name the file once, not every row)."""
    return where.split(", line ")[0].split(", row ")[0]


def _bool_label(value: Any, where: str) -> int:
    """TFDS casts a boolean label to "True"/"False"; class ids follow ("False", "True")."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        warnings.warn(f"{_file_of(where)}: labels stored as the strings 'true'/'false', read as booleans",
                      DataWarning, stacklevel=3)
        return int(value.lower() == "true")
    if isinstance(value, int) and value in (0, 1):
        return value
    raise T5evalError(f"{where}: label {value!r} is not a boolean; fix the row")


def _int_label(value: Any, labels: Sequence[str] | None, where: str) -> int:
    try:
        label = int(value)
    except (TypeError, ValueError):
        raise T5evalError(f"{where}: label {value!r} is not an integer class id; fix the row") from None
    if label != -1 and labels is not None and not 0 <= label < len(labels):
        raise T5evalError(f"{where}: label {label} is out of range for classes {list(labels)}")
    return label


def _name_label(value: Any, labels: Sequence[str] | None, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):  # hub rows store the class id
        return _int_label(value, labels, where)
    if labels is None or value not in labels:
        raise T5evalError(f"{where}: label {value!r} is not one of {list(labels or [])}; fix the row")
    return list(labels).index(value)


def coerce_label(value: Any, kind: str, labels: Sequence[str] | None, where: str) -> int | float:
    """Coerce a raw label to the TFDS value: a class id (-1 when absent), or a float for STS-B."""
    if value is None or value == "":
        return -1.0 if kind == "float" else -1
    if kind != "float" and not isinstance(value, bool) and value == -1:
        return -1  # hub test rows carry -1: T5 writes the target "<unk>"
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise T5evalError(f"{where}: score {value!r} is not a number; fix the row") from None
    if kind == "bool":
        return _bool_label(value, where)
    if kind == "name":
        return _name_label(value, labels, where)
    if kind in ("int", "copa"):  # COPA: TFDS maps 1 -> "choice2", 0 -> "choice1", i.e. the same ids
        return _int_label(value, labels, where)
    raise T5evalError(f"{where}: unknown label kind {kind!r}; use one of {LABEL_KINDS}")


def coerce_idx(value: Any, where: str) -> Any:
    """Return `idx` as an int (or a dict of ints); a digit string is accepted with a warning."""
    if isinstance(value, Mapping):
        return {k: coerce_idx(v, where) for k, v in value.items()}
    if isinstance(value, bool):
        raise T5evalError(f"{where}: idx {value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        warnings.warn(f"{_file_of(where)}: idx stored as digit strings, read as integers", DataWarning,
                      stacklevel=3)
        return int(value)
    raise T5evalError(f"{where}: idx {value!r} is not an integer; fix the row")


def normalize_row(raw: Mapping[str, Any], args: Mapping[str, Any], labels: Sequence[str] | None,
                  where: str, position: int) -> dict[str, Any]:
    """Turn one raw row into TFDS features: `fields` kept as given, `label` and `idx` coerced.

    `args` are the task's reader args: `fields` (text features kept), `label` ({kind}), `keep`
    (other features kept unchanged, e.g. `answers`), `rename` (old -> new feature name). `position` is the row's place in
    file order; it becomes `idx` where the source has none (TFDS GLUE numbers rows the same way).
    """
    rename = args.get("rename", {})  # AX-b: sentence1 -> premise, sentence2 -> hypothesis (T5 rekey)
    raw = {rename.get(k, k): v for k, v in raw.items()}
    row: dict[str, Any] = {}
    for name in args.get("fields", []):
        if name not in raw:
            raise T5evalError(f"{where}: missing field {name!r}; fix the row or the task's reader_args.fields")
        value = raw[name]
        if not isinstance(value, str):
            raise T5evalError(f"{where}: field {name!r} must be text, got {type(value).__name__}")
        row[name] = value
    for name in args.get("keep", []):
        if name not in raw:
            raise T5evalError(f"{where}: missing field {name!r}; fix the row")
        row[name] = raw[name]
    kind = args.get("label", {}).get("kind", "none")
    if kind != "none":
        row["label"] = coerce_label(raw.get("label"), kind, labels, where)
    row["idx"] = coerce_idx(raw["idx"], where) if raw.get("idx") is not None else position
    return row


def hf_to_raw(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """Reshape a hub row to the raw layout the local readers give (e.g. WMT's `translation` dict)."""
    out = dict(row)
    if "translation" in out and isinstance(out["translation"], Mapping):
        out.update(out.pop("translation"))
    if args.get("unique_sorted"):
        for key in args["unique_sorted"]:  # ReCoRD: TFDS gives sorted unique entities and answers
            out[key] = sorted(set(out.get(key, [])))
    return out
