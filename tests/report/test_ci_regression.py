"""CI regression: a tiny, seeded, deterministic end-to-end run checked against the committed baseline.

The run: `t5eval run rte` with the `tiny` preset, random init (seed 0), 2 fine-tuning steps, the
first 24 RTE validation examples from ../shared/data, 1 CPU thread, fp32. Same seed -> same
weights, same predictions, same metrics bit for bit, so the check uses `--exact` (metrics equal
and predictions sha256 equal). Regenerate the baseline deliberately with
`t5eval check RUN --against results/baselines/ci_tiny_rte.json --update` (prints what changed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR, REPO_ROOT, VOCAB

BASELINE = REPO_ROOT / "results" / "baselines" / "ci_tiny_rte.json"
RUN_ARGS = ["run", "rte", "--model", "tiny", "--init", "random", "--seed", "0", "--limit", "24",
            "--steps", "2", "--eval-every", "2", "--batch-tokens", "1024", "--max-input-len", "64",
            "--threads", "1"]  # fmt: skip


def _t5eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "t5eval", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=900)  # fmt: skip


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory, data_dir, vocab_path) -> Path:
    out = tmp_path_factory.mktemp("ci") / "ci_tiny_rte"
    done = _t5eval(*RUN_ARGS, "--vocab", str(VOCAB), "--data-dir", str(DATA_DIR), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_ci_run_matches_the_committed_baseline(ci_run):
    result = _t5eval("check", str(ci_run), "--against", str(BASELINE), "--exact")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("OK")


def test_a_changed_prediction_fails_the_check(ci_run, tmp_path):
    copy = tmp_path / "edited"
    shutil.copytree(ci_run, copy)
    path = copy / "glue_rte_v002" / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[0]["prediction"] = rows[0]["target"]  # make example 0 right
    rows[0]["prediction_value"] = rows[0]["target_value"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = _t5eval("check", str(copy), "--against", str(BASELINE), "--exact")
    assert result.returncode == 1
    assert "FAIL: glue_rte_v002 predictions changed" in result.stdout


def test_a_lowered_metric_fails_the_default_check(ci_run, tmp_path):
    copy = tmp_path / "lowered"
    shutil.copytree(ci_run, copy)
    record = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    record["tasks"]["glue_rte_v002"]["metrics"]["accuracy"] -= 1.0
    (copy / "run.json").write_text(json.dumps(record), encoding="utf-8")
    result = _t5eval("check", str(copy), "--against", str(BASELINE))
    assert result.returncode == 1
    assert "glue_rte_v002 accuracy regressed" in result.stdout
