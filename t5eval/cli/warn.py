"""Warnings as users see them: `warning: <message>` on stderr, one line, each distinct message once.

Python's own format (file path, line number, source line) and its per-code-location repetition are
for developers; every command shows warnings through `one_line_warnings` (set up in `main`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import typer

HIDDEN: tuple[type[Warning], ...] = (DeprecationWarning, PendingDeprecationWarning)  # for library authors


@contextmanager
def one_line_warnings(hidden: tuple[type[Warning], ...] = HIDDEN) -> Iterator[set[str]]:
    """Within the block, show each distinct warning message once as `warning: …`, as it is raised.

    Yields the set of messages shown so far.
    """
    shown: set[str] = set()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        text = " ".join(str(message).split())
        if issubclass(category, hidden) or text in shown:
            return
        shown.add(text)
        typer.secho(f"warning: {text}", fg=typer.colors.YELLOW, err=True)

    with warnings.catch_warnings():  # the filters in force stay (libraries' ignores, Python's defaults)
        warnings.showwarning = show
        yield shown


