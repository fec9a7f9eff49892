"""`study run --threads N --device D`: passed to every cell (the printed plan's commands carry them), checked in
one line, recorded in study.json; and study.json's seed merge under the study record's lock (two `study run`
processes started at once with different --seeds both end up recorded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import cli

REPO = Path(__file__).resolve().parents[2]


def _commands(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("t5eval ")]


def test_plan_commands_carry_threads_and_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # table13: pre-trainings, fine-tunes, ensemble members and ensemble decodes (21 cells with one seed)
    assert cli(["study", "run", "table13", "--scale", "micro", "--seeds", 1, "--out", tmp_path / "s", "--plan",
                "--threads", 3, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    commands = _commands(out)
    assert len(commands) == 21
    for command in commands:
        assert command.count(" --threads ") == 1 and " --threads 3" in command, command  # over the scale's 1
        assert command.count(" --device ") == 1 and " --device cpu" in command, command
    assert "# every cell gets --threads 3 --device cpu" in out
    # without the options the scale's own threads: 1 stays and no --device is added
    assert cli(["study", "run", "table13", "--scale", "micro", "--seeds", 1, "--out", tmp_path / "s", "--plan"]) == 0
    plain = _commands(capsys.readouterr().out)
    assert all(" --threads 1" in c and " --device " not in c for c in plain)
    # the same cells, folders and pre-training names either way: only the two options differ
    assert [c.replace(" --threads 3", " --threads 1").replace(" --device cpu", "") for c in commands] == plain


def test_plan_for_another_machine_may_name_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["study", "run", "table1", "--scale", "micro", "--seeds", 1, "--out", tmp_path / "s", "--plan",
                "--device", "cuda:1"]) == 0
    assert all(" --device cuda:1" in c for c in _commands(capsys.readouterr().out))


@pytest.mark.parametrize(("args", "expected"), [
    (["--device", "gpu", "--plan"], "error: --device 'gpu' is not cpu, cuda, cuda:N or mps"),
    (["--device", "cuda:x", "--plan"], "error: --device 'cuda:x' is not cpu, cuda, cuda:N or mps"),
    (["--threads", "0", "--plan"], "Invalid value for '--threads': Input should be greater than or equal to 1"),
])
def test_a_bad_device_or_thread_count_is_one_error_line(args: list[str], expected: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["study", "run", "table1", "--scale", "micro", "--seeds", 1, "--out", tmp_path / "s", *args]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip(" │╭╰─")]
    assert any(expected in line for line in err), err
    assert not (tmp_path / "s").exists()


def test_running_on_a_device_this_machine_lacks_is_one_error_line(tmp_path: Path, data_dir: Path, vocab_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli(["study", "run", "table1", "--scale", "micro", "--seeds", 1, "--out", tmp_path / "s", "--data-dir",
                data_dir, "--vocab", vocab_path, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --device cuda but CUDA is not available on this machine; use --device cpu"]
    assert not (tmp_path / "s").exists()  # refused before anything is written


def test_study_json_records_the_cell_options(tmp_path: Path, data_dir: Path, vocab_path: Path) -> None:
    out = tmp_path / "s"
    # slice 9/9 of table1's 3 cells is empty: study.json is written, nothing is trained
    assert cli(["study", "run", "table1", "--scale", "micro", "--seeds", 1, "--out", out, "--data-dir", data_dir,
                "--vocab", vocab_path, "--threads", 2, "--device", "cpu", "--cell", "9/9"]) == 0
    assert json.loads((out / "study.json").read_text())["cell_options"] == {"threads": 2, "device": "cpu"}
    assert cli(["study", "run", "table1", "--scale", "micro", "--seeds", 2, "--out", out, "--data-dir", data_dir,
                "--vocab", vocab_path, "--cell", "9/9"]) == 0
    record = json.loads((out / "study.json").read_text())
    assert record["cell_options"] == {} and record["seeds"] == [0, 1]  # the latest run's options; seeds merged


WRITER = """
import sys, time
from pathlib import Path
import t5eval.study.execute as execute
from t5eval.study.plan import StudyPlan
from t5eval.study.schema import Scale, Study

out, seed, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
study = Study.model_validate({"schema": 1, "name": "fake", "title": "Fake", "factor": "f", "baseline": "a",
                              "tasks": ["cb"], "levels": {"a": {"label": "A"}, "b": {"label": "B"}}})
plan = StudyPlan(study, "micro", Scale(description="fake", model="tiny", corpus="x.jsonl"), [seed], out, ["cb"])
write = execute.atomic_write_json
def slow_write(path, record):  # widen the window between reading study.json and writing it back
    time.sleep(0.6)
    write(path, record)
execute.atomic_write_json = slow_write
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
execute.write_study_record(plan, Path("fake.yaml"))
"""


def test_two_processes_adding_different_seeds_at_once_both_end_up_recorded(tmp_path: Path) -> None:
    """Found by review: study.json's seed merge was an unlocked read-merge-write, so two `study run` processes
    started at once with --seeds 1 and --seeds 3 (or two --cell slices of different seeds) could each write back
    what it had read before the other's write, and a seed's cells would be left out of the report."""
    out, go = tmp_path / "study", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(seed), str(go)], env=env,
                              stdout=subprocess.PIPE, text=True) for seed in (3, 7)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.write_text("")
    started = time.monotonic()
    assert [proc.wait(timeout=30) for proc in procs] == [0, 0]
    assert json.loads((out / "study.json").read_text())["seeds"] == [3, 7]
    assert time.monotonic() - started >= 1.2  # the second write waited for the first (2 x 0.6 s)
