"""A `micro` study end to end: 2 levels sharing one pre-training per seed x 2 seeds (2 pre-training + 4 fine-tune
cells), killed with SIGKILL once a fine-tune cell has finished, then rerun: it completes without redoing the
finished cells, and the report has both levels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from t5eval.study.execute import cell_done

from .helpers import cli

REPO = Path(__file__).resolve().parents[2]
STUDY = """schema: 1
name: micro_pair
title: "Two transfer approaches on one pre-training"
factor: transfer approach
baseline: all
tasks: [rte]
levels:
  all: {label: "All parameters", run: {transfer: all}}
  frozen: {label: "Frozen body", run: {transfer: frozen}}
"""
CELLS = ["pretrain/default_s0", "runs/all_s0", "runs/frozen_s0", "pretrain/default_s1", "runs/all_s1",
         "runs/frozen_s1"]


def _marker(out: Path, name: str) -> Path:
    return out / name / ("pretrain.json" if name.startswith("pretrain/") else "run.json")


def test_micro_study_survives_kill_9_and_finishes_without_redoing_cells(tmp_path: Path, data_dir: Path,
                                                                        vocab_path: Path, capsys) -> None:
    study_file = tmp_path / "micro_pair.yaml"
    study_file.write_text(STUDY)
    out = tmp_path / "study"
    args = ["study", "run", str(study_file), "--scale", "micro", "--seeds", "2", "--out", str(out),
            "--data-dir", str(data_dir), "--vocab", str(vocab_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "t5eval", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not cell_done(out, "runs/all_s0") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {name: _marker(out, name).stat().st_mtime_ns for name in CELLS if cell_done(out, name)}
    assert {"pretrain/default_s0", "runs/all_s0"} <= set(finished)
    assert len(finished) < len(CELLS), "killed too late: nothing left to resume"

    assert cli(args) == 0
    err = capsys.readouterr().err
    assert f"{len(finished)} of 6 cells already finished: skipped" in err
    assert all(cell_done(out, name) for name in CELLS)
    assert {name: _marker(out, name).stat().st_mtime_ns for name in finished} == finished  # not redone
    # one pre-training per seed, shared by both levels; the cell is the plain command's folder
    assert sorted(p.name for p in (out / "pretrain").iterdir()) == ["default_s0", "default_s1"]
    record = json.loads((out / "runs/frozen_s1/run.json").read_text())
    assert record["command"][:4] == ["t5eval", "run", "cb", "--model"]  # micro runs CB (scales.yaml)
    assert record["command"][4] == str(out / "pretrain/default_s1")

    report = tmp_path / "report.md"
    assert cli(["study", "report", out, "--out", report, "--bootstrap", 100]) == 0
    text = report.read_text()
    assert "| All parameters | 2 |" in text and "| Frozen body | 2 |" in text
    assert "Frozen body | " in text.split("## Paired differences", 1)[1]
    assert (tmp_path / "report_forest.png").exists()


def test_a_slice_whose_fine_tune_waits_for_another_slices_pretraining_refuses_in_one_line(
        tmp_path: Path, data_dir: Path, vocab_path: Path, capsys) -> None:
    study_file = tmp_path / "micro_pair.yaml"
    study_file.write_text(STUDY)
    out = tmp_path / "study"
    # one seed: cells [pretrain/default_s0, runs/all_s0, runs/frozen_s0]; slice 2/2 = [runs/all_s0]
    assert cli(["study", "run", study_file, "--scale", "micro", "--seeds", 1, "--out", out, "--data-dir", data_dir,
                "--vocab", vocab_path, "--cell", "2/2"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert err == ["error: cell runs/all_s0 waits for pretrain/default_s0, not finished: rerun this command once it has finished"]
    assert not (out / "runs").exists()  # nothing ran


def test_an_empty_slice_says_so(tmp_path: Path, data_dir: Path, vocab_path: Path, capsys) -> None:
    """Found by hand: `--cell 20/20` of an 8-cell study printed `all cells finished` and ran nothing."""
    study_file = tmp_path / "micro_pair.yaml"
    study_file.write_text(STUDY)
    out = tmp_path / "study"
    assert cli(["study", "run", study_file, "--scale", "micro", "--seeds", 1, "--out", out, "--data-dir", data_dir,
                "--vocab", vocab_path, "--cell", "5/5"]) == 0
    assert ("slice 5/5 holds no cell (the study has 3 cells, so slices past 3 are empty); nothing to do"
            in capsys.readouterr().out)
    assert not (out / "runs").exists() and not (out / "pretrain").exists()
