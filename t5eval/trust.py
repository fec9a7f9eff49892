"""Reading files from folders that t5eval may not have written: no code runs, and damage is one line.

A results or pre-training folder is whatever the user points at (or what auto-discovery finds under
`results/`), so every file read from it is untrusted input:

- torch state (`checkpoint.pt`, `extra.pt`) is read with `torch.load(weights_only=True)`: tensors and
  plain values (dict, list, tuple, str, int, float incl. NaN, bool, None) only. A pickle that names any
  other callable is refused before it runs, with a one-line error;
- JSON files (`run.json`, baselines, `done.json`, markers) must parse and hold an object;
- JSON-lines files (`predictions.jsonl`) name the first damaged line;
- a task key of `run.json` must be a safe folder name before it becomes part of a path.

Every error is a `T5evalError` naming the file, what is wrong, and the fix the caller passes in.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")  # task names: glue_sst2_v002, wmt_t2t_ende_v003


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:160] if text else err.__class__.__name__


def load_torch_state(path: Path, fix: str, *, mmap: bool = False) -> dict[str, Any]:
    """A `torch.save`d dict of tensors and plain values, read without running code from the file.

    Raises:
        T5evalError: the file is empty, truncated or corrupt, not a dict, or holds objects other than
            tensors and plain values (`fix` says what to do: delete it, or --overwrite).
    """
    import pickle

    import torch

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise T5evalError(f"{path} is empty (0 bytes; a full disk or a killed copy?); {fix}")
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except T5evalError:
        raise
    except pickle.UnpicklingError as err:  # weights_only refused a global: the file names code to run
        raise T5evalError(f"{path} holds objects other than tensors and plain values ({_first_line(err)}), so "
                          f"it was not written by t5eval and is not loaded; {fix}") from err
    except Exception as err:  # truncated zip, bad magic, short read: torch raises several kinds
        raise T5evalError(f"{path} is truncated or corrupt ({err.__class__.__name__}: {_first_line(err)}); "
                          f"{fix}") from err
    if not isinstance(state, dict):
        raise T5evalError(f"{path} holds a {type(state).__name__}, not a t5eval checkpoint; {fix}")
    return state


def require_keys(state: dict[str, Any], keys: tuple[str, ...], path: Path, fix: str) -> None:
    """One line when a loaded checkpoint dict lacks one of `keys`."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise T5evalError(f"{path} is not a t5eval checkpoint (no {', '.join(missing)}); {fix}")


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """A JSON file holding one object (dict).

    Raises:
        T5evalError: missing, unreadable, not valid JSON (empty, truncated) or not an object; `fix` says what to do.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise T5evalError(f"{path} not found; {fix}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise T5evalError(f"{path} cannot be read ({err.__class__.__name__}); {fix}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        what = "is empty" if not text.strip() else f"is not valid JSON ({err.msg} at line {err.lineno})"
        raise T5evalError(f"{path} {what}: truncated or damaged; {fix}") from err
    if not isinstance(data, dict):
        raise T5evalError(f"{path} holds a JSON {type(data).__name__}, not an object; {fix}")
    return data


def read_jsonl_objects(path: Path, fix: str) -> list[dict[str, Any]]:
    """Every line of a JSONL file as an object (blank lines skipped; a torn unterminated last line, as a
    killed append leaves it, is skipped as `t5eval.io.iter_jsonl` does).

    Raises:
        T5evalError: naming the first line that is not a JSON object (a missing file has no rows).
    """
    path = Path(path)
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.endswith("\n"):
                break  # torn last line of a killed append
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise T5evalError(f"{path}, line {number}: not valid JSON ({err.msg}); {fix}") from err
            if not isinstance(row, dict):
                raise T5evalError(f"{path}, line {number}: a JSON {type(row).__name__}, not an object; {fix}")
            rows.append(row)
    return rows


def check_task_key(name: object, path: Path) -> str:
    """A `run.json` task key, checked to be a plain folder name before it becomes a path part.

    Raises:
        T5evalError: the key holds a path separator, `..`, control characters or is not a string.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise T5evalError(f"{path}: task key {name!r} is not a task name (letters, digits, . _ + - only); "
                          "the file was not written by t5eval or was edited: remove that task from it")
    return name
