"""Bad input gives one-line errors naming the file/row/name (exit 2), and data quirks load with a warning."""

from __future__ import annotations

import json
import shutil

import pytest

from t5eval.errors import T5evalError
from t5eval.tasks import DataWarning, TaskRegistry, load_examples
from t5eval.tasks.readers import read_glue_tsv, read_superglue_jsonl

REG = TaskRegistry.default()


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def one_error_line(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_score_good_file_matches_hand_count(cli, data_dir, tmp_path):
    # predict "entailment" everywhere: RTE dev has 146 entailment of 277 (SOURCES.md)
    preds = write_jsonl(tmp_path / "p.jsonl", [{"index": i, "prediction": "entailment"} for i in range(277)])
    out = tmp_path / "m.json"
    code, _, _ = cli("score", "rte", "--predictions", preds, "--data-dir", data_dir, "--out", out)
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["task"] == "glue_rte_v002" and result["n"] == 277 and result["protocol"] == "current"
    assert result["metrics"]["accuracy"] == pytest.approx(100 * 146 / 277)


def test_score_benchmark_dir(cli, data_dir, tmp_path):
    write_jsonl(tmp_path / "glue_rte_v002.jsonl", [{"index": i, "prediction": "entailment"} for i in range(277)])
    write_jsonl(tmp_path / "glue_sst2_v002.jsonl", [{"index": i, "prediction": "positive"} for i in range(872)])
    out = tmp_path / "glue.json"
    code, _, _ = cli("score", "glue", "--predictions-dir", tmp_path, "--data-dir", data_dir, "--out", out)
    result = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0 and result["complete"] is False
    assert set(result["groups"]) == {"RTE", "SST-2"}
    assert result["groups"]["SST-2"] == pytest.approx(100 * 444 / 872)  # 444 positive of 872


@pytest.mark.parametrize(("rows", "needles"), [
    ([{"index": 0, "prediction": "entailment"}], ["no prediction for 276 of 277", "first missing index 1"]),
    ([{"index": 0, "prediction": "a"}, {"index": 0, "prediction": "b"}], ["line 2", "duplicate index 0"]),
    ([{"index": "0", "prediction": "a"}], ["line 1", "integer 'index'"]),
    ([], ["is empty"]),
    ([{"index": i, "prediction": "x"} for i in range(278)], ["index 277 is not an example"]),
])
def test_score_bad_predictions(cli, data_dir, tmp_path, rows, needles):
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    code, _, err = cli("score", "rte", "--predictions", preds, "--data-dir", data_dir)
    one_error_line(code, err, str(preds) if rows else "", *needles)


def test_score_malformed_json_line(cli, data_dir, tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"index": 0, "prediction": "x"}\n{"index": 1, \n', encoding="utf-8")
    code, _, err = cli("score", "rte", "--predictions", preds, "--data-dir", data_dir)
    one_error_line(code, err, f"{preds}, line 2", "malformed JSON")


def test_unknown_task_and_missing_file(cli, data_dir, tmp_path):
    code, _, err = cli("score", "glue_rtee", "--predictions", tmp_path / "p.jsonl", "--data-dir", data_dir)
    one_error_line(code, err, "unknown task 'glue_rtee'", "did you mean")
    code, _, err = cli("score", "rte", "--predictions", tmp_path / "nope.jsonl", "--data-dir", data_dir)
    one_error_line(code, err, "nope.jsonl not found")


def test_missing_local_split_names_expected_path(cli, data_dir, tmp_path):
    code, _, err = cli("export", "record", "--data-dir", data_dir, "--out", tmp_path / "r.jsonl")
    one_error_line(code, err, "superglue/ReCoRD/val.jsonl", "--data-dir")
    assert not (tmp_path / "r.jsonl").exists()


def test_unknown_split(cli, data_dir, tmp_path):
    code, _, err = cli("export", "rte", "--split", "dev", "--data-dir", data_dir, "--out", tmp_path / "x.jsonl")
    one_error_line(code, err, "has no split 'dev'", "validation")


def test_malformed_tsv_and_jsonl_rows_name_file_and_line(tmp_path):
    # header-less (CoLA train/dev): TFDS indexes row[3] and fails, so a short row is an error
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\tonly three\n", encoding="utf-8")
    args = {"header": False, "columns": {"sentence": 3}, "label": {"column": 1}}
    with pytest.raises(T5evalError, match=r"dev\.tsv, line 2: expected 4 tab-separated fields, found 3"):
        read_glue_tsv([tsv], args)
    jl = tmp_path / "val.jsonl"
    jl.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(T5evalError, match=r"val\.jsonl, line 2: malformed JSON"):
        read_superglue_jsonl([jl], {})


def test_bad_label_names_the_row(tmp_path):
    root = tmp_path / "data"
    (root / "superglue" / "CB").mkdir(parents=True)
    write_jsonl(root / "superglue/CB/val.jsonl", [{"premise": "p", "hypothesis": "h", "label": "maybe", "idx": 0}])
    with pytest.raises(T5evalError, match=r"CB/val\.jsonl, line 1: label 'maybe' is not one of"):
        load_examples(REG.get("cb"), "validation", root)


@pytest.mark.parametrize(("task", "folder"), [("boolq", "BoolQ"), ("wic", "WiC"), ("wsc", "WSC")])
def test_quirk_string_labels_load_with_a_warning(task, folder, data_dir, tmp_path):
    root = tmp_path / "data"
    (root / "superglue" / folder).mkdir(parents=True)
    shutil.copy(data_dir / "quirks/superglue" / folder / "val.jsonl", root / "superglue" / folder / "val.jsonl")
    with pytest.warns(DataWarning, match="labels stored as the strings 'true'/'false'"):
        quirky = load_examples(REG.get(task), "validation", root).examples
    clean = load_examples(REG.get(task), "validation", data_dir).examples
    assert quirky == clean


def test_task_alias_that_is_also_a_benchmark_name_scores_the_task(cli, data_dir, tmp_path):
    # "squad" names both the benchmark and squad_v010_allanswers; with --predictions it is the task
    rows = [{"index": i, "prediction": "x"} for i in range(10570)]
    code, stdout, err = cli("score", "squad", "--predictions", write_jsonl(tmp_path / "p.jsonl", rows),
                            "--data-dir", data_dir)
    assert code == 0, err
    assert '"task": "squad_v010_allanswers"' in stdout
