"""Progress of long jobs: the plan-and-ETA line, the more-than-a-day hint, plain lines without a terminal."""

from __future__ import annotations

import re

import pytest

from t5eval.errors import T5evalError
from t5eval.run.progress import TrainPlan, TrainReporter, eta_hint, format_duration, progress_every_s
from t5eval.train.loop import TrainState

from .helpers import base_args, cli

PAPER_CPU = TrainPlan("glue_sst2_v002", 262_144, 65_536, "cpu")  # paper defaults on a CPU


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _state(step: int, seconds: float, tokens: int, loss: float | None = 0.5) -> TrainState:
    return TrainState(step=step, train_seconds=seconds, train_tokens=tokens, last_loss=loss)


def test_durations_read_as_people_write_them():
    assert format_duration(45) == "45 s"
    assert format_duration(187) == "3 min 7 s"
    assert format_duration(5 * 3600 + 12 * 60) == "5 h 12 min"
    assert format_duration(234 * 3600) == "9 d 18 h"


def test_the_hint_comes_only_past_a_day_on_cpu():
    # 262,144 steps at 3.2 s/step: 9.7 days -> hint, naming what to change
    hint = eta_hint(262_144 * 3.2, "cpu", 3.2, 65_536)
    assert hint is not None
    assert "more than a day on CPU" in hint and "--steps" in hint and "--batch-tokens" in hint and "GPU" in hint
    assert "1,125 steps" in hint  # 3600 s / 3.2 s per step
    assert eta_hint(262_144 * 3.2, "cuda:0", 3.2, 65_536) is None  # a GPU run is left alone
    assert eta_hint(23 * 3600, "cpu", 1.0, 1024) is None  # under a day
    assert eta_hint(24 * 3600 + 1, "cpu", 1.0, 1024) is not None


def test_the_eta_line_comes_after_the_first_steps_with_plan_and_measured_speed():
    lines: list[str] = []
    reporter = TrainReporter(PAPER_CPU, lines.append, every_s=None, clock=FakeClock())
    reporter(_state(0, 0.0, 0, None))  # before training
    for step in range(1, 20):  # 1.2 s per step: 20 steps come before 30 s
        reporter(_state(step, 1.2 * step, 40_000 * step))
    assert lines == []  # still measuring (20 steps or 30 s)
    reporter(_state(20, 24.0, 800_000))
    assert len(lines) == 2
    assert lines[0] == ("train glue_sst2_v002: planned 262,144 steps x 65,536 tokens = 17,179,869,184 tokens; "
                        "over the first 20 steps 1.2 s/step, 33,333 tok/s, training ETA 3 d 15 h in all")
    assert lines[1].startswith("hint: that is more than a day on CPU")
    reporter(_state(21, 25.2, 840_000))
    assert len(lines) == 2  # said once


def test_a_resumed_run_measures_only_the_steps_it_ran():
    lines: list[str] = []
    plan = TrainPlan("cb", 1000, 1024, "cpu")
    reporter = TrainReporter(plan, lines.append, every_s=None, clock=FakeClock())
    reporter(_state(500, 5000.0, 10**6))  # resumed at step 500 after 5,000 s of slow steps
    reporter(_state(501, 5031.0, 10**6 + 2000))  # one 31 s step: past the 30 s window
    assert lines[0].endswith("over the first 1 steps 31 s/step, 65 tok/s, training ETA 4 h 18 min for the 500 steps "
                             "left after resuming")  # 500 x 31 s


def test_plain_lines_every_n_seconds_with_step_loss_speed_and_eta():
    lines: list[str] = []
    clock = FakeClock()
    plan = TrainPlan("cb", 100, 1024, "cpu")
    reporter = TrainReporter(plan, lines.append, every_s=10.0, clock=clock)
    reporter(_state(0, 0.0, 0, None))
    for step in range(1, 11):  # 1 s per step, wall clock too
        clock.now += 1.0
        reporter(_state(step, float(step), 500 * step, 1.0 / step))
    plain = [line for line in lines if " step " in line]
    assert plain == ["train cb: step 10/100 loss 0.1000 tok/s 500 ETA 1 min 30 s"]
    clock.now += 5.0
    reporter(_state(11, 11.0, 5500, 0.09))
    assert len([line for line in lines if " step " in line]) == 1  # 5 s later: not yet


def test_progress_interval_from_the_environment():
    assert progress_every_s({}) == 30.0
    assert progress_every_s({"T5EVAL_PROGRESS_EVERY_S": "0.5"}) == 0.5
    with pytest.raises(T5evalError, match="T5EVAL_PROGRESS_EVERY_S='soon' is not a number"):
        progress_every_s({"T5EVAL_PROGRESS_EVERY_S": "soon"})


LINE = re.compile(r"^train super_glue_cb_v102: step (\d)/4 loss (\d+\.\d{4}) tok/s ([\d,]+) ETA (\d+ s|\d+ min \d+ s)$")


def test_a_run_without_a_terminal_writes_plain_progress_lines(tmp_path, capsys, monkeypatch, vocab_path,
                                                              data_dir):  # fmt: skip
    monkeypatch.setenv("T5EVAL_PROGRESS_EVERY_S", "0")  # a line after every step
    args = ["run", "cb", "--limit", "2", "--steps", "4", "--eval-every", "4", "--batch-tokens", "256",
            "--max-input-len", "32", *base_args(vocab_path, data_dir), "--out", tmp_path / "run"]  # fmt: skip
    assert cli(args) == 0
    err = capsys.readouterr().err.splitlines()  # pytest's stderr is not a terminal
    steps = [int(m.group(1)) for line in err if (m := LINE.match(line))]
    assert steps == [1, 2, 3, 4], "\n".join(err)
    plan = [line for line in err if line.startswith("train super_glue_cb_v102: planned 4 steps x 256 tokens")]
    assert len(plan) == 1, "\n".join(err)
