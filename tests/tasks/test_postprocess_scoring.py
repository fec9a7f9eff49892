"""Postprocessors (T5 `postprocessors.py` behaviour), metric dispatch and benchmark averaging (spec §3)."""

from __future__ import annotations

import pytest

from t5eval.errors import T5evalError
from t5eval.tasks import Example, TaskRegistry, benchmark_average, compute_metrics, postprocess

REG = TaskRegistry.default()


def ex(targets: str = "", **fields) -> Example:
    return Example(0, "", targets, fields)


@pytest.mark.parametrize(("text", "value"), [
    ("entailment", 0), ("not_entailment", 1), ("Entailment", -1), ("entailment ", -1), ("", -1), ("<unk>", -1),
])
def test_string_label_to_class_id_exact_match(text, value):
    assert postprocess(REG.get("rte"), text, ex(), is_target=False) == value


@pytest.mark.parametrize(("text", "value"), [("3.8", 3.8), ("5.0", 5.0), ("abc", -1.0), ("", -1.0)])
def test_stsb_string_to_float(text, value):
    assert postprocess(REG.get("stsb"), text, ex(), is_target=False) == value


def test_multirc_value_and_group():
    spec = REG.get("multirc")
    example = ex("True", **{"idx/question": 7})
    assert postprocess(spec, "True", example, is_target=True) == {"value": 1, "group": 7}
    assert postprocess(spec, "False", example, is_target=False) == {"value": 0}
    assert postprocess(spec, "maybe", example, is_target=False) == {"value": -1}


def test_record_target_has_all_answers_and_group():
    spec = REG.get("record")
    example = ex("Ann", answers=["Ann", "Bob"], **{"idx/passage": 1, "idx/query": 2})
    assert postprocess(spec, "Ann", example, is_target=True) == {"value": ["Ann", "Bob"], "group": (1, 2)}
    assert postprocess(spec, "Bob", example, is_target=False) == {"value": "Bob"}


def test_qa_target_is_every_answer():
    example = ex("U . S .", answers=["U . S .", "America"])
    assert postprocess(REG.get("squad"), "x", example, is_target=True) == ["U . S .", "America"]
    assert postprocess(REG.get("squad"), " the U . S .", example, is_target=False) == " the U . S ."


@pytest.mark.parametrize(("prediction", "referent", "value"), [
    ("the pony", "pony", 1),            # determiner dropped
    ("Fuzzy Bunny", "the bunny", 1),    # referent words are a subset of the prediction's
    ("Bob", "Bob's hat", 0),            # exactly one has an apostrophe
    ("Tom", "Mitchell", 0),
    ("the", "the dog", -1),             # empty after cleaning: never matches
    ("", "dog", -1),
])
def test_wsc_simple_prediction(prediction, referent, value):
    assert postprocess(REG.get("wsc"), prediction, ex(referent, label=1), is_target=False) == value


def test_wsc_simple_target_is_label():
    assert postprocess(REG.get("wsc"), "dog", ex("dog", label=0), is_target=True) == 0


def test_compute_metrics_dispatches_by_name_and_protocol():
    calls = []

    def fake(name):
        def fn(targets, predictions):
            calls.append(name)
            return {name: 1.0}
        return fn

    fakes = {n: fake(n) for n in ("multirc_f1", "multirc_exact_match", "multirc_f1_paper")}
    spec = REG.get("multirc")
    assert compute_metrics(spec, [1], [1], "current", metrics=fakes) == {"multirc_f1": 1.0,
                                                                         "multirc_exact_match": 1.0}
    assert compute_metrics(spec, [1], [1], "paper", metrics=fakes) == {"multirc_f1_paper": 1.0,
                                                                       "multirc_exact_match": 1.0}
    with pytest.raises(T5evalError, match="unknown protocol"):
        compute_metrics(spec, [1], [1], "2019", metrics=fakes)
    with pytest.raises(T5evalError, match="multirc_f1"):
        compute_metrics(spec, [1], [1], "current", metrics={})


