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

Folders t5eval creates: a run-kind marker, what `--overwrite` may delete, and the sweep of our temp files.

Every folder `t5eval run` or `t5eval pretrain` creates holds `t5eval-folder.json` (`{"kind": "run"}` or
`{"kind": "pretrain"}`), written before anything else. Folders made before the marker existed are
recognised by their `settings.json`, which both commands have always written first: one whose settings
name tasks is a run, one whose settings name a corpus is a pre-training (`folder_kind`); the marker
is added when such a folder is resumed. A folder with neither is not ours.

`--overwrite` deletes only a folder of the command's own kind, and in it only the entries t5eval
writes there (`clear_for_overwrite`): a file someone put beside them stays. Anything else (a folder
of the other kind, or one that is no t5eval folder at all: `--out .`, `--out ~`) is refused in one
line naming what is there, before anything is deleted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json, recover_swapped_dir

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


# --- folders t5eval creates -----------------------------------------------------------------------

MARKER = "t5eval-folder.json"
RUN, PRETRAIN = "run", "pretrain"
KINDS = {RUN: "a t5eval run (t5eval run)", PRETRAIN: "a t5eval pre-training (t5eval pretrain)"}
_COMMAND = {RUN: "t5eval run", PRETRAIN: "t5eval pretrain"}
# what each command writes at the top of its folder (task folders of a run come from its settings.json)
_OWN_ENTRIES = {
    RUN: {MARKER, "settings.json", "run.json", "_mixture", "linear_kernels.json"},
    PRETRAIN: {MARKER, "settings.json", "pretrain.json", "checkpoint.pt", "config.json", "model.safetensors",
               "spiece.model"},
}
_ATOMIC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # t5eval.io's `.<name>.XXXXXXXX.tmp`
_SAFETENSORS_TEMP = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")  # safetensors' own temp file beside a save
SWAPPED_DIRS = ("best",)  # folders written by `t5eval.io.atomic_dir` (best.tmp/, best.old/ beside them)


def write_marker(folder: Path, kind: str) -> None:
    """Mark `folder` as made by `kind` (idempotent)."""
    path = Path(folder) / MARKER
    if not path.is_file():
        atomic_write_json(path, {"kind": kind, "written_by": _COMMAND[kind]})


def folder_kind(folder: Path) -> str | None:
    """`RUN`, `PRETRAIN`, or None for a folder t5eval did not make (missing or empty folders: None).

    Raises:
        T5evalError: the marker or a settings.json that decides the kind is damaged.
    """
    folder = Path(folder)
    fix = f"delete {folder} if it is a t5eval folder, or choose another folder"
    if (folder / MARKER).is_file():
        kind = read_json_object(folder / MARKER, fix).get("kind")
        if kind not in KINDS:
            raise T5evalError(f"{folder / MARKER}: unknown folder kind {kind!r}; {fix}")
        return str(kind)
    if (folder / "settings.json").is_file():  # a run or pre-training from before the marker
        settings = read_json_object(folder / "settings.json", fix).get("settings")
        if isinstance(settings, dict) and "tasks" in settings:
            return RUN
        if isinstance(settings, dict) and "corpus" in settings:
            return PRETRAIN
    return None


def describe_contents(folder: Path, limit: int = 3) -> str:
    """'a.tex, notes/ and 4 more': what a folder holds, for a refusal."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in Path(folder).iterdir())
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def require_kind(folder: Path, kind: str, flag: str) -> bool:
    """Check that `folder` is empty, missing or of `kind`; returns whether it holds something.

    Raises:
        T5evalError: it holds a folder of the other kind, or files t5eval did not write.
    """
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        return False
    found = folder_kind(folder)
    if found == kind:
        return True
    what = KINDS[found] if found else f"no t5eval folder ({describe_contents(folder)})"
    raise T5evalError(f"{flag} {folder} holds {what}, not {KINDS[kind]}; {_COMMAND[kind]} will not write into or "
                      f"delete it: choose another {flag}")


def own_entries(folder: Path, kind: str) -> list[Path]:
    """The top-level entries of a `kind` folder that t5eval wrote (its temp files included)."""
    own = set(_OWN_ENTRIES[kind])
    if kind == RUN and (folder / "settings.json").is_file():
        tasks = read_json_object(folder / "settings.json", f"delete {folder}").get("settings", {}).get("tasks")
        own |= {str(t) for t in tasks or [] if isinstance(t, str)}
    return [p for p in Path(folder).iterdir()
            if p.name in own or _ATOMIC_TEMP.match(p.name) or _SAFETENSORS_TEMP.match(p.name)]


def clear_for_overwrite(folder: Path, kind: str, flag: str) -> list[str]:
    """`--overwrite`: delete what t5eval wrote in a `kind` folder; returns the names of the entries kept.

    Raises:
        T5evalError: (before deleting anything) the folder is of the other kind or no t5eval folder.
    """
    folder = Path(folder)
    if not require_kind(folder, kind, flag):
        return []
    for entry in own_entries(folder, kind):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return sorted(p.name for p in folder.iterdir())


def sweep_temp_files(folder: Path) -> list[Path]:
    """After a kill: delete t5eval's own temp files under `folder` and settle half-swapped folders.

    Removes `.<name>.XXXXXXXX.tmp` (atomic writes), `.tmpXXXXXX` (safetensors' temp file) and
    `best.tmp/` (an unfinished best-weights folder); a `best.old/` left by a kill mid-swap is put back
    when `best/` is missing, else deleted. Returns what was removed or restored.
    """
    swept: list[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        for name in files:
            if _ATOMIC_TEMP.match(name) or _SAFETENSORS_TEMP.match(name):
                (here / name).unlink(missing_ok=True)
                swept.append(here / name)
        for base in SWAPPED_DIRS:
            if base in dirs or f"{base}.tmp" in dirs or f"{base}.old" in dirs:
                swept += recover_swapped_dir(here / base)
        dirs[:] = [d for d in dirs if (here / d).is_dir()]  # walk on into what is left
    return swept
