"""`t5eval parity --model GPT2DIR`: model_type detected, same JSON keys, done-means thresholds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from t5eval.cli import app, main


def test_parity_cli_on_gpt2(gpt2_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "parity.json"
    result = CliRunner().invoke(app, ["parity", "--model", str(gpt2_dir), "--data-dir", str(data_dir), "--n", "16",
                                      "--tasks", "rte,squad", "--max-decode-len", "16", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["model_type"] == "gpt2" and report["n"] == 16
    assert report["max_abs_logit"] > 0.1
    assert report["max_abs_logit_diff"] <= 1e-4 * report["max_abs_logit"]
    assert report["greedy_match"] == 1.0


def test_gpt2_checkpoint_with_sentencepiece_vocab_is_refused(gpt2_dir: Path, tmp_path: Path, vocab_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["parity", "--model", str(gpt2_dir), "--vocab", str(vocab_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "SentencePiece" in err and "vocab.json" in err and len(err.splitlines()) == 1


def test_missing_merges_is_a_one_line_error(gpt2_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "no_merges"
    shutil.copytree(gpt2_dir, folder)
    (folder / "merges.txt").unlink()
    with pytest.raises(SystemExit) as info:
        main(["parity", "--model", str(folder)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "merges.txt not found" in err and len(err.splitlines()) == 1
