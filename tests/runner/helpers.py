"""Shared helpers for the runner tests: run the CLI in-process and read a run's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5eval.cli import main


def cli(args: list[str]) -> int:
    """Run `t5eval ARGS` in this process; returns the exit status."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


def base_args(vocab: Path, data_dir: Path) -> list[str]:
    """A seeded random tiny model with the shared vocab and data; one thread (the CPU is shared)."""
    return ["--model", "tiny", "--init", "random", "--vocab", str(vocab), "--data-dir", str(data_dir),
            "--threads", "1"]


def read_jsonl(path: Path) -> list[dict]:
    """All lines of a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_json(path: Path) -> dict:
    """A JSON file."""
    return json.loads(path.read_text())
