"""`t5eval bench --model GPT2DIR`: greedy native vs transformers on identical weights, identical ids."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from t5eval.cli import app


def test_bench_gpt2_dir_reports_identical_greedy_rows(gpt2_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--model", str(gpt2_dir), "--batch-size", "3", "--input-len", "12",
                                      "--new-tokens", "6", "--repeats", "1", "--threads", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["model_type"] == "gpt2" and report["rows"] == 3
    assert report["identical_rows"] == 3
    assert set(report["seconds"]) == {"native", "transformers"} and report["speedup_vs_transformers"] > 0
