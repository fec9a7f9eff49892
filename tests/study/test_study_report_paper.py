"""The study report's paper section on a hand-made study: the paper's per-task scores (its appendix Table 16)
beside ours, in our columns, and the concordance counted per task and for their mean, worked by hand.

The case: study paper_table table11, three levels T2 (baseline), T4, T8 -> the paper's rows temperature_2,
temperature_4, temperature_8; one seed; three tasks of four examples each (labels 1, 0, 1, 0).
Ours (accuracy = right / 4; MRPC F1 of the positive class):
  SST-2  T2 [1,0,1,0] 100    T4 [1,0,1,1] 75             T8 [1,1,1,1] 50
  MRPC   T2 [1,0,1,0] acc 100, F1 100 -> 100
         T4 [1,1,1,0] acc 75, F1 2·(2/3)·1/(2/3+1) = 80 -> 77.5
         T8 [1,0,0,0] acc 75, F1 2·1·(1/2)/(1+1/2) = 66.67 -> 70.83
  RTE    T2 [1,1,1,1] 50     T4 [0,0,0,0] 50             T8 [1,0,1,0] 100
  average T2 (100 + 100 + 50)/3 = 83.33, T4 (75 + 77.5 + 50)/3 = 67.5, T8 (50 + 70.83 + 100)/3 = 73.61
The paper, read by hand off appendix Table 16 (JMLR LaTeX source, \\label{tab:giant}, rows "Temperature-scaled,
T = 2 / 4 / 8" of Table 11):
  SST-2  91.74 / 91.97 / 91.06;  MRPC F1 90.56 / 89.68 / 88.11, acc 86.76 / 85.78 / 83.33
  -> MRPC (acc + F1)/2 = 88.66 / 87.73 / 85.72;  RTE (GLUE) 72.56 / 73.65 / 59.93
  mean of the three: 252.96/3 = 84.32, 253.35/3 = 84.45, 236.71/3 = 78.90;  GLUE average 81.90 / 80.56 / 77.21
Concordance (pairs (T2,T4), (T2,T8), (T4,T8)):
  SST-2   ours T2>T4>T8, paper T4>T2>T8: ✗ ✓ ✓ -> 2 concordant, 1 discordant, τ = +0.33
  MRPC    ours T2>T4>T8, paper T2>T4>T8: 3 concordant, τ = +1.00
  RTE     ours T2=T4<T8, paper T4>T2>T8: tied ✗ ✗ -> 0, 2, 1 tied, τ = −0.67
  average ours T2>T8>T4, paper T4>T2>T8: ✗ ✓ ✗ -> 1, 2, τ = −0.33
  (the GLUE average, which the report used before, orders T2>T4>T8: 2 concordant, 1 discordant, τ = +0.33)
"""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import cli

LABELS = [1, 0, 1, 0]
PREDICTIONS = {  # task -> level -> predictions
    "glue_sst2_v002": {"t2": [1, 0, 1, 0], "t4": [1, 0, 1, 1], "t8": [1, 1, 1, 1]},
    "glue_mrpc_v002": {"t2": [1, 0, 1, 0], "t4": [1, 1, 1, 0], "t8": [1, 0, 0, 0]},
    "glue_rte_v002": {"t2": [1, 1, 1, 1], "t4": [0, 0, 0, 0], "t8": [1, 0, 1, 0]},
    "glue_wnli_v002": {"t2": [1, 0, 1, 0], "t4": [1, 1, 1, 1], "t8": [1, 0, 1, 1]},
}
METRICS = {  # worked by hand above
    "glue_sst2_v002": {"t2": {"accuracy": 100.0}, "t4": {"accuracy": 75.0}, "t8": {"accuracy": 50.0}},
    "glue_mrpc_v002": {"t2": {"accuracy": 100.0, "f1": 100.0}, "t4": {"accuracy": 75.0, "f1": 80.0},
                       "t8": {"accuracy": 75.0, "f1": 200 / 3}},
    "glue_rte_v002": {"t2": {"accuracy": 50.0}, "t4": {"accuracy": 50.0}, "t8": {"accuracy": 100.0}},
    "glue_wnli_v002": {"t2": {"accuracy": 100.0}, "t4": {"accuracy": 50.0}, "t8": {"accuracy": 75.0}},
}
ROWS = {"t2": "temperature_2", "t4": "temperature_4", "t8": "temperature_8"}


