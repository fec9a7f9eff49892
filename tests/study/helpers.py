"""Run the CLI in-process for the study tests."""

from __future__ import annotations

import pytest

from t5eval.cli import main


def cli(args: list) -> int:
    """Run `t5eval ARGS` in this process; returns the exit status."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)
