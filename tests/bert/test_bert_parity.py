"""`t5eval parity --model DIR` for a BERT checkpoint: hidden states and pooled output vs transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from t5eval.cli import app, main

from .conftest import save_hf_bert


def test_parity_cli_on_a_random_tiny_bert_is_within_1e4_relative(wordpiece_vocab: Path, data_dir: Path,
                                                                tmp_path: Path) -> None:
    model_dir = save_hf_bert(tmp_path / "bert", vocab_size=30522, max_position_embeddings=512, seed=7)
    shutil.copy(wordpiece_vocab, model_dir / "vocab.txt")
    out = tmp_path / "parity.json"
    result = CliRunner().invoke(app, ["parity", "--model", str(model_dir), "--data-dir", str(data_dir), "--n", "16",
                                      "--tasks", "rte,cb,boolq", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert {"model", "n", "max_abs_logit_diff", "greedy_match", "max_decode_len", "tasks"} <= set(report)
    assert report["n"] == 16 and report["model_type"] == "bert"
    assert report["greedy_match"] is None and "encoder-only" in report["greedy_match_note"]
    assert report["max_rel_hidden_diff"] <= 1e-4 and report["max_rel_pooled_diff"] <= 1e-4
    assert report["max_abs_logit_diff"] < 1e-3  # absolute, hidden states of unit scale (post-LN)


def test_parity_refuses_a_vocab_that_does_not_fit_the_embedding(wordpiece_vocab: Path, data_dir: Path,
                                                                tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir = save_hf_bert(tmp_path / "bert", vocab_size=9000)
    capsys.readouterr()  # transformers' save progress bar
    with pytest.raises(SystemExit) as info:
        main(["parity", "--model", str(model_dir), "--vocab", str(wordpiece_vocab), "--data-dir", str(data_dir),
              "--n", "2"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "has 30522 entries but the model has 9000 embedding rows" in err
