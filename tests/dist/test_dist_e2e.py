"""`torchrun --nproc-per-node 2 -m t5eval run …` equals one process (slow: fresh processes).

`--fsdp` (FSDP2 sharded training, Adafactor on gathered tensors) equals the DDP run: same predictions,
metrics and best step, training losses and best weights to float rounding (reduce-scatter order).

Fine-tuning (4 Adafactor steps, dropout 0.1, --grad-accum 2): 2 ranks against 1 rank under torchrun.
Both take the distributed path, whose dropout masks come from per-micro-batch seeds, so validation
losses, best weights and every prediction must match. Evaluation only (--no-finetune) is compared
with a plain run; plain vs torchrun fine-tuning is covered by tests/runner/test_plain_vs_torchrun.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
TASK = "super_glue_cb_v102"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _args(vocab: Path, data: Path, out: Path, grad_accum: int = 2, *extra: str) -> list[str]:
    return ["run", "cb", "--model", "tiny", "--init", "random", "--vocab", str(vocab), "--data-dir", str(data),
            "--threads", "1", "--limit", "16", "--steps", "4", "--eval-every", "2", "--grad-accum",
            str(grad_accum), "--batch-tokens", "256", "--max-input-len", "48", "--seed", "3", "--out", str(out),
            *extra]


def _command(args: list[str], nproc: int | None = None, *launch: str) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), *launch]
    return [*(launcher if nproc else [sys.executable]), "-m", "t5eval", *args]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _t5eval(args: list[str], nproc: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(args, nproc), cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=400)


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / TASK / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, vocab_path: Path, data_dir: Path) -> dict:
    out = tmp_path_factory.mktemp("e2e")
    procs = {
        "single": _t5eval(_args(vocab_path, data_dir, out / "single"), nproc=1),
        "ddp": _t5eval(_args(vocab_path, data_dir, out / "ddp"), nproc=2),
        "fsdp": _t5eval(_args(vocab_path, data_dir, out / "fsdp", 2, "--fsdp"), nproc=2),
        "plain_eval": _t5eval(_args(vocab_path, data_dir, out / "plain_eval", 2, "--no-finetune")),
        "ddp_eval": _t5eval(_args(vocab_path, data_dir, out / "ddp_eval", 2, "--no-finetune"), nproc=2),
    }
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
    return {"out": out, **procs}


def test_predictions_and_training_equal_one_process(runs: dict) -> None:
    single, ddp = runs["out"] / "single", runs["out"] / "ddp"
    assert len(_rows(single)) == 16 and _rows(ddp) == _rows(single)
    one = json.loads((single / "run.json").read_text())["tasks"][TASK]
    two = json.loads((ddp / "run.json").read_text())["tasks"][TASK]
    assert [h["step"] for h in two["history"]] == [2, 4]
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["metrics"] == a["metrics"] and b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
    assert two["metrics"] == one["metrics"] and two["best_step"] == one["best_step"]


def test_fsdp_fine_tuning_equals_ddp(runs: dict) -> None:
    """--fsdp: sharded training, whole weights gathered at each validation; DDP's results to float rounding."""
    ddp, fsdp = runs["out"] / "ddp", runs["out"] / "fsdp"
    assert len(_rows(fsdp)) == 16 and _rows(fsdp) == _rows(ddp)
    one = json.loads((ddp / "run.json").read_text())
    two = json.loads((fsdp / "run.json").read_text())
    assert two["env"]["distributed"] == {"world_size": 2, "backend": "gloo", "fsdp": True}
    a, b = one["tasks"][TASK], two["tasks"][TASK]
    assert [h["step"] for h in b["history"]] == [2, 4]
    for x, y in zip(a["history"], b["history"], strict=True):
        assert y["metrics"] == x["metrics"] and y["train_loss"] == pytest.approx(x["train_loss"], rel=1e-5)
    assert b["metrics"] == a["metrics"] and b["best_step"] == a["best_step"]
    _assert_weights_close(fsdp, ddp, 1e-5)  # best weights saved from rank 0's gathered copy: whole tensors


def _assert_weights_close(run: Path, want: Path, atol: float) -> None:
    from safetensors.torch import load_file

    got, ref = (load_file(r / TASK / "best" / "model.safetensors") for r in (run, want))
    assert got.keys() == ref.keys()
    for name, tensor in ref.items():
        assert got[name].shape == tensor.shape
        assert (got[name] - tensor).abs().max().item() < atol, name


