"""`t5eval parity` end to end on the tiny saved model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from t5eval.cli import app, main


def test_parity_cli_writes_json_with_exact_parity(tiny_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "parity.json"
    result = CliRunner().invoke(app, ["parity", "--model", str(tiny_dir), "--data-dir", str(data_dir),
                                      "--n", "12", "--tasks", "rte,cola", "--max-decode-len", "16",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["n"] == 12
    assert report["max_abs_logit_diff"] < 1e-4
    assert report["greedy_match"] == 1.0


def test_parity_cli_bad_model_dir_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["parity", "--model", str(tmp_path / "missing")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "missing" in err and len(err.splitlines()) == 1
