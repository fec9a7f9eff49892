"""Issue 14 item 2: `t5eval score --limit N` rescores a `run --limit N` run's own predictions."""

from __future__ import annotations

from .conftest import CB
from .helpers import cli, read_json


def test_a_limited_runs_predictions_rescore_to_its_metrics(finetuned, data_dir, tmp_path, capsys):
    run = read_json(finetuned / "run.json")
    assert run["settings"]["limit"] == 4 and run["tasks"][CB]["n"] == 4
    out = tmp_path / "score.json"
    args = ["score", "cb", "--predictions", finetuned / CB / "predictions.jsonl", "--data-dir", data_dir,
            "--protocol", run["settings"]["protocol"]]
    assert cli([*args, "--limit", "4", "--out", out]) == 0
    scored = read_json(out)
    assert scored["n"] == 4 and scored["limit"] == 4
    assert scored["metrics"] == run["tasks"][CB]["metrics"]


def test_scoring_a_limited_run_without_limit_names_the_option(finetuned, data_dir, capsys):
    capsys.readouterr()
    assert cli(["score", "cb", "--predictions", finetuned / CB / "predictions.jsonl", "--data-dir", data_dir]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no prediction for 52 of 56 examples" in err  # CB validation has 56 examples
    assert "pass --limit 4" in err
