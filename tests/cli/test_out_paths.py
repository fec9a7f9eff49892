"""Issue 14 item 1: an output path at or under an existing regular file is one `error:` line, exit 2,
and nothing is written, for every command that writes a file or folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.helpers import cli

CONTENT = "a regular file\n"


def _commands(target: Path, vocab: Path, data: Path) -> dict[str, list[str]]:
    """Every writing command with its output flag pointed at `target` (other inputs may be dummies:
    the output path is checked before anything is read)."""
    run_args = ["--model", "tiny", "--init", "random", "--vocab", str(vocab), "--data-dir", str(data),
                "--threads", "1", "--limit", "2", "--no-finetune"]
    return {
        "run": ["run", "cb", *run_args, "--out", str(target)],
        "export": ["export", "cb", "--data-dir", str(data), "--out", str(target)],
        "score": ["score", "cb", "--predictions", str(target.parent / "p.jsonl"), "--data-dir", str(data),
                  "--out", str(target)],
        "report": ["report", str(target.parent / "no_run"), "--out", str(target.with_suffix(".md"))],
        "check": ["check", str(target.parent / "no_run"), "--against", str(target), "--update"],
        "bench": ["bench", "--json", str(target), "--skip", "encoder"],
        "parity": ["parity", "--model", str(target.parent / "no_model"), "--json", str(target)],
    }


CASES = [("run", False)] + [(c, True) for c in ("run", "export", "score", "report", "check", "bench", "parity")]


@pytest.mark.parametrize(("command", "under"), CASES, ids=[f"{c}-{'under' if u else 'at'}_file" for c, u in CASES])
def test_out_at_or_under_a_file_is_one_line_and_writes_nothing(command, under, tmp_path, vocab_path, data_dir,
                                                               capsys):
    """A run is a folder: refused at a file. File outputs overwrite a file (as before), so only `under`."""
    blocker = tmp_path / "some_file"
    blocker.write_text(CONTENT)
    target = blocker / "sub.json" if under else blocker
    args = _commands(target, vocab_path, data_dir)[command]
    before = sorted(tmp_path.rglob("*"))
    assert cli(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    expected = f"is under {blocker}, which is a file" if under else f"{blocker} is an existing file, not a folder"
    assert expected in lines[0]
    assert blocker.read_text() == CONTENT
    assert sorted(tmp_path.rglob("*")) == before
    assert not (Path.cwd() / "results" / "sub.json").exists()


def test_file_outputs_refuse_an_existing_folder(tmp_path, data_dir, capsys):
    assert cli(["export", "cb", "--data-dir", str(data_dir), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file path" in capsys.readouterr().err
