"""Issue 22 for `t5eval pretrain`: a planted `D/checkpoint.pt` runs no code, a damaged one is one error line,
and `--overwrite` deletes only a pre-training folder (never a run's, never a folder of someone's files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import t5eval.pretrain.job as job
from tests.pretrain.test_pretrain_cli import TRAIN, corpus, pretrain  # noqa: F401 (corpus: a fixture)
from tests.runner.test_trust_checkpoints import assert_one_error, plant


def unfinished(out: Path, corpus: Path, vocab_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:  # noqa: F811
    """A pre-training folder as a kill during training leaves it; returns the command's args."""
    args = [*TRAIN, "--corpus", str(corpus), "--vocab", str(vocab_path), "--out", str(out)]

    def killed(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(job, "pretrain_loop", killed)
        with pytest.raises(RuntimeError, match="killed"):
            pretrain(*args)
    return args


def test_planted_pretrain_checkpoint_runs_no_code(corpus, vocab_path, tmp_path, monkeypatch, capsys):  # noqa: F811
    out, marker = tmp_path / "pt", tmp_path / "PWNED"
    args = unfinished(out, corpus, vocab_path, monkeypatch)
    plant(out / "checkpoint.pt", marker)
    capsys.readouterr()
    assert pretrain(*args) == 2
    assert not marker.exists()
    assert_one_error(capsys, "checkpoint.pt", "not written by t5eval")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04\x14\x00 torn"], ids=["zero-byte", "truncated"])
def test_damaged_pretrain_checkpoint_is_one_error_line(content, corpus, vocab_path, tmp_path, monkeypatch,  # noqa: F811
                                                       capsys):
    out = tmp_path / "pt"
    args = unfinished(out, corpus, vocab_path, monkeypatch)
    (out / "checkpoint.pt").write_bytes(content)
    capsys.readouterr()
    assert pretrain(*args) == 2
    assert_one_error(capsys, "checkpoint.pt", "delete", "--overwrite")
    assert (out / "settings.json").is_file()


def test_pretrain_overwrite_keeps_a_folder_of_user_files(corpus, vocab_path, tmp_path, capsys):  # noqa: F811
    """`--out ~ --overwrite` used to rmtree the folder first; now it refuses and deletes nothing."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("\\section{Results}")
    assert pretrain(*TRAIN, "--corpus", str(corpus), "--vocab", str(vocab_path), "--out", str(home),
                    "--overwrite") == 2
    assert (home / "thesis.tex").read_text() == "\\section{Results}"
    assert_one_error(capsys, str(home), "thesis.tex", "no t5eval folder")


def test_pretrain_overwrite_refuses_a_run_folder(corpus, vocab_path, tmp_path, capsys):  # noqa: F811
    """A fine-tuning run's folder (its settings.json, as every run has written) is not pre-training's to delete."""
    run = tmp_path / "run"
    (run / "glue_sst2_v002" / "best").mkdir(parents=True)
    (run / "glue_sst2_v002" / "best" / "model.safetensors").write_bytes(b"weights")
    (run / "settings.json").write_text(json.dumps({"fingerprint": "x", "settings": {"tasks": ["glue_sst2_v002"]}}))
    assert pretrain(*TRAIN, "--corpus", str(corpus), "--vocab", str(vocab_path), "--out", str(run),
                    "--overwrite") == 2
    assert (run / "glue_sst2_v002" / "best" / "model.safetensors").read_bytes() == b"weights"
    assert_one_error(capsys, "a t5eval run", "choose another --out")


def test_pretrain_overwrite_clears_its_own_folder_but_keeps_a_user_file(corpus, vocab_path, tmp_path, monkeypatch,  # noqa: F811
                                                                        capsys):
    out = tmp_path / "pt"
    args = unfinished(out, corpus, vocab_path, monkeypatch)
    (out / "checkpoint.pt").write_bytes(b"")  # damaged: --overwrite is the fix the error names
    (out / "notes.md").write_text("my notes")
    assert pretrain(*args, "--overwrite") == 0
    assert (out / "notes.md").read_text() == "my notes"
    assert (out / "pretrain.json").is_file() and not (out / "checkpoint.pt").exists()
    assert json.loads((out / "t5eval-folder.json").read_text())["kind"] == "pretrain"
