"""A plain `t5eval run` fine-tunes exactly like `torchrun --nproc-per-node 2` (slow: fresh processes).

Both paths draw each micro-batch's dropout masks from `micro_batch_seed(seed, step, m)`, so with
dropout 0.1 and --grad-accum 2 (one micro-batch per rank under 2 ranks) the validation history, the
best step and every prediction agree; losses to float rounding (DDP averages gradients).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CB

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _run(vocab: Path, data: Path, out: Path, nproc: int | None) -> subprocess.CompletedProcess[str]:
    args = ["run", "cb", "--model", "tiny", "--init", "random", "--vocab", str(vocab), "--data-dir", str(data),
            "--threads", "1", "--limit", "8", "--steps", "4", "--eval-every", "2", "--grad-accum", "2",
            "--batch-tokens", "256", "--max-input-len", "48", "--seed", "3", "--device", "cpu", "--out", str(out)]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    cmd = [*(launcher if nproc else [sys.executable]), "-m", "t5eval", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)


def test_plain_fine_tuning_equals_two_ranks(tmp_path, vocab_path, data_dir):
    plain, ddp = tmp_path / "plain", tmp_path / "ddp"
    for out, nproc in ((plain, None), (ddp, 2)):
        proc = _run(vocab_path, data_dir, out, nproc)
        assert proc.returncode == 0, proc.stderr[-2000:]
    one = json.loads((plain / "run.json").read_text())
    two = json.loads((ddp / "run.json").read_text())
    assert "distributed" not in one["env"] and two["env"]["distributed"]["world_size"] == 2
    a, b = one["tasks"][CB], two["tasks"][CB]
    assert [h["step"] for h in a["history"]] == [h["step"] for h in b["history"]] == [2, 4]
    for x, y in zip(a["history"], b["history"], strict=True):
        assert x["metrics"] == y["metrics"] and x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-5)
    assert a["best_step"] == b["best_step"] and a["metrics"] == b["metrics"]
    rows = [(p / CB / "predictions.jsonl").read_text() for p in (plain, ddp)]
    assert rows[0] == rows[1] and len(rows[0].splitlines()) == 8
