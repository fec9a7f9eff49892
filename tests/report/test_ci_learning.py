"""CI learning gate: a short seeded fine-tune must still learn, checked with `t5eval check`'s default tolerance.

`test_ci_regression.py` pins a 2-step run bit for bit (`--exact`), which catches any change but says
nothing about whether fine-tuning works (its baseline is accuracy 0.0). This gate fine-tunes the `tiny`
preset from seeded random weights for 600 steps of 1,024 tokens on SST-2's train split (../shared/data),
validated every 200 steps, and scores the best step on the 872 SST-2
dev sentences, with one CPU thread; `t5eval check` (default: the committed baseline's 95% bootstrap
interval) must pass. The baseline's interval lies well above the 50.9% of always answering the
majority class (444/872 `positive`), so a change that stops the model learning fails the gate:
`test_training_on_shuffled_labels_fails_the_gate` shows it (slow: a second fine-tune, ~1 min on a quiet
2-core CPU; run it with `-m slow`). Regenerate the baseline deliberately with
`t5eval check RUN --against results/baselines/ci_tiny_sst2.json --update` (prints what changed).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import t5eval.run.flow as flow
from t5eval.train.stream import TrainSource
from tests.conftest import DATA_DIR, REPO_ROOT, VOCAB
from tests.runner.helpers import cli

BASELINE = REPO_ROOT / "results" / "baselines" / "ci_tiny_sst2.json"
TASK = "glue_sst2_v002"
MAJORITY = 100 * 444 / 872  # always "positive" on SST-2 dev: 50.92%
RUN_ARGS = ["run", "sst2", "--model", "tiny", "--init", "random", "--seed", "0", "--steps", "600",
            "--eval-every", "200", "--batch-tokens", "1024", "--threads", "1",
            "--vocab", str(VOCAB), "--data-dir", str(DATA_DIR)]  # fmt: skip


def _t5eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "t5eval", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=1800)  # fmt: skip


def _accuracy(run: Path) -> float:
    return float(json.loads((run / "run.json").read_text(encoding="utf-8"))["tasks"][TASK]["metrics"]["accuracy"])


@pytest.fixture(scope="module")
def learning_run(tmp_path_factory, data_dir, vocab_path) -> Path:
    out = tmp_path_factory.mktemp("ci") / "ci_tiny_sst2"
    done = _t5eval(*RUN_ARGS, "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_the_committed_baseline_is_clearly_above_chance():
    base = json.loads(BASELINE.read_text(encoding="utf-8"))["tasks"][TASK]
    assert base["n"] == 872 and base["split"] == "validation"
    low, _ = base["ci"]["accuracy"]
    assert low > MAJORITY + 3, f"baseline interval starts at {low:.2f}: too close to the majority class"


def test_a_short_fine_tune_passes_the_learning_gate(learning_run):
    assert _accuracy(learning_run) > MAJORITY + 3
    result = _t5eval("check", str(learning_run), "--against", str(BASELINE))  # default tolerance: ci
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("tolerance: ci")
    assert result.stdout.rstrip().endswith("OK")


def _shuffled_labels(real):  # type: ignore[no-untyped-def]
    """`train_source` as the runner has it, but every training target moved to another example."""

    def train_source(*args, **kwargs) -> TrainSource | None:  # type: ignore[no-untyped-def]
        source = real(*args, **kwargs)
        if source is not None:
            random.Random(0).shuffle(source.targets)
        return source

    return train_source


@pytest.mark.slow
def test_training_on_shuffled_labels_fails_the_gate(tmp_path, monkeypatch, data_dir, vocab_path):
    monkeypatch.setattr(flow, "train_source", _shuffled_labels(flow.train_source))
    broken = tmp_path / "ci_tiny_sst2"
    assert cli([*RUN_ARGS, "--out", broken]) == 0
    result = _t5eval("check", str(broken), "--against", str(BASELINE))
    assert result.returncode == 1, result.stdout
    assert f"FAIL: {TASK} accuracy regressed" in result.stdout
    assert _accuracy(broken) < MAJORITY + 3  # it learned nothing about sentiment
