"""Issue 14 item 6: checkpoints written by `t5eval run` carry spiece.model, so `--model <run>/<task>/best`
works without --vocab; `T5EVAL_VOCAB` gives the vocabulary when neither --vocab nor the model has one."""

from __future__ import annotations

from .conftest import CB
from .helpers import cli, read_json

NO_FT = ["--no-finetune", "--limit", "2", "--threads", "1"]


def test_best_checkpoint_carries_the_vocab_and_reevaluates_without_vocab(finetuned, data_dir, vocab_path,
                                                                         tmp_path, monkeypatch):
    monkeypatch.delenv("T5EVAL_VOCAB", raising=False)
    best = finetuned / CB / "best"
    assert (best / "spiece.model").read_bytes() == vocab_path.read_bytes()
    out = tmp_path / "again"
    assert cli(["run", "cb", "--model", best, "--data-dir", data_dir, *NO_FT, "--out", out]) == 0
    record = read_json(out / "run.json")
    assert record["vocab"]["sha256"] == read_json(finetuned / "run.json")["vocab"]["sha256"]


def test_t5eval_vocab_env_gives_the_vocab(data_dir, vocab_path, tmp_path, monkeypatch, capsys):
    args = ["run", "cb", "--model", "tiny", "--init", "random", "--data-dir", data_dir, *NO_FT]
    monkeypatch.delenv("T5EVAL_VOCAB", raising=False)
    assert cli([*args, "--out", tmp_path / "none"]) == 2
    assert "T5EVAL_VOCAB" in capsys.readouterr().err
    monkeypatch.setenv("T5EVAL_VOCAB", str(vocab_path))
    assert cli([*args, "--out", tmp_path / "env"]) == 0
    assert read_json(tmp_path / "env" / "run.json")["vocab"]["path"] == str(vocab_path)


def test_help_documents_t5eval_vocab(capsys):
    assert cli(["run", "--help"]) == 0
    assert "T5EVAL_VOCAB" in capsys.readouterr().out
