"""Crash-safe file helpers: atomic writes, sha256 hashing, append-only JSONL.

A run's results, settings, checkpoints, saved models and best/ folders (`atomic_dir`) go through these,
so a run killed at any point (even `kill -9`) leaves either the old or the new version of such a file,
never half of one; the append-only JSONL cache's torn last line is detected and cut off on open. Not
(yet) through them: `cli/bench_cmds.py`'s outputs and `parity/*`'s JSON (both rewritten by rerunning).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp alone gives 0600


def _fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it survives a power loss (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[str]:
    """Yield a temp path beside `path`; on success fsync it and `os.replace` it into place, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


atomic_path = _atomic_target  # public name: write a file with any writer (e.g. safetensors) atomically


def _fsync_tree(folder: Path) -> None:
    """fsync every file under `folder`, then the folders themselves (before a rename publishes them)."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with open(Path(root) / name, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(root))


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Build a folder as one unit: yields `<path>.tmp/` to write into; on success every file is fsync'd
    and the folder swapped in place of `path` (`path` -> `<path>.old/`, `<path>.tmp/` -> `path`, then the
    old one deleted). A kill leaves the old folder or the new one, never a mix: `recover_swapped_dir`
    settles what a kill mid-swap left. On an exception the temp folder is deleted and `path` is untouched.
    """
    path = Path(path)
    tmp, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


def recover_swapped_dir(path: Path) -> list[Path]:
    """Settle an `atomic_dir` swap a kill interrupted: delete `<path>.tmp/` (unfinished), and put `<path>.old/`
    back when `path` is missing (else delete it). Returns the folders removed or restored."""
    path = Path(path)
    tmp, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    touched = []
    if tmp.is_dir():
        shutil.rmtree(tmp)
        touched.append(tmp)
    if old.is_dir():
        if path.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, path)
        touched.append(old)
    return touched


def finite_json(obj: Any) -> Any:
    """`obj` with every NaN / ±inf float replaced by None, so that it dumps as strict JSON (`null`).

    Python's json writes the non-standard tokens NaN and Infinity, which jq, JavaScript and Go refuse;
    every file t5eval writes goes through this (writers of metrics add the reason beside the null).
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_json(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(value) for value in obj]
    return obj


def json_text(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of `obj` (non-finite floats as null; UTF-8 kept; keys in insertion order)."""
    return json.dumps(finite_json(obj), indent=indent, ensure_ascii=False, allow_nan=False)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same folder, fsync, then `os.replace`."""
    with _atomic_target(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write `obj` as indented JSON (UTF-8, keys in insertion order, final newline)."""
    atomic_write_text(path, json_text(obj) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """Atomically write one compact JSON object per line."""
    lines = [json_text(row, indent=None) + "\n" for row in rows]
    atomic_write_text(path, "".join(lines))


def atomic_torch_save(path: Path, obj: Any) -> None:
    """`torch.save` through a temp file + `os.replace`, so a killed save never leaves a torn checkpoint."""
    import torch

    with _atomic_target(path) as tmp:
        torch.save(obj, tmp)


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex sha256 of `obj` as canonical JSON (sorted keys, no spaces): a stable settings fingerprint."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def repair_jsonl_tail(path: Path) -> int:
    """Cut a torn last line (no final newline, as a killed append leaves it). Returns bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1  # 0 when the only line is torn
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


def iter_jsonl(path: Path) -> Iterator[Any]:
    """Yield the JSON objects of a JSONL file, skipping a torn (unparseable, unterminated) last line."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return  # torn last line of a killed append
            if line.strip():
                yield json.loads(line)


class JsonlAppender:
    """Append-only JSONL writer: each `append` is one line, flushed and fsync'd before returning.

    On open it cuts a torn last line, so a line half-written by a killed process never fuses with the
    next append.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def append_many(self, rows: Iterable[Any]) -> None:
        """Append rows as lines, then flush and fsync once."""
        text = "".join(json_text(row, indent=None) + "\n" for row in rows)
        if not text:
            return
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
