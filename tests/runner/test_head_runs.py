"""Task-head runs on the one fine-tuning skeleton: kill -9 and resume, --steps/--eval-every with the progress
lines of text-to-text runs, and run.json with the same keys as a text-to-text run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SHARED

from .helpers import cli, read_json, read_jsonl

SST2 = "glue_sst2_v002"
BERT_VOCAB = SHARED / "vocab" / "bert-base-uncased" / "vocab.txt"
REPO = Path(__file__).resolve().parents[2]


def head_args(data_dir: Path, out: Path, steps: int = 24, eval_every: int = 4) -> list[str]:
    """A random tiny BERT with adapters on SST-2: 24 training examples, 16 eval examples, batches of 4."""
    return ["run", "sst2", "--model", "tiny-bert", "--init", "random", "--vocab", str(BERT_VOCAB),
            "--data-dir", str(data_dir), "--threads", "1", "--device", "cpu", "--transfer", "adapters:8",
            "--steps", str(steps), "--eval-every", str(eval_every), "--batch-size", "4", "--train-limit", "24",
            "--limit", "16", "--lr", "1e-3", "--max-len", "32", "--out", str(out)]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "T5EVAL_PROGRESS_EVERY_S": "0"}
    return subprocess.Popen([sys.executable, "-m", "t5eval", *args], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_head_run_killed_after_its_first_checkpoint_resumes_to_the_same_predictions_and_weights(
        data_dir: Path, tmp_path: Path) -> None:
    out, reference = tmp_path / "killed", tmp_path / "reference"
    proc = _start(head_args(data_dir, out))
    ckpt = out / SST2 / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert ckpt.exists() and not (out / SST2 / "result.json").exists()  # killed mid-training, after a checkpoint

    resumed = _start(head_args(data_dir, out))
    log = resumed.communicate()[0]
    assert resumed.returncode == 0, log
    assert f"{SST2}: resuming fine-tuning from {ckpt}" in log and "fine-tuning resumed at step(s)" in log
    assert "steps left after resuming" in log  # the ETA counts only the steps this process runs

    assert cli(head_args(data_dir, reference)) == 0
    assert read_jsonl(out / SST2 / "predictions.jsonl") == read_jsonl(reference / SST2 / "predictions.jsonl")
    best, ref_best = out / SST2 / "best" / "head_model.safetensors", reference / SST2 / "best" / "head_model.safetensors"
    assert best.read_bytes() == ref_best.read_bytes()
    task, ref_task = read_json(out / "run.json")["tasks"][SST2], read_json(reference / "run.json")["tasks"][SST2]
    assert task["best_step"] == ref_task["best_step"] and task["history"] == ref_task["history"]
    assert task["train"]["resumed_from_steps"] and not ref_task["train"]["resumed_from_steps"]
    assert not ckpt.exists()  # a finished task keeps only its best weights


def test_head_run_honours_steps_and_eval_every_with_the_text_to_text_progress_lines(
        data_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("T5EVAL_PROGRESS_EVERY_S", "0")
    out = tmp_path / "run"
    assert cli(head_args(data_dir, out, steps=6, eval_every=3)) == 0
    err = capsys.readouterr().err
    task = read_json(out / "run.json")["tasks"][SST2]
    assert task["train"]["steps"] == 6 and [h["step"] for h in task["history"]] == [3, 6]
    assert task["train"]["eval_every"] == 3
    # the plan line of a fresh run ("in all", not "steps left after resuming") and a plain line per step
    assert f"train {SST2}: planned 6 steps x 128 tokens = 768 tokens;" in err and "training ETA" in err
    assert "in all" in err and "after resuming" not in err
    assert all(f"train {SST2}: step {s}/6 loss" in err for s in range(1, 7))


def test_head_run_json_has_the_keys_of_a_text_to_text_run(finetuned: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli(head_args(data_dir, out, steps=2, eval_every=2)) == 0
    head, text = read_json(out / "run.json"), read_json(finetuned / "run.json")
    assert set(head) == set(text)
    assert set(head["settings"]) == set(text["settings"]) and set(head["vocab"]) >= {"path", "sha256"}
    head_task, text_task = head["tasks"][SST2], next(iter(text["tasks"].values()))
    assert set(head_task) - {"undefined_metrics"} == set(text_task) - {"undefined_metrics"}
    assert head["settings"]["finetune"]["lr"] == 1e-3 and head["settings"]["finetune"]["weight_decay"] == 0.01


def test_ctrl_c_in_a_head_run_finishes_the_step_checkpoints_and_resumes_there(
        data_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from t5eval.train.head_step import HeadBatches

    real_next = HeadBatches.next_batch
    seen = {"batches": 0}

    def next_batch_then_ctrl_c(self: HeadBatches) -> list[int]:
        seen["batches"] += 1
        if seen["batches"] == 2:  # during step 2, which is no validation step
            signal.raise_signal(signal.SIGINT)
        return real_next(self)

    monkeypatch.setattr(HeadBatches, "next_batch", next_batch_then_ctrl_c)
    out = tmp_path / "run"
    assert cli(head_args(data_dir, out, steps=6, eval_every=3)) == 130
    err = capsys.readouterr().err
    assert "interrupted: finished work is saved in" in err and "resume with:" in err
    assert (out / SST2 / "checkpoint.pt").exists() and not (out / SST2 / "result.json").exists()
    monkeypatch.setattr(HeadBatches, "next_batch", real_next)
    assert cli(head_args(data_dir, out, steps=6, eval_every=3)) == 0
    err = capsys.readouterr().err
    assert "fine-tuning resumed at step(s) [2], not redone" in err
    assert read_json(out / "run.json")["tasks"][SST2]["train"]["resumed_from_steps"] == [2]
