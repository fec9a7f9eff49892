"""User-facing errors: one line, naming the thing that is wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class T5evalError(Exception):
    """An error caused by user input (a path, a name, a file's content).

    The CLI prints `error: <message>` on one line and exits with status 2; it never shows a
    traceback for these. Raise it with a message that names the file/row/name and the fix.
    """


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ' (did you mean X, Y?)' for the closest choices, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""
