"""Folders t5eval creates: a run-kind marker, what `--overwrite` may delete, and the sweep of our temp files.

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

import os
import re
import shutil
from pathlib import Path

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json, recover_swapped_dir
from t5eval.trust import read_json_object

MARKER = "t5eval-folder.json"
RUN, PRETRAIN = "run", "pretrain"
KINDS = {RUN: "a t5eval run (t5eval run)", PRETRAIN: "a t5eval pre-training (t5eval pretrain)"}
_COMMAND = {RUN: "t5eval run", PRETRAIN: "t5eval pretrain"}
# what each command writes at the top of its folder (task folders of a run come from its settings.json)
_OWN_ENTRIES = {
    RUN: {MARKER, "settings.json", "run.json", "_mixture"},
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
