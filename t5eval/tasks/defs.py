"""Where task definitions live: the built-in folder and the user's `--include-path` folders.

The built-in definitions are the repository's top-level `task_defs/` in a source checkout (or an editable
install); a built wheel or `pip install .` ships the same files as package data under `t5eval/task_defs/`
(setup.py maps the folder), which is looked up first. Extra folders come from `t5eval --include-path DIR`
(kept in `T5EVAL_INCLUDE_PATH`, `os.pathsep`-separated, so subprocesses and torchrun workers see them).
"""

from __future__ import annotations

import os
from pathlib import Path

from t5eval.errors import T5evalError

PACKAGED_TASK_DEFS = Path(__file__).resolve().parents[1] / "task_defs"  # installed wheel
REPOSITORY_TASK_DEFS = Path(__file__).resolve().parents[2] / "task_defs"  # source checkout
INCLUDE_ENV = "T5EVAL_INCLUDE_PATH"


def builtin_task_defs() -> Path:
    """The folder of the built-in task definitions (packaged copy first, else the repository's)."""
    return PACKAGED_TASK_DEFS if PACKAGED_TASK_DEFS.is_dir() else REPOSITORY_TASK_DEFS


def include_paths(environ: dict[str, str] | None = None) -> list[Path]:
    """The `--include-path` folders, in the order given; a missing folder is a one-line error."""
    raw = (os.environ if environ is None else environ).get(INCLUDE_ENV, "")
    paths = [Path(p) for p in raw.split(os.pathsep) if p.strip()]
    for path in paths:
        if not path.is_dir():
            what = "is a file, not a folder" if path.exists() else "does not exist"
            raise T5evalError(f"--include-path {path} {what}; give a folder of task YAML files")
    return paths


def set_include_paths(paths: list[Path]) -> None:
    """Record `--include-path` folders for this process and its children (checked now)."""
    os.environ[INCLUDE_ENV] = os.pathsep.join(str(p.resolve()) for p in paths)
    include_paths()


def task_def_dirs() -> list[Path]:
    """Every folder task and study definitions are read from: the built-in one, then the included ones."""
    return [builtin_task_defs(), *include_paths()]
