"""What a run shows while it works: rich progress bars on a terminal, plain lines in logs.

Before fine-tuning goes far, one line states the plan (steps, tokens) and the ETA measured over the
first steps, with a hint when that is more than a day on CPU. Without a terminal (stdout/stderr
redirected to a file, a cluster or CI log) there are no bars: a plain line (step, loss, tok/s,
ETA) is written every `T5EVAL_PROGRESS_EVERY_S` seconds (default 30) so the log shows life.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from t5eval.errors import T5evalError
from t5eval.train.throughput import format_duration

PROGRESS_EVERY_ENV = "T5EVAL_PROGRESS_EVERY_S"
DEFAULT_PROGRESS_EVERY_S = 30.0
ETA_WINDOW_STEPS = 20  # the ETA line comes after this many steps of this process ...
ETA_WINDOW_S = 30.0  # ... or this many seconds of training, whichever is first
DAY_S = 24 * 3600.0
Emit = Callable[[str], None]


@dataclass(frozen=True)
class TrainPlan:
    """What one fine-tuning will do: its label, optimizer steps, padded tokens per step, device."""

    label: str
    steps: int
    tokens_per_step: int  # --batch-tokens x --grad-accum: the global batch's padded-token budget
    device: str


def progress_every_s(environ: dict[str, str] | None = None) -> float:
    """Seconds between plain progress lines: `T5EVAL_PROGRESS_EVERY_S`, else 30; refuses a bad value."""
    raw = (os.environ if environ is None else environ).get(PROGRESS_EVERY_ENV, "").strip()
    if not raw:
        return DEFAULT_PROGRESS_EVERY_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise T5evalError(f"{PROGRESS_EVERY_ENV}={raw!r} is not a number of seconds >= 0; "
                          f"unset it for the default {DEFAULT_PROGRESS_EVERY_S:g}")
    return value


def eta_hint(eta_s: float, device: str, seconds_per_step: float, tokens_per_step: int) -> str | None:
    """What to change when training would take more than a day on CPU; None otherwise."""
    if eta_s <= DAY_S or not device.startswith("cpu"):
        return None
    steps_per_hour = max(1, int(3600 / seconds_per_step)) if seconds_per_step > 0 else 1
    return (f"hint: that is more than a day on CPU; at this speed one hour is about {steps_per_hour:,} steps: "
            f"lower --steps, or --batch-tokens (now {tokens_per_step:,} per step), or use a GPU (--device cuda)")


class TrainingState(Protocol):
    """What the display reads after each step: `train.loop.TrainState` has it (every family trains through `train.loop.finetune`)."""

    @property
    def step(self) -> int: ...
    @property
    def train_tokens(self) -> int: ...
    @property
    def train_seconds(self) -> float: ...
    @property
    def last_loss(self) -> float | None: ...


class TrainReporter:
    """The training callback: the plan-and-ETA line once, then (if `every_s` is set) plain lines.

    Called with the training state before the first step and after every step; speeds are measured over
    the steps this process ran (a resumed run does not count the steps it did not redo).
    """

    def __init__(self, plan: TrainPlan, emit: Emit, every_s: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.plan, self.emit, self.every_s, self.clock = plan, emit, every_s, clock
        self._start: tuple[int, int, float] | None = None  # (step, tokens, train seconds) at the first call
        self._announced = False
        self._last_line = 0.0

    def __call__(self, state: TrainingState) -> None:
        if self._start is None:
            self._start = (state.step, state.train_tokens, state.train_seconds)
            self._last_line = self.clock()
            return
        steps, tokens, seconds = (state.step - self._start[0], state.train_tokens - self._start[1],
                                  state.train_seconds - self._start[2])  # fmt: skip
        if steps <= 0:
            return
        seconds_per_step = seconds / steps
        eta_s = (self.plan.steps - state.step) * seconds_per_step
        tok_s = tokens / seconds if seconds > 0 else 0.0
        if not self._announced and (steps >= ETA_WINDOW_STEPS or seconds >= ETA_WINDOW_S
                                    or state.step >= self.plan.steps):
            self._announced = True
            to_run = self.plan.steps - self._start[0]  # a resumed run does not redo the steps before
            self.emit(self.plan_line(steps, tok_s, seconds_per_step, to_run))
            if (hint := eta_hint(to_run * seconds_per_step, self.plan.device, seconds_per_step,
                                 self.plan.tokens_per_step)) is not None:
                self.emit(hint)
        now = self.clock()
        if self.every_s is not None and now - self._last_line >= self.every_s:
            self._last_line = now
            loss = "n/a" if state.last_loss is None else f"{state.last_loss:.4f}"
            self.emit(f"train {self.plan.label}: step {state.step:,}/{self.plan.steps:,} loss {loss} "
                      f"tok/s {tok_s:,.0f} ETA {format_duration(eta_s)}")

    def plan_line(self, steps: int, tok_s: float, seconds_per_step: float, to_run: int) -> str:
        """'train X: planned N steps x T tokens = M tokens; over the first S steps ...; training ETA ...'."""
        plan = self.plan
        left = "in all" if to_run == plan.steps else f"for the {to_run:,} steps left after resuming"
        return (f"train {plan.label}: planned {plan.steps:,} steps x {plan.tokens_per_step:,} tokens "
                f"= {plan.steps * plan.tokens_per_step:,} tokens; over the first {steps:,} steps "
                f"{seconds_per_step:.3g} s/step, {tok_s:,.0f} tok/s, training ETA "
                f"{format_duration(to_run * seconds_per_step)} {left}")


class RunProgress:
    """Progress of a run on `console`: bars on a terminal, plain lines otherwise; nothing when None."""

    def __init__(self, console: Any | None, every_s: float | None = None) -> None:
        self._console = console
        self._progress = None
        self._train_id: Any = None
        self._every_s = every_s if every_s is not None else progress_every_s()
        if console is not None and console.is_terminal:
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

    def _emit(self, line: str) -> None:
        if self._console is not None:
            self._console.print(line, markup=False, highlight=False, soft_wrap=True)

    def training(self, plan: TrainPlan) -> Callable[[TrainingState], None]:
        """The fine-tuning callback: the ETA line, and a bar (terminal) or plain lines (no terminal)."""
        if self._console is None:
            return lambda state: None
        reporter = TrainReporter(plan, self._emit, None if self._progress is not None else self._every_s)
        if self._progress is None:
            return reporter
        progress = self._progress
        bar = self._train_id = progress.add_task(f"train {plan.label}", total=plan.steps, info="")

        def update(state: TrainingState) -> None:
            reporter(state)
            progress.update(bar, completed=state.step, info=f"loss {state.last_loss or 0.0:.3f}")

        return update

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
