"""`t5eval study report` on fixed prediction files written here, checked against numbers worked by hand.

The case: two levels (base, alt), two seeds, two accuracy tasks of four examples each (labels 1, 0, 1, 0).
  RTE   seed 0: base wrong on all 4 (0%),  alt right on all 4 (100%)
        seed 1: base wrong on all 4 (0%),  alt = base (0%)
  SST-2 seed 0: base right on all 4 (100%), alt wrong on all 4 (0%)
        seed 1: base right on all 4 (100%), alt = base (100%)
By hand: RTE base 0.00 ± 0.00, alt 50.00 ± 70.71 (sample std of 100 and 0 = 100/sqrt(2)); SST-2 base
100.00 ± 0.00, alt 50.00 ± 70.71; average (mean of the two tasks per seed) base 50, 50 -> 50.00 ± 0.00,
alt 50, 50 -> 50.00 ± 0.00.
Paired Δ: on RTE seed 0 every resample of the 4 examples has alt 100% and base 0%, so every draw is +100;
seed 1 every draw is 0; pooled draw = (100 + 0) / 2 = +50 in every resample, so the interval is exactly
[+50, +50] and excludes 0 (▲). SST-2 mirrors it: −50 [−50, −50] ▼. Average: (50 − 50) / 2 = 0 in every
draw: +0.00 [+0.00, +0.00], no arrow.
Bold (within 2 std of the best, std of the baseline's seeds = 0 in every column): RTE best 50 (alt) ->
only alt bold; SST-2 best 100 (base) -> only base bold; average 50 = 50 -> both bold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from t5eval.study.stats import bold_levels, concordance, mean_std, paired_draws

from .helpers import cli

LABELS = [1, 0, 1, 0]
TASKS = {"glue_rte_v002": {"base": [False, False], "alt": [True, False]},  # alt right on seed 0, = base on 1
         "glue_sst2_v002": {"base": [True, True], "alt": [False, True]}}


def _write_run(folder: Path, right: dict[str, bool]) -> None:
    tasks = {}
    for task, correct in right.items():
        preds = LABELS if correct else [1 - x for x in LABELS]
        rows = [{"index": i, "inputs": f"x{i}", "target": str(t), "prediction": str(p), "target_value": t,
                 "prediction_value": p} for i, (t, p) in enumerate(zip(LABELS, preds, strict=True))]
        (folder / task).mkdir(parents=True)
        (folder / task / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        tasks[task] = {"split": "validation", "n": 4, "metrics": {"accuracy": 100.0 if correct else 0.0}}
    record = {"schema": 1, "run_id": folder.name, "status": "complete", "wall_time_s": 1.0,
              "settings": {"seed": 0, "protocol": "current"}, "env": {"git_commit": "abc"}, "tasks": tasks}
    (folder / "run.json").write_text(json.dumps(record))


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    definition = {"schema": 1, "name": "hand", "title": "Hand-checked study", "factor": "f", "baseline": "base",
                  "tasks": ["rte", "sst2"], "paper_table": None,
                  "levels": {"base": {"label": "Base"}, "alt": {"label": "Alt", "run": {"transfer": "frozen"}}}}
    record = {"schema": 1, "study": "hand", "scale": "micro", "seeds": [0, 1], "tasks": ["rte", "sst2"],
              "definition": definition, "scale_definition": {"description": "hand-written"}}
    (tmp_path / "study.json").write_text(json.dumps(record))
    for level in ("base", "alt"):
        for seed in (0, 1):
            _write_run(tmp_path / "runs" / f"{level}_s{seed}", {t: TASKS[t][level][seed] for t in TASKS})
    return tmp_path


def _rows(text: str, heading: str) -> dict[str, list[str]]:
    block = text.split(heading, 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]
    return {r[0]: r[1:] for r in rows}


def test_report_cells_match_the_hand_computed_values(study_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    assert cli(["study", "report", study_dir, "--out", out, "--bootstrap", 200]) == 0
    text = out.read_text()
    scores = _rows(text, "## Scores")
    assert scores["Base"] == ["2", "0.00 ± 0.00", "**100.00 ± 0.00**", "**50.00 ± 0.00**"]
    assert scores["Alt"] == ["2", "**50.00 ± 70.71**", "50.00 ± 70.71", "**50.00 ± 0.00**"]
    deltas = _rows(text, "## Paired differences")
    assert deltas["Alt"] == ["2", "+50.00 [+50.00, +50.00] ▲", "-50.00 [-50.00, -50.00] ▼", "+0.00 [+0.00, +0.00]"]
    assert "Partial study" not in text


def test_a_half_finished_study_reports_what_exists_and_names_what_is_missing(study_dir: Path, tmp_path: Path) -> None:
    """Found by hand: the missing cells were one line at the bottom and the Δ did not say it paired fewer seeds.
    Without runs/base_s1: Base has seed 0 only (RTE 0, SST-2 100, average 50); Alt keeps both seeds; the Δ pairs
    seed 0 only: RTE +100 in every resample, SST-2 −100, average 0 (module docstring's seed-0 case)."""
    import shutil

    shutil.rmtree(study_dir / "runs" / "base_s1")
    (study_dir / "runs" / "alt_s1" / "run.json").write_text(json.dumps({"status": "running"}))  # killed mid-run
    out = tmp_path / "report.md"
    assert cli(["study", "report", study_dir, "--out", out, "--bootstrap", 50]) == 0
    text = out.read_text()
    head = text.split("## Scores")[0]
    assert "Partial study: 2 of 4 result cells not finished" in head and "runs/base_s1, runs/alt_s1" in head
    scores = _rows(text, "## Scores")
    assert scores["Base"] == ["1", "0.00", "**100.00**", "**50.00**"]
    assert scores["Alt"] == ["1", "**100.00**", "0.00", "**50.00**"]
    deltas = _rows(text, "## Paired differences")
    assert deltas["Alt"] == ["1", "+100.00 [+100.00, +100.00] ▲", "-100.00 [-100.00, -100.00] ▼", "+0.00 [+0.00, +0.00]"]
    assert (tmp_path / "report_forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_study_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["study", "report", tmp_path, "--out", tmp_path / "r.md"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "study.json not found" in err[0]


def test_mean_and_sample_std_by_hand() -> None:
    assert mean_std([0.0, 100.0]) == (50.0, pytest.approx(100 / np.sqrt(2)))
    assert mean_std([61.0]) == (61.0, None)


def test_identical_predictions_give_zero_for_every_resample_of_any_metric() -> None:
    """Whatever the metric (Pearson/Spearman recomputed per resample, BLEU from summed statistics), a level
    whose predictions equal the baseline's differs by exactly 0 in every resample."""
    from t5eval.tasks import TaskRegistry, compute_metrics

    registry = TaskRegistry.default()
    stsb = registry.get("stsb")
    targets, preds = [0.0, 1.2, 3.4, 5.0, 2.2], [0.4, 1.0, 3.0, 4.6, 2.8]
    _, draws = paired_draws(targets, preds, preds, lambda t, p: compute_metrics(stsb, t, p), n_boot=50, seed=0,
                            name="stsb")
    assert draws.shape == (50,) and np.all(draws[np.isfinite(draws)] == 0.0)
    ende = registry.get("wmt_t2t_ende_v003")
    refs, hyps = ["das ist gut .", "ein Haus", "wir gehen heim"], ["das ist gut", "ein Haus", "wir gehen"]
    _, bleu = paired_draws(refs, hyps, hyps, lambda t, p: compute_metrics(ende, t, p), n_boot=50, seed=0, name="ende")
    assert np.all(bleu == 0.0)


def test_a_perfect_level_against_an_all_wrong_baseline_is_plus_100_in_every_resample() -> None:
    from t5eval.tasks import TaskRegistry, compute_metrics

    rte = TaskRegistry.default().get("rte")
    targets = [1, 0, 0, 1, 1]
    point, draws = paired_draws(targets, [1 - t for t in targets], targets, lambda t, p: compute_metrics(rte, t, p),
                                n_boot=100, seed=3, name="rte")
    assert point == 100.0 and np.all(draws == 100.0)


def test_bold_rule_and_concordance_by_hand() -> None:
    # best 80, baseline std 1.5: bold down to 77 (80 − 2 × 1.5): 77 bold, 76.9 not
    assert bold_levels({"a": 80.0, "b": 77.0, "c": 76.9}, 1.5) == {"a", "b"}
    assert bold_levels({"a": 80.0, "b": 79.99}, None) == {"a"}  # one seed: the best only
    # ours a > b > c; paper a > c > b: pairs (a,b) ✓, (a,c) ✓, (b,c) ✗
    result = concordance({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 9.0, "b": 7.0, "c": 8.0})
    assert (result.concordant, result.discordant, result.tied) == (2, 1, 0)


def test_forest_plot_title_and_axis_label_stay_inside_the_figure() -> None:
    """Found by hand: table4's title and x label ran off the right edge of the PNG (cut mid-word)."""
    from t5eval.study.plots import forest_figure
    from t5eval.study.schema import Study
    from t5eval.study.stats import Delta

    study = Study.model_validate({
        "schema": 1, "name": "t", "factor": "f", "baseline": "base", "tasks": ["cb"],
        "title": "Table 4: pre-training objectives (prefix LM, BERT-style, deshuffling) against the paper's baseline objective, at the micro scale, two seeds, eight validation examples of CB",
        "levels": {"base": {"label": "Baseline: i.i.d. replace corrupted spans, 15% ★"},
                   "alt": {"label": "Prefix language modeling"}}})
    deltas = {"alt": {"super_glue_cb_v102": Delta(1.0, -1.0, 3.0, 2), "average": Delta(1.0, -1.0, 3.0, 2)}}
    fig = forest_figure(deltas, study, ["super_glue_cb_v102", "average"])
    assert fig is not None and len(fig.texts) == 2
    fig.canvas.draw()  # the constrained layout is computed when drawn
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for text in fig.texts:  # the title and the Δ axis label
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y0 >= 0 and box.y1 <= fig.bbox.height, text


@pytest.mark.parametrize(("body", "expected"), [
    ("{bad", "study.json: not readable JSON"),
    ('{"schema": 1}', "study.json: not a study record (no study, scale, seeds, definition, scale_definition)"),
    ('{"study": "x", "scale": "micro", "seeds": [0], "definition": {"name": "x"}, "scale_definition": {}}',
     "study.json: definition: not a study"),
])
def test_a_damaged_study_record_is_one_error_line(body: str, expected: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Found by hand: a truncated or hand-edited study.json gave a JSONDecodeError / KeyError traceback."""
    (tmp_path / "study.json").write_text(body)
    assert cli(["study", "report", tmp_path, "--out", tmp_path / "r.md"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert cli(["study", "run", "table4", "--scale", "micro", "--seeds", "1", "--out", tmp_path,
                "--vocab", tmp_path / "spiece.model"]) == 2  # the same record refuses a run in one line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "study.json: " in err[0], err


def test_a_study_out_that_is_a_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by hand: `--out corpus.jsonl` gave a FileExistsError traceback."""
    (tmp_path / "f.jsonl").write_text("{}\n")
    assert cli(["study", "run", "table4", "--scale", "micro", "--seeds", "1", "--out", tmp_path / "f.jsonl",
                "--vocab", tmp_path / "spiece.model"]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {tmp_path / 'f.jsonl'} is a file, not a folder; pass a new or study folder"


def test_with_one_task_the_forest_plot_has_no_duplicate_average_rows(tmp_path: Path, monkeypatch) -> None:
    """Found by hand (micro studies score CB only): every level had two identical rows, CB and its average."""
    import t5eval.study.plots as plots

    definition = {"schema": 1, "name": "one", "title": "One task", "factor": "f", "baseline": "base",
                  "tasks": ["rte"], "levels": {"base": {"label": "Base"}, "alt": {"label": "Alt"}}}
    record = {"schema": 1, "study": "one", "scale": "micro", "seeds": [0], "tasks": ["rte"],
              "definition": definition, "scale_definition": {"description": "hand-written"}}
    (tmp_path / "study.json").write_text(json.dumps(record))
    for level, right in (("base", False), ("alt", True)):
        _write_run(tmp_path / "runs" / f"{level}_s0", {"glue_rte_v002": right})
    drawn: list[list[str]] = []
    real = plots.plot_deltas
    monkeypatch.setattr(plots, "plot_deltas", lambda d, s, columns, p: drawn.append(columns) or real(d, s, columns, p))
    assert cli(["study", "report", tmp_path, "--out", tmp_path / "r.md", "--bootstrap", 20]) == 0
    assert drawn == [["glue_rte_v002"]]


def test_a_study_where_nothing_separates_says_so(tmp_path: Path) -> None:
    """Found by hand: at `micro` every run scores 0 on CB; the report bolded every row and counted 6 ties
    without saying that nothing was measured."""
    definition = {"schema": 1, "name": "flat", "title": "Flat", "factor": "f", "baseline": "base",
                  "tasks": ["rte"], "levels": {"base": {"label": "Base"}, "alt": {"label": "Alt"}}}
    record = {"schema": 1, "study": "flat", "scale": "micro", "seeds": [0], "tasks": ["rte"],
              "definition": definition, "scale_definition": {"description": "hand-written"}}
    (tmp_path / "study.json").write_text(json.dumps(record))
    for level in ("base", "alt"):
        _write_run(tmp_path / "runs" / f"{level}_s0", {"glue_rte_v002": False})  # both 0% on RTE
    assert cli(["study", "report", tmp_path, "--out", tmp_path / "r.md", "--bootstrap", 20]) == 0
    assert "Every level scored 0.00 on every task and seed: nothing separates at this scale" in (
        tmp_path / "r.md").read_text()


def test_a_study_that_separates_has_no_such_line(study_dir: Path, tmp_path: Path) -> None:
    assert cli(["study", "report", study_dir, "--out", tmp_path / "r.md", "--bootstrap", 20]) == 0
    assert "nothing separates" not in (tmp_path / "r.md").read_text()
