"""`run_cells` with a fake command runner (nothing trained): which cells run, in which order, and the end line.

Found by hand (QA of 2026-12-07): two processes on one study folder both ended with `error: cell X is running
in another process` (exit 2) although X had finished meanwhile; a cell waiting for a pre-training finished later
in the same process was left for a rerun; and a cell another process finished after this one listed its cells
was started again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from t5eval.errors import T5evalError
from t5eval.study.estimate import Estimate
from t5eval.study.execute import run_cells
from t5eval.study.plan import Cell, StudyPlan
from t5eval.study.schema import Scale, Study

STUDY = Study.model_validate({"schema": 1, "name": "fake", "title": "Fake", "factor": "f", "baseline": "a",
                              "tasks": ["cb"], "levels": {"a": {"label": "A"}, "b": {"label": "B"}}})
SCALE = Scale(description="fake", model="tiny", corpus="x.jsonl")


def _finish(out: Path, name: str) -> None:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if name.startswith("pretrain/"):
        (folder / "pretrain.json").write_text("{}")
    else:
        (folder / "run.json").write_text(json.dumps({"status": "complete"}))


def _plan(out: Path, cells: list[Cell]) -> StudyPlan:
    return StudyPlan(STUDY, "micro", SCALE, [0], out, ["cb"], cells=cells)


def _runner(out: Path, ran: list[str], side_effects: dict[str, str] | None = None):
    """A fake `t5eval` that finishes the cell named by its --out (and, as another process would, `side_effects`)."""

    def execute(argv: Sequence[str]) -> int:
        name = str(Path(argv[argv.index("--out") + 1]).relative_to(out))
        ran.append(name)
        _finish(out, name)
        if side_effects and name in side_effects:
            _finish(out, side_effects[name])
        return 0

    return execute


def _estimate(out: Path) -> Estimate:
    return Estimate({n: 1.0 for n in ("runs/a_s0", "pretrain/default_s0", "pretrain/p_s0", "pretrain/q_s0")}, "fake")


def _cell(out: Path, kind: str, name: str, needs: tuple[str, ...] = ()) -> Cell:
    return Cell(kind, name, 0, (kind, "--out", str(out / name)), ("a",), needs)


def test_a_cell_waiting_for_a_pretraining_finished_later_in_the_same_slice_runs_in_the_second_pass(
        tmp_path: Path) -> None:
    run = _cell(tmp_path, "run", "runs/a_s0", needs=("pretrain/default_s0",))
    pre = _cell(tmp_path, "pretrain", "pretrain/default_s0")
    ran: list[str] = []
    run_cells(_plan(tmp_path, [run, pre]), [run, pre], _runner(tmp_path, ran), _estimate(tmp_path), lambda _: None)
    assert ran == ["pretrain/default_s0", "runs/a_s0"]


def test_a_cell_finished_by_another_process_meanwhile_is_not_started_again(tmp_path: Path) -> None:
    first, second = _cell(tmp_path, "pretrain", "pretrain/p_s0"), _cell(tmp_path, "pretrain", "pretrain/q_s0")
    ran: list[str] = []
    execute = _runner(tmp_path, ran, side_effects={"pretrain/p_s0": "pretrain/q_s0"})  # "another process" did q
    run_cells(_plan(tmp_path, [first, second]), [first, second], execute, _estimate(tmp_path), lambda _: None)
    assert ran == ["pretrain/p_s0"]


def test_a_cell_still_waiting_at_the_end_is_one_error_line(tmp_path: Path) -> None:
    run = _cell(tmp_path, "run", "runs/a_s0", needs=("pretrain/other_s0",))  # another slice's pre-training
    with pytest.raises(T5evalError) as err:
        run_cells(_plan(tmp_path, [run]), [run], _runner(tmp_path, []), _estimate(tmp_path), lambda _: None)
    assert str(err.value) == ("cell runs/a_s0 waits for pretrain/other_s0, not finished: rerun this command once "
                              "it has finished")


HOLDER = """
import fcntl, pathlib, sys, time
out, name = pathlib.Path(sys.argv[1]), sys.argv[2]
(out / ".locks").mkdir(parents=True, exist_ok=True)
handle = open(out / ".locks" / (name.replace("/", "__") + ".lock"), "a+")
fcntl.lockf(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(1.5)
(out / name).mkdir(parents=True, exist_ok=True)
(out / name / "pretrain.json").write_text("{}")
"""


def _hold(out: Path, name: str):
    """Another process running cell `name`: holds its lock 1.5 s, then finishes it."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), name], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_cell_another_process_is_running_is_waited_for_not_reported(tmp_path: Path) -> None:
    """Found by hand: two `study run` of one study at once; the first ended with `error: cell runs/bert_s0 is
    running in another process` (exit 2) while the other was finishing it."""
    pre = _cell(tmp_path, "pretrain", "pretrain/default_s0")
    run = _cell(tmp_path, "run", "runs/a_s0", needs=("pretrain/default_s0",))
    holder = _hold(tmp_path, "pretrain/default_s0")
    ran: list[str] = []
    logged: list[str] = []
    run_cells(_plan(tmp_path, [pre, run]), [pre, run], _runner(tmp_path, ran), _estimate(tmp_path), logged.append)
    assert holder.wait(timeout=10) == 0
    assert ran == ["runs/a_s0"]  # the pre-training was the other process's; its fine-tune then ran here
    assert "waiting for cell pretrain/default_s0: another process is running it" in logged
