"""Issue 14 item 10: every file a run writes is strict JSON (NaN metrics as null, the reason beside),
and report / check / diff read both these files and older ones holding the bare token NaN."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from .helpers import base_args, cli

STSB = "glue_stsb_v002"


def _refuse(token: str) -> float:
    raise ValueError(f"non-standard JSON token {token}")


def strict(text: str):
    return json.loads(text, parse_constant=_refuse)


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory, vocab_path, data_dir) -> Path:
    """A random tiny model evaluated on STS-B: constant predictions, so both correlations are NaN."""
    out = tmp_path_factory.mktemp("strict") / "stsb"
    assert cli(["run", "stsb", *base_args(vocab_path, data_dir), "--no-finetune", "--limit", "6", "--out", out]) == 0
    return out


def test_every_file_of_a_run_is_strict_json(nan_run):
    files = sorted(p for p in nan_run.rglob("*") if p.suffix in (".json", ".jsonl"))
    assert {p.name for p in files} >= {"run.json", "settings.json", "metrics.json", "result.json", "predictions.jsonl"}
    for path in files:
        lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        for line in lines:
            strict(line)
    task = strict((nan_run / "run.json").read_text())["tasks"][STSB]
    assert task["metrics"] == {"pearson_corrcoef": None, "spearman_corrcoef": None}
    assert set(task["undefined_metrics"]) == {"pearson_corrcoef", "spearman_corrcoef"}
    assert "constant" in task["undefined_metrics"]["pearson_corrcoef"]
    metrics = strict((nan_run / STSB / "metrics.json").read_text())
    assert metrics["metrics"]["pearson_corrcoef"] is None and "constant" in metrics["undefined_metrics"]["pearson_corrcoef"]


def _old_format_copy(run: Path, dest: Path) -> Path:
    """The run as the previous t5eval wrote it: NaN metrics as the bare token NaN."""
    shutil.copytree(run, dest)
    for path in (dest / "run.json", dest / STSB / "result.json", dest / STSB / "metrics.json"):
        data = json.loads(path.read_text())
        block = data["tasks"][STSB] if "tasks" in data else data
        block["metrics"] = {k: math.nan for k in block["metrics"]}
        block.pop("undefined_metrics")
        path.write_text(json.dumps(data, indent=2))
    assert "NaN" in (dest / "run.json").read_text()
    return dest


def test_report_check_diff_and_score_read_new_and_old_files(nan_run, tmp_path, data_dir, vocab_path, capsys):
    old = _old_format_copy(nan_run, tmp_path / "old")
    for run in (nan_run, old):
        assert cli(["report", run, "--out", tmp_path / f"{run.name}.md", "--bootstrap", "20", "--no-plots"]) == 0
        baseline = tmp_path / f"{run.name}_baseline.json"
        assert cli(["check", run, "--against", baseline, "--update", "--bootstrap", "20"]) == 0
        strict(baseline.read_text())
        assert cli(["check", run, "--against", baseline]) == 0
    assert cli(["diff", old, nan_run]) == 0
    capsys.readouterr()
    out = tmp_path / "score.json"
    assert cli(["score", "stsb", "--predictions", nan_run / STSB / "predictions.jsonl", "--data-dir", data_dir,
                "--limit", "6", "--out", out]) == 0
    scored = strict(out.read_text())
    assert scored["metrics"]["pearson_corrcoef"] is None and "pearson_corrcoef" in scored["undefined_metrics"]
    strict(capsys.readouterr().out)
    # the same command again reuses the finished run (its summary reads null back as NaN)
    assert cli(["run", "stsb", *base_args(vocab_path, data_dir), "--no-finetune", "--limit", "6", "--out", nan_run]) == 0
