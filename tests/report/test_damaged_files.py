"""Issue 22 for `report`, `diff` and `check`: damaged files are one `error:` line (exit 2), an empty baseline
fails `check`, every Markdown cell rendered from run data is escaped, and run.json task keys never become
arbitrary path parts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from t5eval.cli import main
from t5eval.report.cells import md_cell
from t5eval.report.diff import diff_task, render_diff
from t5eval.report.loading import load_run
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "report" / "fixtures" / "results"
SST2 = "glue_sst2_v002"


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


def one_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "run_a", tmp_path / "run_b"
    shutil.copytree(FIXTURES / "run_small_a", a)
    shutil.copytree(FIXTURES / "run_small_b", b)
    return a, b


@pytest.mark.parametrize("content", ["", '{"schema": 1, "run_id": "x", "tas', "[1, 2]"],
                         ids=["empty", "truncated", "not-an-object"])
def test_broken_run_json_in_report(content, runs, tmp_path, capsys):
    a, _ = runs
    (a / "run.json").write_text(content)
    assert run_cli(["report", a, "--out", tmp_path / "r.md", "--bootstrap", "1", "--no-plots"]) == 2
    one_error(capsys, "run.json", "delete it and rerun")


@pytest.mark.parametrize("command", ["report", "diff"])
def test_broken_prediction_line_in_report_and_diff(command, runs, tmp_path, capsys):
    a, b = runs
    path = a / SST2 / "predictions.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = '{"index": 2, "inputs": "broken\n'
    path.write_text("".join(lines))
    args = ["report", a, "--out", tmp_path / "r.md", "--no-plots"] if command == "report" else ["diff", a, b]
    assert run_cli(args) == 2
    one_error(capsys, "predictions.jsonl, line 3", "not valid JSON", "delete")


@pytest.mark.parametrize("content", ['{"schema": 1, "tasks": {"glue_sst2_v002": {"metr', "[]", '"baseline"',
                                     '{"schema": 1, "tasks": []}'],
                         ids=["truncated", "list", "string", "tasks-not-an-object"])
def test_broken_baseline_in_check(content, runs, tmp_path, capsys):
    a, _ = runs
    baseline = tmp_path / "base.json"
    baseline.write_text(content)
    assert run_cli(["check", a, "--against", baseline]) == 2
    one_error(capsys, "base.json", "--update")


@pytest.mark.parametrize("tasks", [{}, None], ids=["no-tasks", "tasks-null-or-missing"])
def test_check_fails_on_a_baseline_without_tasks(tasks, runs, tmp_path, capsys):
    a, _ = runs
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps({"schema": 1, "tasks": {}} if tasks == {} else {"schema": 1}))
    code = run_cli(["check", a, "--against", baseline])
    out = capsys.readouterr()
    if tasks == {}:
        assert code == 1 and "FAIL" in out.out and "holds no task" in out.out
    else:
        assert code == 2 and "error:" in out.err


@pytest.mark.parametrize("key", ["../../outside", "a/b", "", "..", "x\ny"])
def test_run_json_task_keys_must_be_task_names(key, runs, tmp_path, capsys):
    a, _ = runs
    record = json.loads((a / "run.json").read_text())
    record["tasks"][key] = record["tasks"].pop(SST2)
    (a / "run.json").write_text(json.dumps(record))
    assert run_cli(["report", a, "--out", tmp_path / "r.md", "--bootstrap", "1", "--no-plots"]) == 2
    one_error(capsys, "run.json", "task key", "not a task name")


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells, split at pipes that are not escaped."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


HOSTILE = "x|y`z<script>alert(1)</script>\nnext"


def _outside_code_spans(text: str) -> str:
    """The Markdown with its code spans cut out (HTML inside a code span is shown as text)."""
    return re.sub(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", "", text)


def test_md_cell_escapes_pipes_backticks_html_and_newlines():
    plain = md_cell(HOSTILE)
    assert "\n" not in plain and "<" not in plain and ">" not in plain
    assert "\\|" in plain and "\\`" in plain and len(_cells(f"| {plain} |")) == 1
    code = md_cell(HOSTILE, code=True)
    assert code.startswith("``") and code.endswith("``") and "\n" not in code  # fence longer than the backtick inside
    assert len(_cells(f"| {code} |")) == 1


def test_report_escapes_run_data_in_every_table(runs, tmp_path):
    a, b = runs
    for run, name in ((a, "a"), (b, "b")):
        record = json.loads((run / "run.json").read_text())
        record["run_id"] = f"{name}|{HOSTILE}"
        record["model"]["source"] = "evil|src`<img src=x onerror=alert(1)>"
        (run / "run.json").write_text(json.dumps(record))
    out = tmp_path / "r.md"
    assert run_cli(["report", a, b, "--out", out, "--bootstrap", "1", "--no-plots"]) == 0
    text = out.read_text()
    assert "<script>" not in _outside_code_spans(text) and "<img" not in _outside_code_spans(text)
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:  # every row of a table has as many cells as its header
            assert {len(_cells(r)) for r in rows} == {len(_cells(rows[0]))}, block


def test_diff_escapes_predictions_labels_and_metric_names(runs):
    a, b = runs
    path = b / SST2 / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[3]["prediction"] = "`code` | <b>bold</b>"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = render_diff([diff_task(load_run(a), load_run(b), SST2)], "A`|<i>", "B")
    assert "<b>" not in _outside_code_spans(text) and "<i>" not in _outside_code_spans(text)
    for line in text.splitlines():
        if line.startswith("| 3 |"):
            assert len(_cells(line)) == 5
