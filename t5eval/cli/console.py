"""Rich consoles of the CLI (tables on stdout)."""

from __future__ import annotations

import os
import sys
from typing import Any

PIPED_WIDTH = 240  # Rich tables written to a file or pipe: wide enough for every column of the run summary


def stdout_console() -> Any:
    """A Rich console for tables on stdout: the terminal's width, or wide enough that no column is cut
    when stdout is a file or a pipe (Rich would assume 80 columns); `COLUMNS` still wins when set."""
    from rich.console import Console

    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(width=PIPED_WIDTH if piped else None)
