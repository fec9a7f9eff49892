"""`t5eval run` end to end on the tiny preset: the record, resume after SIGKILL, refusals, errors."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from sklearn.metrics import f1_score

from .conftest import CB, FT_ARGS
from .helpers import base_args, cli, read_json, read_jsonl

REPO = Path(__file__).resolve().parents[2]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_writes_a_recomputable_record(finetuned, vocab_path, data_dir):
    run = read_json(finetuned / "run.json")
    task = run["tasks"][CB]
    assert run["schema"] == 1 and run["status"] == "complete" and run["command"][:3] == ["t5eval", "run", "cb"]
    assert run["model"]["source"] == "tiny" and run["model"]["init"] == "random"
    assert run["model"]["variant"] == "v1.0" and run["model"]["config"]["d_model"] == 64
    assert len(run["model"]["weights_sha256"]) == 64
    assert run["vocab"]["sha256"] == _sha(vocab_path)
    val = (data_dir / "superglue" / "CB" / "val.jsonl").resolve()  # absolute, as settings.json's data_dir
    assert task["data_files"] == {str(val): _sha(val)}
    assert task["task_def"]["sha256"] == _sha(REPO / "task_defs" / "super_glue" / "cb.yaml")
    assert task["decode"] == {"beam_size": 1, "alpha": 0.6, "max_decode_len": 128, "eval_inputs_truncated": False}
    assert run["settings"]["seed"] == 3 and run["settings"]["finetune"]["steps"] == 4
    assert run["settings"]["finetune"]["optimizer"] == "torch.optim.Adafactor"
    assert task["train"]["optimizer"]["lr"] == 1e-3 and task["train"]["max_input_len"] == 48
    # packed 512-token rows by default, as T5 fine-tuned (docs/train.md)
    assert run["settings"]["finetune"]["pack_length"] == 512 and task["train"]["pack_length"] == 512
    assert run["env"]["packages"]["torch"] == torch.__version__
    assert run["env"]["git_commit"] is None or len(run["env"]["git_commit"].split("+")[0]) == 40
    assert set(task["metric_settings"]["metrics"]) == {"mean_3class_f1", "accuracy"}
    assert task["throughput"]["train_tokens_per_s"] > 0 and task["throughput"]["decode_tokens_per_s"] > 0


def test_predictions_match_the_data_and_recompute_the_metrics(finetuned, data_dir):
    rows = read_jsonl(finetuned / CB / "predictions.jsonl")
    raw = [json.loads(line) for line in (data_dir / "superglue" / "CB" / "val.jsonl").read_text().splitlines()[:4]]
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    assert [r["target"] for r in rows] == [x["label"] for x in raw]  # contradiction, neutral, entailment, ...
    classes = ["entailment", "contradiction", "neutral"]  # spec §2 CB class order
    assert [r["target_value"] for r in rows] == [classes.index(x["label"]) for x in raw]
    assert rows[0]["inputs"] == f"cb hypothesis: {raw[0]['hypothesis']} premise: {raw[0]['premise']}"
    targets, preds = [r["target_value"] for r in rows], [r["prediction_value"] for r in rows]
    accuracy = 100 * sum(t == p for t, p in zip(targets, preds, strict=True)) / 4
    f1 = 100 * f1_score(targets, preds, labels=[0, 1, 2], average="macro", zero_division=0)
    metrics = read_json(finetuned / CB / "metrics.json")
    assert metrics["n"] == 4 and metrics["split"] == "validation"
    assert metrics["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert metrics["metrics"]["mean_3class_f1"] == pytest.approx(f1)


def test_best_checkpoint_is_kept_and_reproduces_its_validation_score(finetuned):
    task = read_json(finetuned / "run.json")["tasks"][CB]
    history = {h["step"]: h["metrics"] for h in task["history"]}
    assert sorted(history) == [2, 4]
    mean = {s: sum(m.values()) / len(m) for s, m in history.items()}
    assert task["best_step"] == (2 if mean[2] >= mean[4] else 4)  # metric_group_max, earlier step on ties
    assert task["metrics"] == history[task["best_step"]]  # final eval of best/ == its validation
    assert (finetuned / CB / "best" / "model.safetensors").exists()
    assert not (finetuned / CB / "checkpoint.pt").exists()
    # two validations decoded 4 examples each; the final evaluation came from the cache
    assert task["throughput"]["decoded_examples"] == 8 and task["throughput"]["cached_examples"] == 4


def test_sigkill_mid_training_resumes_to_the_same_result(finetuned, tmp_path, vocab_path, data_dir):
    out = tmp_path / "killed"
    args = ["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "t5eval", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = out / CB / "checkpoint.pt"
    deadline = time.time() + 240
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "run.json").exists()
    assert cli(args) == 0
    task = read_json(out / "run.json")["tasks"][CB]
    assert task["train"]["resumed_from_steps"] in ([2], [4])  # training was not redone from step 0
    reference = read_json(finetuned / "run.json")["tasks"][CB]
    assert task["history"] == reference["history"] and task["metrics"] == reference["metrics"]
    assert read_jsonl(out / CB / "predictions.jsonl") == read_jsonl(finetuned / CB / "predictions.jsonl")


def test_other_settings_in_the_out_dir_are_refused(finetuned, vocab_path, data_dir, capsys):
    changed = [a if a != "4" else "5" for a in FT_ARGS]  # --limit 5 --steps 5
    assert cli(["run", *changed, *base_args(vocab_path, data_dir), "--out", finetuned]) == 2
    err = capsys.readouterr().err
    assert "different settings (finetune.steps: 4 there, 5 now)" in err
    assert "--overwrite" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_same_command_on_a_finished_run_does_nothing_again(finetuned, vocab_path, data_dir, capsys):
    before = (finetuned / "run.json").read_text()
    assert cli(["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", finetuned]) == 0
    assert (finetuned / "run.json").read_text() == before
    assert "already holds this finished run" in capsys.readouterr().err


def test_a_finished_run_from_another_commit_is_reused_with_a_warning(finetuned, tmp_path, vocab_path, data_dir,
                                                                      capsys, monkeypatch):
    import json
    import shutil

    import t5eval.results.environment

    out = tmp_path / "copy"
    shutil.copytree(finetuned, out)
    record = json.loads((out / "run.json").read_text())
    record["env"]["git_commit"] = "0" * 40
    (out / "run.json").write_text(json.dumps(record))
    monkeypatch.setattr(t5eval.results.environment, "git_commit", lambda: "f" * 40)
    assert cli(["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", out]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "made by commit 000000000000 (this checkout: ffffffffffff)" in err and "--overwrite" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "glue_cloa", "--model", "tiny", "--init", "random"], "did you mean"),
        (["run", "cb", "--model", "tny", "--init", "random"], "tiny"),
        (["run", "cb", "--model", "tiny", "--init", "randm"], "random"),
        (["run", "cb", "--model", "tiny", "--steps", "0"], "--steps"),
        (["run", "cb", "--model", "tiny"], "add --init random"),  # a preset has no pretrained weights
        (["run", "cb", "--model", "tiny-lm", "--init", "random", "--pack"], "drop --pack"),  # decoder-only
        (["run", "cb", "--model", "tiny", "--init", "random", "--no-finetune", "--pack"], "drop --pack"),
        (["run", "cb", "--model", "tiny-bert", "--init", "random", "--pack"], "--pack is a text-to-text"),
    ],
)
def test_bad_input_is_one_line(args, message, vocab_path, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli([*args, "--vocab", vocab_path, "--data-dir", data_dir, "--out", tmp_path / "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1


def test_unreachable_hub_model_fails_before_writing_anything(tmp_path, vocab_path, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "x"
    assert cli(["run", "cb", "--model", "google/t5-v1_1-small", "--vocab", vocab_path, "--data-dir", data_dir,
                "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "google/t5-v1_1-small" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_out_of_memory_suggests_lowering_batch_tokens(tmp_path, vocab_path, data_dir, monkeypatch, capsys):
    import t5eval.model as model_pkg

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model_pkg, "generate", oom)
    args = ["run", "sst2", "--no-finetune", "--limit", "1", *base_args(vocab_path, data_dir), "--out", tmp_path / "x"]
    assert cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert "out of memory" in err and "lower --batch-tokens" in err and len(err.splitlines()) == 1


def test_default_out_is_a_readable_run_id_and_the_same_command_reuses_it(tmp_path, vocab_path, data_dir,
                                                                         monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["run", "sst2", "--no-finetune", "--limit", "1", *base_args(vocab_path, data_dir)]
    assert cli(args) == 0
    runs = list((tmp_path / "results").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("_tiny_sst2") and runs[0].name[:8].isdigit()
    assert cli(args) == 0
    assert "already holds this finished run" in capsys.readouterr().err
    assert list((tmp_path / "results").iterdir()) == runs
