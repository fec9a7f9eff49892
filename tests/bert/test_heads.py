"""Task heads declared in task_defs/heads.yaml, BERT's recipe, and `t5eval run` with a BERT model end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from t5eval.cli import main
from t5eval.errors import T5evalError
from t5eval.tasks import TaskRegistry, compute_metrics, postprocess
from t5eval.tasks.data import load_examples_with_rows
from t5eval.tasks.head_specs import HeadRegistry
from t5eval.train.bert_optim import torch_lr_factor
from t5eval.train.head_step import HeadHyperparameters

REG = TaskRegistry.default()


def test_heads_yaml_maps_fields_and_label_words(data_dir: Path) -> None:
    heads = HeadRegistry.default()
    copa = heads.get(REG.get("copa"))
    examples, rows = load_examples_with_rows(REG.get("copa"), "validation", data_dir, limit=1)
    # COPA val row 0: premise "The man turned on the faucet.", effect; choice2 "Water flowed from the spout." (gold)
    assert copa.segments(rows[0]) == [("The man turned on the faucet. effect", "The toilet filled with water."),
                                      ("The man turned on the faucet. effect", "Water flowed from the spout.")]
    assert copa.gold(examples.examples[0], rows[0]) == 1 and copa.prediction_text(1) == "choice2"
    rte = heads.get(REG.get("rte"))
    assert rte.labels == ("entailment", "not_entailment") and rte.num_outputs == 2
    stsb = heads.get(REG.get("stsb"))
    examples, rows = load_examples_with_rows(REG.get("stsb"), "validation", data_dir, limit=1)
    assert stsb.kind == "regress" and stsb.gold(examples.examples[0], rows[0]) == 5.0
    assert postprocess(REG.get("stsb"), stsb.prediction_text(3.14159), examples.examples[0], is_target=False) == 3.142
    multirc = heads.get(REG.get("multirc"))
    examples, rows = load_examples_with_rows(REG.get("multirc"), "validation", data_dir, limit=1)
    assert multirc.segments(rows[0])[0][1].startswith("Would the mass of a baseball affect") and \
        multirc.segments(rows[0])[0][1].endswith(" No")
    value = postprocess(REG.get("multirc"), multirc.prediction_text(1), examples.examples[0], is_target=False)
    assert value == {"value": 1}


@pytest.mark.parametrize(("entry", "message"), [
    ({"kind": "regress", "a": ["sentence1"], "b": ["sentence2"]}, "a regression head on a classification task"),
    ({"kind": "classify", "a": ["sentence9"]}, "field(s) sentence9 not in the task's rows"),
    ({"kind": "clasify", "a": ["sentence1"]}, "did you mean classify"),
    ({"kind": "choice", "a": ["sentence1"], "choices": ["sentence2"]}, "1 choices for 2 labels"),
])
def test_bad_head_entries_are_one_line_errors(tmp_path: Path, entry: dict, message: str) -> None:
    path = tmp_path / "heads.yaml"
    path.write_text(yaml.safe_dump({"glue_rte_v002": entry}))
    with pytest.raises(T5evalError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        HeadRegistry.load(path, REG)
    assert "\n" not in str(err.value)


def test_recipe_defaults_are_berts_and_the_schedule_warms_up_then_decays() -> None:
    recipe = HeadHyperparameters()
    assert (recipe.lr, recipe.epochs, recipe.batch_size, recipe.max_len, recipe.dropout, recipe.warmup) == (
        2e-5, 3, 32, 128, 0.1, 0.1)
    # --bert-recipe torch: 10 warm-up steps, then 90 decaying to 0 (official: tests/bert/test_bert_recipe.py)
    assert [torch_lr_factor(s, 100, 10) for s in (0, 5, 10, 55, 100, 120)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    with pytest.raises(T5evalError, match="--lr must be > 0"):
        HeadHyperparameters(lr=0)


def _run(args: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code in (0, None), info.value


def _check_run(out: Path, expected: dict[str, list[str]], epochs: int, steps_per_epoch: int, data_dir: Path,
               capsys: pytest.CaptureFixture) -> dict:
    record = json.loads((out / "run.json").read_text())
    for name, metrics in expected.items():
        task = record["tasks"][name]
        assert list(task["metrics"]) == metrics and task["finetuned"]
        assert [h["step"] for h in task["history"]] == [e * steps_per_epoch for e in range(1, epochs + 1)]
        assert task["train"]["steps"] == epochs * steps_per_epoch
        rows = [json.loads(line) for line in (out / name / "predictions.jsonl").read_text().splitlines()]
        spec = REG.get(name)
        assert len(rows) == task["n"]
        if spec.labels:
            assert {r["prediction"] for r in rows} <= set(spec.labels)
        again = compute_metrics(spec, [r["target_value"] for r in rows], [r["prediction_value"] for r in rows])
        assert again == task["metrics"]
        capsys.readouterr()  # `t5eval score` re-postprocesses the prediction texts against the data
        _run(["score", name, "--predictions", str(out / name / "predictions.jsonl"), "--data-dir", str(data_dir)])
        assert json.loads(capsys.readouterr().out)["metrics"] == pytest.approx(task["metrics"], abs=1e-9)
    return record


def test_bert_run_fine_tunes_and_scores_and_predictions_rescore_exactly(
        wordpiece_vocab: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    _run(["run", "rte,cb", "--model", "tiny-bert", "--init", "random", "--vocab", str(wordpiece_vocab),
          "--data-dir", str(data_dir), "--out", str(out), "--threads", "1", "--device", "cpu", "--lr", "1e-3",
          "--epochs", "1", "--batch-size", "16", "--train-limit", "32"])
    record = _check_run(out, {"glue_rte_v002": ["accuracy"], "super_glue_cb_v102": ["mean_3class_f1", "accuracy"]},
                        1, 2, data_dir, capsys)
    assert record["model"]["family"] == "bert" and record["model"]["config"]["vocab_size"] == 30522
    assert record["settings"]["finetune"]["lr"] == 1e-3 and record["settings"]["finetune"]["warmup"] == 0.1
    assert record["settings"]["finetune"]["batch_size"] == 16 and record["settings"]["finetune"]["max_len"] == 128
    finetune = record["settings"]["finetune"]  # BERT's official recipe by default (tests/bert/test_bert_recipe.py)
    assert (finetune["bert_recipe"], finetune["clip_global_norm"]) == ("official", 1.0)
    assert record["tasks"]["glue_rte_v002"]["best_step"] == 2  # the final step (2 steps of one epoch)
    assert record["vocab"]["kind"] == "wordpiece" and record["vocab"]["lowercase"] is True
    assert (out / "glue_rte_v002" / "best" / "config.json").is_file()


@pytest.mark.slow
def test_bert_run_on_rte_cb_sst2_stsb_copa(wordpiece_vocab: Path, data_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    _run(["run", "rte,cb,sst2,stsb,copa", "--model", "tiny-bert", "--init", "random", "--vocab", str(wordpiece_vocab),
          "--data-dir", str(data_dir), "--out", str(out), "--threads", "1", "--device", "cpu", "--lr", "1e-3",
          "--epochs", "2", "--batch-size", "16", "--train-limit", "96"])
    _check_run(out, {"glue_rte_v002": ["accuracy"], "super_glue_cb_v102": ["mean_3class_f1", "accuracy"],
                     "glue_sst2_v002": ["accuracy"], "glue_stsb_v002": ["pearson_corrcoef", "spearman_corrcoef"],
                     "super_glue_copa_v102": ["accuracy"]}, 2, 6, data_dir, capsys)


def test_bert_run_refuses_tasks_without_a_head_and_bad_lengths(wordpiece_vocab: Path, data_dir: Path,
                                                                tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["--model", "tiny-bert", "--init", "random", "--vocab", str(wordpiece_vocab), "--data-dir", str(data_dir),
            "--threads", "1", "--device", "cpu"]
    for args, message in ((["run", "rte,wnli_simple", *base, "--out", str(tmp_path / "a")],
                           "glue_wnli_v002_simple_eval has no task head"),
                          (["run", "rte", *base, "--max-len", "600", "--out", str(tmp_path / "b")],
                           "--max-len 600 exceeds the model's position table (512)"),
                          (["run", "rte", "--model", "tiny", "--init", "random", "--lr", "1e-3", "--data-dir", str(data_dir),
                            "--out", str(tmp_path / "c")], "task-head recipe of encoder-only models"),
                          (["run", "rte", *base, "--transfer", "adapters:0", "--out", str(tmp_path / "d")],
                           "--transfer adapters:0: the adapter size must be a positive integer")):
        with pytest.raises(SystemExit) as info:
            main(args)
        err = capsys.readouterr().err.strip()
        assert info.value.code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_t5_encoder_with_head_classify_runs_and_rescores(data_dir: Path, vocab_path: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t5head"
    _run(["run", "cb", "--model", "tiny", "--init", "random", "--head", "classify", "--vocab", str(vocab_path),
          "--data-dir", str(data_dir), "--out", str(out), "--threads", "1", "--device", "cpu", "--lr", "1e-3",
          "--epochs", "1", "--batch-size", "16", "--train-limit", "32", "--transfer", "frozen"])
    record = _check_run(out, {"super_glue_cb_v102": ["mean_3class_f1", "accuracy"]}, 1, 2, data_dir, capsys)
    assert record["model"]["family"] == "t5" and record["vocab"]["kind"] == "sentencepiece"
    train = record["tasks"]["super_glue_cb_v102"]["train"]
    assert train["transfer"] == "frozen" and train["trainable_parameters"] == 64 * 3 + 3  # the head alone