def _worker_pid(launcher: int, rank: int) -> int | None:
    """The pid of torchrun's (first attempt's) worker process with RANK=`rank`, from /proc."""
    for proc in Path("/proc").iterdir():
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except (OSError, ValueError):
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RESTART_COUNT=0" in env and parent == launcher:
            return int(proc.name)
    return None


def test_fsdp_run_killed_after_a_checkpoint_resumes_from_dcp_under_torchrun_restart(
    runs: dict, vocab_path: Path, data_dir: Path
) -> None:
    """kill -9 of rank 1 after the step-2 sharded checkpoint; torchrun --max-restarts 1 restarts both ranks,
    which resume at step 2 from checkpoint_dcp/ and end as the uninterrupted --fsdp run."""
    out = runs["out"] / "fsdp_killed"
    cmd = _command(_args(vocab_path, data_dir, out, 2, "--fsdp"), 2, "--max-restarts", "1")
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = out / TASK / "checkpoint_dcp" / "step_00000002" / "done.json"
    deadline = time.monotonic() + 300
    while not done.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = _worker_pid(proc.pid, rank=1)
    assert done.exists() and victim is not None, "no step-2 checkpoint or no rank 1 to kill"
    os.kill(victim, signal.SIGKILL)
    log, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, log[-3000:]
    assert "resuming fine-tuning from" in log and "checkpoint_dcp" in log
    fsdp = runs["out"] / "fsdp"
    assert _rows(out) == _rows(fsdp)
    a = json.loads((fsdp / "run.json").read_text())["tasks"][TASK]
    b = json.loads((out / "run.json").read_text())["tasks"][TASK]
    assert b["train"]["resumed_from_steps"] == [2] and a["train"]["resumed_from_steps"] == []
    for x, y in zip(a["history"], b["history"], strict=True):
        assert (y["step"], y["metrics"]) == (x["step"], x["metrics"])
        assert y["train_loss"] == pytest.approx(x["train_loss"], rel=1e-6)
    assert (b["metrics"], b["best_step"]) == (a["metrics"], a["best_step"])
    _assert_weights_close(out, fsdp, 1e-6)
    assert not (out / TASK / "checkpoint_dcp").exists() and not (out / TASK / "checkpoint.pt").exists()


def test_fsdp_without_torchrun_is_a_one_line_error(tmp_path: Path, vocab_path: Path, data_dir: Path) -> None:
    proc = _t5eval(_args(vocab_path, data_dir, tmp_path / "bad", 2, "--fsdp"))
    assert proc.returncode == 2
    assert "error: --fsdp shards fine-tuning over torchrun's processes and needs at least 2" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "bad").exists()


def test_sharded_evaluation_equals_a_plain_run(runs: dict) -> None:
    plain, ddp = runs["out"] / "plain_eval", runs["out"] / "ddp_eval"
    assert len(_rows(plain)) == 16 and _rows(ddp) == _rows(plain)
    assert (ddp / TASK / "metrics.json").read_text() == (plain / TASK / "metrics.json").read_text()


def test_only_rank_zero_writes_and_prints(runs: dict) -> None:
    ddp = runs["out"] / "ddp"
    record = json.loads((ddp / "run.json").read_text())
    assert record["env"]["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert runs["ddp"].stdout.count("results: ") == 1  # the summary comes from rank 0 only
    cache = (ddp / TASK / "decode_cache.jsonl").read_text().splitlines()
    assert len(cache) == 32  # 16 examples × 2 validations (the final eval hits the cache), written once


def test_grad_accum_not_divisible_by_ranks_is_a_one_line_error(tmp_path: Path, vocab_path: Path, data_dir: Path) -> None:
    proc = _t5eval(_args(vocab_path, data_dir, tmp_path / "bad", grad_accum=3), nproc=2)
    assert proc.returncode != 0
    assert "error: --grad-accum 3 is not a multiple of the 2 processes" in proc.stderr
    assert "use --grad-accum 4" in proc.stderr
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_torchrun_restart_after_a_rank_dies_mid_collective() -> None:
    """torchrun --max-restarts 1: the restarted ranks re-form the gloo group (torch 2.13 store quirk)."""
    probe = Path(__file__).with_name("restart_probe.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--max-restarts", "1", str(probe)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    # Rank 0's clear error line is printed only when it sees the failed barrier before torchrun's restart
    # kills it (a race under load): if attempt 0 printed anything for rank 0, it must be that error.
    first = [line for line in proc.stdout.splitlines() if line.startswith("attempt 0 rank 0:")]
    assert all(line.startswith("attempt 0 rank 0: rank 0/2: barrier failed") for line in first), proc.stdout
    assert "attempt 1 rank 0: done" in proc.stdout and "attempt 1 rank 1: done" in proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
