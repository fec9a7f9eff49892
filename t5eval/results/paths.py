"""Output-path validation: refuse a path that cannot be written before any work is done."""

from __future__ import annotations

from pathlib import Path

from t5eval.errors import T5evalError


def check_out_path(path: Path, flag: str = "--out", *, folder: bool = False) -> None:
    """Refuse an output path that cannot be written: at or under an existing regular file (or, for a
    file output, an existing folder). Call it before any work, so that nothing is written on refusal.

    Raises:
        T5evalError: one line naming the path, the file in the way, and the fix.
    """
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None and (blocker != path or folder):
        if blocker == path:
            raise T5evalError(f"{flag} {path} is an existing file, not a folder; choose a new folder name")
        raise T5evalError(f"{flag} {path} is under {blocker}, which is a file, not a folder; "
                          "choose a path outside it")
    if not folder and path.is_dir():
        raise T5evalError(f"{flag} {path} is a folder; give a file path (e.g. {path / 'out.json'})")
