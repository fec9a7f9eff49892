"""Issue 14 item 7: every command shows a warning as one `warning: …` line, once, never in Python's
format (file path, line number, source line)."""

from __future__ import annotations

import warnings

from t5eval.cli.warn import one_line_warnings
from tests.runner.helpers import cli

MRPC_NOTE = "GLUE's MRPC TSV holds the untokenized MSR text"


def _warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "warning" in line.lower()]


def test_run_mrpc_shows_its_data_note_once_as_one_line(tmp_path, vocab_path, data_dir, capsys):
    """Train and validation splits both carry the note: it must print once, in the one-line format."""
    args = ["run", "mrpc", "--model", "tiny", "--init", "random", "--vocab", vocab_path, "--data-dir", data_dir,
            "--limit", "2", "--steps", "1", "--eval-every", "1", "--batch-tokens", "128", "--max-input-len", "16",
            "--threads", "1", "--out", tmp_path / "run"]
    assert cli(args) == 0
    lines = _warning_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("warning: task glue_mrpc_v002: ") and MRPC_NOTE in lines[0]


def test_export_shows_the_same_line(tmp_path, data_dir, capsys):
    assert cli(["export", "mrpc", "--data-dir", data_dir, "--limit", "2", "--out", tmp_path / "x.jsonl"]) == 0
    lines = _warning_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("warning: task glue_mrpc_v002: ") and MRPC_NOTE in lines[0]


def test_each_distinct_message_once_and_deprecations_hidden(capsys):
    with one_line_warnings():
        for _ in range(3):
            warnings.warn("constant input:\n  correlation undefined", RuntimeWarning, stacklevel=1)
        warnings.warn("an API will go away", DeprecationWarning, stacklevel=1)
        warnings.warn("second note", UserWarning, stacklevel=1)
    assert capsys.readouterr().err.splitlines() == ["warning: constant input: correlation undefined",
                                                    "warning: second note"]