def test_compute_metrics_with_real_metrics():
    # 3 of 4 right; the invalid -1 counts as wrong
    assert compute_metrics(REG.get("rte"), [0, 1, 1, 0], [0, 1, 1, -1]) == {"accuracy": 75.0}
    cb = compute_metrics(REG.get("cb"), [0, 1, 2, 0], [0, 1, 2, 0])
    assert cb == {"mean_3class_f1": 100.0, "accuracy": 100.0}
    assert compute_metrics(REG.get("ax"), [0], [0]) == {}  # AX has no metric in T5


GLUE_SCORES = {
    "cola": {"matthews_corrcoef": 40.0}, "sst2": {"accuracy": 90.0},
    "mrpc": {"f1": 90.0, "accuracy": 80.0},  # group 85
    "stsb": {"pearson_corrcoef": 88.0, "spearman_corrcoef": 86.0},  # group 87
    "qqp": {"f1": 70.0, "accuracy": 90.0},  # group 80
    "mnli_matched": {"accuracy": 84.0}, "mnli_mismatched": {"accuracy": 82.0},  # one group, 83
    "qnli": {"accuracy": 91.0}, "glue/rte": {"accuracy": 68.0},
}


def test_glue_average_eight_groups_mnli_one_group():
    res = benchmark_average("glue", GLUE_SCORES)
    assert res["complete"] is True
    assert res["groups"]["MNLI"] == pytest.approx(83.0)
    assert res["groups"]["MRPC"] == pytest.approx(85.0)
    # (40 + 90 + 85 + 87 + 80 + 83 + 91 + 68) / 8 = 624 / 8
    assert res["average"] == pytest.approx(78.0)


def test_glue_test_average_includes_wnli_and_incomplete_is_flagged():
    res = benchmark_average("glue_test", {**GLUE_SCORES, "wnli_simple": {"accuracy": 96.0}})
    assert res["average"] == pytest.approx((624 + 96) / 9)
    partial = benchmark_average("glue", {k: v for k, v in GLUE_SCORES.items() if k != "mnli_mismatched"})
    assert partial["complete"] is False and partial["missing"] == ["MNLI"]
    assert partial["average"] == pytest.approx((624 - 83) / 7)


def test_super_glue_average_groups():
    scores = {"boolq": {"accuracy": 80.0}, "cb": {"mean_3class_f1": 80.0, "accuracy": 90.0},
              "copa": {"accuracy": 70.0}, "multirc": {"f1": 70.0, "exact_match": 30.0},
              "record": {"f1": 72.0, "em": 70.0}, "sg/rte": {"accuracy": 80.0}, "wic": {"accuracy": 68.0},
              "wsc": {"accuracy": 78.0}}
    res = benchmark_average("super_glue", scores)
    # groups: 80, 85, 70, 50, 71, 80, 68, 78 -> 582 / 8
    assert res["complete"] and res["average"] == pytest.approx(72.75)


def test_record_end_to_end_current_dedups_paper_counts_copies(monkeypatch):
    from datasets import Dataset

    from t5eval.tasks import load_examples

    monkeypatch.delenv("T5EVAL_DATA_DIR", raising=False)
    cols = {"passage": ["Ann met Bob.", "A cat."], "query": ["@placeholder met", "A @placeholder."],
            "entities": [["Ann", "Bob"], ["Cat"]], "answers": [["Ann", "Bob"], ["Cat"]],
            "idx": [{"passage": 0, "query": 0}, {"passage": 1, "query": 1}]}
    spec = REG.get("record")
    examples = load_examples(spec, "validation", None, hub_loader=lambda *_: Dataset.from_dict(cols)).examples
    assert [e.targets for e in examples] == ["Ann", "Bob", "Cat"]
    targets = [postprocess(spec, e.targets, e, is_target=True) for e in examples]
    preds = [postprocess(spec, p, e, is_target=False) for p, e in zip(["Ann", "Ann", "Dog"], examples, strict=True)]
    # current: each query once -> (1 + 0) / 2; paper: every copy -> (1 + 1 + 0) / 3
    assert compute_metrics(spec, targets, preds, "current")["em"] == pytest.approx(50.0)
    assert compute_metrics(spec, targets, preds, "paper")["em"] == pytest.approx(200 / 3)
