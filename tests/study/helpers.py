"""Run the CLI in-process for the study tests."""

from __future__ import annotations

import pytest

from t5eval.cli import main


def cli(args: list) -> int:
    """Run `t5eval ARGS` in this process; returns the exit status."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


def md_table(text: str, heading: str) -> dict[str, list[str]]:
    """The Markdown table under `heading` in a report: first cell of each row -> the row's other cells."""
    block = text.split(heading, 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]
    return {r[0]: r[1:] for r in rows}