def _write_run(folder: Path, level: str, tasks: list[str]) -> None:
    record_tasks = {}
    for task in tasks:
        preds = PREDICTIONS[task][level]
        rows = [{"index": i, "inputs": f"x{i}", "target": str(t), "prediction": str(p), "target_value": t,
                 "prediction_value": p} for i, (t, p) in enumerate(zip(LABELS, preds, strict=True))]
        (folder / task).mkdir(parents=True)
        (folder / task / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        record_tasks[task] = {"split": "validation", "n": 4, "metrics": METRICS[task][level]}
    record = {"schema": 1, "run_id": folder.name, "status": "complete", "wall_time_s": 1.0,
              "settings": {"seed": 0, "protocol": "current"}, "env": {"git_commit": "abc"}, "tasks": record_tasks}
    (folder / "run.json").write_text(json.dumps(record))


def _study(tmp_path: Path, tasks: list[str]) -> Path:
    levels = {lv: {"label": f"T={lv[1]}", "paper_row": row} for lv, row in ROWS.items()}
    definition = {"schema": 1, "name": "temps", "title": "Temperatures", "factor": "T", "baseline": "t2",
                  "tasks": ["sst2"], "paper_table": "table11", "levels": levels}
    record = {"schema": 1, "study": "temps", "scale": "micro", "seeds": [0], "tasks": ["sst2"],
              "definition": definition, "scale_definition": {"description": "hand-written"}}
    (tmp_path / "study.json").write_text(json.dumps(record))
    for level in ROWS:
        _write_run(tmp_path / "runs" / f"{level}_s0", level, tasks)
    out = tmp_path / "report.md"
    assert cli(["study", "report", tmp_path, "--out", out, "--bootstrap", 20]) == 0
    return out


def _paper_rows(text: str) -> tuple[list[str], dict[str, list[str]]]:
    block = text.split("## The paper's rows", 1)[1].split("\n\n", 3)[2]
    lines = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()]
    return lines[0], {r[0]: r[1:] for r in lines[2:]}


def _section(text: str) -> str:
    return text.split("## The paper's rows", 1)[1].split("\n## ", 1)[0]


def test_the_papers_per_task_scores_stand_in_our_columns(tmp_path: Path) -> None:
    text = _study(tmp_path, ["glue_sst2_v002", "glue_mrpc_v002", "glue_rte_v002"]).read_text()
    ours = text.split("## Scores", 1)[1].split("\n\n", 2)[1].splitlines()[0]
    header, rows = _paper_rows(text)
    task_columns = ["glue_sst2_v002 (accuracy)", "glue_mrpc_v002 (accuracy/f1)", "glue_rte_v002 (accuracy)"]
    assert all(f"| {c} |" in ours for c in task_columns)  # our scores table has the same columns
    assert header[:5] == ["level (paper)", *task_columns, "average"]
    assert header[5] == "GLUE avg" and header[-1] == "confidence"
    # The paper's MRPC is the mean of its F1 and accuracy, the printed cells after it in our order (acc/F1).
    assert rows["T=2"][:4] == ["91.74", "88.66 (86.76/90.56)", "72.56", "84.32"]
    assert rows["T=4"][:4] == ["91.97", "87.73 (85.78/89.68)", "73.65", "84.45"]
    assert rows["T=8"][:4] == ["91.06", "85.72 (83.33/88.11)", "59.93", "78.90"]
    assert [rows[lv][4] for lv in ("T=2", "T=4", "T=8")] == ["81.90", "80.56", "77.21"]  # Table 11's GLUE
    assert all(row[-1] == "V" for row in rows.values())
    assert "appendix Table 16" in _section(text)


