"""Helpers for the tasks tests: run the CLI in-process and capture its exit code."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from t5eval.cli import main


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """cli("score", "rte", ...) -> (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
