"""`t5eval diff` and `t5eval check` on the fixture runs (and tmp copies edited on purpose).

Fixture SST-2 predictions (8 examples, targets 1 0 1 1 0 0 1 0):
run_small_a predicts 1 0 1 0 0 0 1 0 (example 3 wrong: 87.5); run_small_b predicts 1 0 1 1 0 1 0 0
(3 fixed; 5 and 6 broken: 75.0).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from t5eval.cli import app
from t5eval.errors import T5evalError
from t5eval.report.check import Tolerance, compare, failed, read_baseline, update_baseline
from t5eval.report.diff import diff_task
from t5eval.report.loading import load_run
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "report" / "fixtures" / "results"
runner = CliRunner()


def test_diff_lists_flipped_examples_and_metric_movement():
    d = diff_task(load_run(FIXTURES / "run_small_a"), load_run(FIXTURES / "run_small_b"), "glue_sst2_v002")
    assert d.n_common == 8
    assert [(c.index, c.kind) for c in d.changes] == [(3, "fixed"), (5, "broken"), (6, "broken")]
    assert d.metrics_b["accuracy"] - d.metrics_a["accuracy"] == -12.5
    result = runner.invoke(app, ["diff", str(FIXTURES / "run_small_a"), str(FIXTURES / "run_small_b")])
    assert result.exit_code == 0
    assert "Changed predictions: 3 (fixed 1, broken 2, other 0)" in result.output
    assert "| accuracy | 87.5000 | 75.0000 | -12.5000 |" in result.output


def test_diff_unknown_task_is_a_one_line_error():
    with pytest.raises(T5evalError, match="did you mean glue_sst2_v002"):
        diff_task(load_run(FIXTURES / "run_small_a"), load_run(FIXTURES / "run_small_b"), "glue_sst2_v02")


@pytest.fixture()
def run_copy(tmp_path) -> Path:
    dst = tmp_path / "run_small_a"
    shutil.copytree(FIXTURES / "run_small_a", dst)
    return dst


def _edit_metric(run_dir: Path, task: str, metric: str, value: float) -> None:
    path = run_dir / "run.json"
    record = json.loads(path.read_text())
    record["tasks"][task]["metrics"][metric] = value
    path.write_text(json.dumps(record))


def test_check_passes_on_itself_and_fails_on_a_lowered_metric(run_copy, tmp_path):
    baseline = tmp_path / "base.json"
    result = runner.invoke(app, ["check", str(run_copy), "--against", str(baseline), "--update", "--bootstrap", "200"])
    assert result.exit_code == 0 and "new baseline with 15 task(s)" in result.output
    ok = runner.invoke(app, ["check", str(run_copy), "--against", str(baseline)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.rstrip().endswith("OK")
    # RTE has no predictions, so no interval: compared exactly; 70.0 -> 69.0 regresses.
    _edit_metric(run_copy, "glue_rte_v002", "accuracy", 69.0)
    bad = runner.invoke(app, ["check", str(run_copy), "--against", str(baseline)])
    assert bad.exit_code == 1
    assert "FAIL: glue_rte_v002 accuracy regressed" in bad.output
    # An explicit tolerance of 1.5 points lets it pass.
    assert runner.invoke(app, ["check", str(run_copy), "--against", str(baseline), "--tolerance", "abs:1.5"]).exit_code == 0


def test_check_statuses_against_an_interval(run_copy, tmp_path):
    baseline = tmp_path / "base.json"
    update_baseline(load_run(run_copy), baseline, n_boot=200)
    base = json.loads(baseline.read_text())
    low, high = base["tasks"]["glue_sst2_v002"]["ci"]["accuracy"]
    assert low < 87.5 <= high
    for value, status in ((low - 0.01, "regressed"), ((low + 87.5) / 2, "passed"), (high + 0.01, "improved")):
        _edit_metric(run_copy, "glue_sst2_v002", "accuracy", value)
        rows = compare(load_run(run_copy), base, Tolerance.parse(None))
        assert next(r.status for r in rows if r.task == "glue_sst2_v002") == status


def test_check_fails_on_a_missing_task_and_prints_changes_on_update(run_copy, tmp_path):
    baseline = tmp_path / "base.json"
    update_baseline(load_run(run_copy), baseline, n_boot=50)
    record = json.loads((run_copy / "run.json").read_text())
    del record["tasks"]["glue_cola_v002"]
    record["tasks"]["glue_qnli_v002"]["metrics"]["accuracy"] = 91.0
    (run_copy / "run.json").write_text(json.dumps(record))
    rows = compare(load_run(run_copy), json.loads(baseline.read_text()), Tolerance.parse(None))
    assert failed(rows)
    assert any(r.task == "glue_cola_v002" and r.status == "missing" for r in rows)
    changes = update_baseline(load_run(run_copy), baseline, n_boot=50)
    assert "removed task glue_cola_v002" in changes
    assert "glue_qnli_v002 accuracy: 90.0000 -> 91.0000" in changes
    assert "glue_cola_v002" not in json.loads(baseline.read_text())["tasks"]


def test_exact_check_fails_on_an_edited_prediction(run_copy, tmp_path):
    baseline = tmp_path / "base.json"
    update_baseline(load_run(run_copy), baseline, n_boot=50)
    assert runner.invoke(app, ["check", str(run_copy), "--against", str(baseline), "--exact"]).exit_code == 0
    path = run_copy / "glue_sst2_v002" / "predictions.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[0]["prediction"], rows[0]["prediction_value"] = "negative", 0  # was right (target 1)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["check", str(run_copy), "--against", str(baseline), "--exact"])
    assert result.exit_code == 1
    assert "predictions differ from the baseline's" in result.output


@pytest.mark.parametrize("text", ["abs", "abs:-1", "pct:3", "rel:x"])
def test_bad_tolerance_is_a_user_error(text):
    with pytest.raises(T5evalError, match="--tolerance"):
        Tolerance.parse(text)


def test_missing_baseline_is_a_user_error(tmp_path):
    with pytest.raises(T5evalError, match="--update"):
        read_baseline(tmp_path / "none.json")


def test_tolerance_bounds():
    assert Tolerance.parse("abs:0.5").bounds(80.0, None) == (79.5, 80.5)
    assert Tolerance.parse("rel:0.01").bounds(80.0, None) == pytest.approx((79.2, 80.8))
    assert Tolerance.parse(None).bounds(80.0, [78.0, 83.0]) == (78.0, 83.0)
    assert Tolerance.parse("ci").bounds(80.0, None) is None


@pytest.mark.parametrize("argv", [
    ["report", "no/such/run", "--out", "x.md"],
    ["report", str(FIXTURES / "run_small_a"), "--out", "x.txt"],
    ["check", str(FIXTURES / "run_small_a"), "--against", "x.json", "--tolerance", "abs:oops"],
])  # fmt: skip
def test_cli_user_errors_exit_2_with_one_line(argv, capsys):
    from t5eval import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
