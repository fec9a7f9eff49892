"""What a run shows while it works: rich progress bars with ETA on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class RunProgress:
    """rich progress bars with ETA for training and decoding; a no-op when `console` is None."""

    def __init__(self, console: Any | None) -> None:
        self._progress = None
        self._train_id: Any = None
        if console is not None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
            )  # fmt: skip

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def training(self, label: str, total: int) -> Callable[[int, float], None]:
        """Add a training bar; returns `update(step, loss)`."""
        if self._progress is None:
            return lambda step, loss: None
        bar = self._progress.add_task(f"train {label}", total=total, info="")
        self._train_id = bar
        progress = self._progress
        return lambda step, loss: progress.update(bar, completed=step, info=f"loss {loss:.3f}")

    def done_training(self) -> None:
        """Remove the finished training bar."""
        if self._progress is not None and self._train_id is not None:
            self._progress.remove_task(self._train_id)
            self._train_id = None

    @contextmanager
    def decoding(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A transient decode bar; yields `advance(n)`."""
        if self._progress is None:
            yield lambda n: None
            return
        bar = self._progress.add_task(f"decode {label}", total=total, info="")
        progress = self._progress
        try:
            yield lambda n: progress.advance(bar, n)
        finally:
            progress.remove_task(bar)