def test_concordance_per_task_and_for_their_mean(tmp_path: Path) -> None:
    section = _section(_study(tmp_path, ["glue_sst2_v002", "glue_mrpc_v002", "glue_rte_v002"]).read_text())
    lines = [line for line in section.splitlines() if "Ordering against the paper" in line]
    assert len(lines) == 4
    assert "(glue_sst2_v002 vs the paper's SST-2 acc, 3 levels, 3 pair(s)): 2 concordant, 1 discordant, 0 tied " \
           "(Kendall τ-a = +0.33)" in lines[0]
    assert "(glue_mrpc_v002 vs the paper's mean of MRPC acc and MRPC F1, 3 levels, 3 pair(s)): 3 concordant, 0 " \
           "discordant, 0 tied (Kendall τ-a = +1.00)" in lines[1]
    assert "(glue_rte_v002 vs the paper's RTE, 3 levels, 3 pair(s)): 0 concordant, 2 discordant, 1 tied " \
           "(Kendall τ-a = -0.67)" in lines[2]
    assert "(our average vs the paper's mean of the same per-task scores, 3 levels, 3 pair(s)): 1 concordant, " \
           "2 discordant, 0 tied (Kendall τ-a = -0.33)" in lines[3]
    assert "GLUE avg" not in "".join(lines)  # the aggregate is no longer what our ordering is held against


def test_one_task_gives_one_concordance_line(tmp_path: Path) -> None:
    """RTE alone: its line (0, 2, 1 tied, as above) and no second line for a mean of the same numbers."""
    section = _section(_study(tmp_path, ["glue_rte_v002"]).read_text())
    lines = [line for line in section.splitlines() if "Ordering against the paper" in line]
    assert len(lines) == 1 and "0 concordant, 2 discordant, 1 tied" in lines[0] and "glue_rte_v002" in lines[0]


def test_tasks_without_a_paper_column_are_left_out_of_the_mean(tmp_path: Path) -> None:
    """glue_wnli_v002 has no column of the paper (Table 16 has no WNLI, the paper never scores its validation set).
    By hand: ours SST-2 + RTE mean T2 (100 + 50)/2 = 75, T4 (75 + 50)/2 = 62.5, T8 (50 + 100)/2 = 75; the
    paper's 82.15, 82.81, 75.495: (T2,T4) ✗, (T2,T8) tied, (T4,T8) ✗ -> 0, 2, 1 tied, τ = −0.67."""
    text = _study(tmp_path, ["glue_sst2_v002", "glue_rte_v002", "glue_wnli_v002"]).read_text()
    header, rows = _paper_rows(text)
    assert header[:4] == ["level (paper)", "glue_sst2_v002 (accuracy)", "glue_rte_v002 (accuracy)",
                          "mean of glue_sst2_v002, glue_rte_v002"]
    assert rows["T=2"][:3] == ["91.74", "72.56", "82.15"]
    lines = [line for line in _section(text).splitlines() if "Ordering against the paper" in line]
    assert len(lines) == 3 and "glue_wnli_v002" not in "".join(lines)
    assert "(our mean of glue_sst2_v002, glue_rte_v002 vs the paper's mean of the same per-task scores, 3 levels, " \
           "3 pair(s)): 0 concordant, 2 discordant, 1 tied (Kendall τ-a = -0.67)" in lines[2]


def test_without_any_paper_column_the_aggregate_is_the_fallback(tmp_path: Path) -> None:
    """Only WNLI: ours T2 100, T4 50, T8 75 against Table 11's GLUE average 81.90 > 80.56 > 77.21:
    (T2,T4) ✓, (T2,T8) ✓, (T4,T8) ✗ -> 2 concordant, 1 discordant, τ = +0.33."""
    text = _study(tmp_path, ["glue_wnli_v002"]).read_text()
    header, _ = _paper_rows(text)
    assert header[1] == "GLUE avg"  # no task column, no average: the table's own columns only
    section = _section(text)
    assert "None of our tasks has a per-task score in the paper's table: only its aggregate" in section
    assert "Ordering against the paper (our average vs the paper's GLUE avg; none of our tasks has a per-task " \
           "score in the paper's table, 3 levels, 3 pair(s)): 2 concordant, 1 discordant, 0 tied (Kendall τ-a = " \
           "+0.33)" in section
