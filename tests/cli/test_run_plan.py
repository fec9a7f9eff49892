"""The plan step of `t5eval run`: a flag that does not apply to the model family, and values that cannot work,
are one-line errors before anything is trained (issue 23; issue 28 items 9, 10, 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED

from t5eval.cli import main

BERT_VOCAB = SHARED / "vocab" / "bert-base-uncased" / "vocab.txt"


def _refused(args: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def _bert(data_dir: Path, out: Path) -> list[str]:
    return ["run", "sst2", "--model", "tiny-bert", "--init", "random", "--vocab", BERT_VOCAB, "--data-dir", data_dir,
            "--threads", "1", "--device", "cpu", "--out", out]


def _t5(data_dir: Path, vocab_path: Path, out: Path, task: str = "sst2") -> list[str]:
    return ["run", task, "--model", "tiny", "--init", "random", "--vocab", vocab_path, "--data-dir", data_dir,
            "--threads", "1", "--device", "cpu", "--out", out]


@pytest.mark.parametrize(("extra", "message"), [
    (["--batch-tokens", "512"], "--batch-tokens is a text-to-text (T5) setting"),
    (["--grad-accum", "2", "--mixture"], "--mixture, --grad-accum are text-to-text (T5) settings"),
    (["--steps", "4", "--epochs", "2"], "--steps 4 and --epochs 2 both set the fine-tuning length"),
    (["--transfer", "adapters:8", "--no-finetune"], "--transfer adapters:8 chooses what fine-tuning trains"),
    (["--transfer", "gradual-unfreezing", "--steps", "1"],  # tiny-bert has 2 blocks: one episode each
     "--transfer gradual-unfreezing splits fine-tuning into 2 episodes (one per block) and needs 2 steps or more, got 1"),
])
def test_head_runs_refuse_flags_that_do_not_apply_and_settings_that_cannot_work(
        extra: list[str], message: str, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert message in _refused([*_bert(data_dir, out), *extra], capsys)
    assert not out.exists()


def test_gradual_unfreezing_counted_from_epochs_is_refused_before_training(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # 3 training examples in batches of 32, one epoch: 1 step for 2 blocks
    err = _refused([*_bert(data_dir, tmp_path / "run"), "--transfer", "gradual-unfreezing", "--epochs", "1",
                    "--train-limit", "3"], capsys)
    assert "needs 2 steps or more, got 1; raise --steps or --epochs" in err


def test_text_to_text_runs_refuse_head_settings_naming_them(data_dir: Path, vocab_path: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    err = _refused([*_t5(data_dir, vocab_path, out), "--lr", "1e-3", "--warmup", "0.2"], capsys)
    assert "--lr, --warmup set(s) the task-head recipe of encoder-only models" in err
    assert not out.exists()


def test_gpt2_prompt_task_on_a_t5_model_is_refused_naming_its_family(data_dir: Path, vocab_path: Path,
                                                                    tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    err = _refused([*_t5(data_dir, vocab_path, out, "gpt2_squad_rc"), "--no-finetune", "--limit", "2"], capsys)
    assert "task gpt2_squad_rc is a GPT-2 (decoder-only) prompt task" in err and "run it with a decoder-only model (GPT-2)" in err
    assert not out.exists()


@pytest.mark.parametrize("pack", ["--pack", "--no-pack"])
def test_batch_tokens_that_cannot_hold_one_training_example_are_refused(
        pack: str, data_dir: Path, vocab_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _refused([*_t5(data_dir, vocab_path, tmp_path / "run"), "--steps", "2", "--batch-tokens", "8", pack], capsys)
    assert "--batch-tokens 8 cannot hold one training example of glue_sst2_v002 (the longest is" in err
    assert "use --batch-tokens" in err


@pytest.mark.parametrize("n", ["0", "-5"])
def test_report_refuses_a_bootstrap_without_resamples(n: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.md"
    err = _refused(["report", tmp_path, "--out", out, "--bootstrap", n], capsys)
    assert f"--bootstrap {n}: the report's 95% intervals need resamples; give at least 1" in err
    assert not out.exists()
