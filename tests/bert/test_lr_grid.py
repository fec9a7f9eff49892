"""--lr-grid: BERT's learning-rate search on Dev (Devlin et al. 2019 §4.1) as one command, each lr a cell."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from t5eval.cli import main
from t5eval.run.lr_grid import cell_name, choose, dev_score

RTE = "glue_rte_v002"


def test_the_highest_mean_dev_score_wins_the_first_of_equals_and_nan_never() -> None:
    assert cell_name(5e-5) == "lr_5e-05" and cell_name(0.001) == "lr_0.001"
    assert dev_score({"mean_3class_f1": 40.0, "accuracy": 60.0}) == 50.0
    cells = [(5e-5, {"metrics": {"accuracy": 50.0}}), (4e-5, {"metrics": {"accuracy": math.nan}}),
             (3e-5, {"metrics": {"accuracy": 61.0}}), (2e-5, {"metrics": {"accuracy": 61.0}})]
    assert choose(cells) == 2  # 61 = 61: the earlier lr of the grid; NaN is no score
    assert choose([(1.0, {"metrics": {"accuracy": math.nan}}), (2.0, {"metrics": {"accuracy": 0.0}})]) == 1


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0)


def test_lr_grid_runs_one_cell_per_lr_and_reports_the_best_on_validation(
        wordpiece_vocab: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "grid"
    args = ["run", "rte", "--model", "tiny-bert", "--init", "random", "--vocab", str(wordpiece_vocab),
            "--data-dir", str(data_dir), "--out", str(out), "--threads", "1", "--device", "cpu", "--epochs", "1",
            "--batch-size", "16", "--train-limit", "32", "--limit", "40", "--lr-grid", "1e-3,3e-2"]
    assert _run(args) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["finetune"]["lr_grid"] == [1e-3, 3e-2]
    cells = {lr: json.loads((out / RTE / cell_name(lr) / "result.json").read_text()) for lr in (1e-3, 3e-2)}
    assert {lr: c["train"]["hyperparameters"]["lr"] for lr, c in cells.items()} == {1e-3: 1e-3, 3e-2: 3e-2}
    assert all((out / RTE / cell_name(lr) / "best" / "config.json").is_file() for lr in cells)
    scores = {lr: c["metrics"]["accuracy"] for lr, c in cells.items()}  # RTE: one metric, the score itself
    chosen = 1e-3 if scores[1e-3] >= scores[3e-2] else 3e-2
    task = record["tasks"][RTE]
    assert task["lr_grid"]["chosen_lr"] == chosen and task["metrics"] == cells[chosen]["metrics"]
    assert [c["lr"] for c in task["lr_grid"]["cells"]] == [1e-3, 3e-2]
    assert (out / RTE / "predictions.jsonl").read_bytes() == (out / RTE / cell_name(chosen) / "predictions.jsonl").read_bytes()
    assert f"lr {chosen:g} chosen on validation" in capsys.readouterr().err
    # a killed run resumes: finished cells are reused, the choice is made again from them
    (out / RTE / "result.json").unlink()
    (out / "run.json").unlink()
    before = (out / RTE / cell_name(3e-2) / "result.json").stat().st_mtime_ns
    assert _run(args) == 0
    assert (out / RTE / cell_name(3e-2) / "result.json").stat().st_mtime_ns == before
    assert json.loads((out / "run.json").read_text())["tasks"][RTE]["metrics"] == task["metrics"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--lr-grid", "5e-5,x"], "--lr-grid '5e-5,x': give comma-separated learning rates"),
    (["--lr-grid", "5e-5,5e-5"], "give distinct learning rates > 0"),
    (["--lr-grid", "5e-5,2e-5", "--lr", "1e-3"], "drop --lr"),
])
def test_bad_grids_are_one_line_errors(extra: list[str], message: str, wordpiece_vocab: Path, data_dir: Path,
                                       tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "refused"
    assert _run(["run", "rte", "--model", "tiny-bert", "--init", "random", "--vocab", str(wordpiece_vocab),
                 "--data-dir", str(data_dir), "--out", str(out), "--threads", "1", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()
