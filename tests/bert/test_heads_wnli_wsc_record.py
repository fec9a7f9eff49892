"""The WNLI, WSC and ReCoRD heads: field mapping on real rows (ReCoRD: a hand-made file in its format, since
../shared/data has no ReCoRD), T5's wsc_simple scoring of the referent head's texts, and a tiny-bert run
whose predictions rescore exactly with `t5eval score`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5eval.tasks import TaskRegistry, postprocess
from t5eval.tasks.data import load_examples_with_rows
from t5eval.tasks.head_specs import HeadRegistry
from tests.bert.test_heads import _check_run, _run

REG = TaskRegistry.default()
HEADS = HeadRegistry.default()


def _entities(text: str, names: list[str]) -> list[dict[str, int]]:
    """SuperGLUE ReCoRD entity spans (inclusive end) of every occurrence of each name in `text`."""
    spans = []
    for name in names:
        at = text.find(name)
        while at >= 0:
            spans.append({"start": at, "end": at + len(name) - 1})
            at = text.find(name, at + 1)
    return spans


PEOPLE = [("Ann Lee", "Bob Stone", "Paris"), ("Cara Diaz", "Dan Moe", "Rome"), ("Eve Hall", "Finn Roe", "Oslo"),
          ("Gus Park", "Hana Ito", "Lima")]


def record_rows(idx0: int, n: int) -> list[dict]:
    """n ReCoRD records in the SuperGLUE jsonl layout; every other one has a fourth entity (a varying
    number of candidates), and each has two queries."""
    out = []
    for k in range(n):
        a, b, city = PEOPLE[k % len(PEOPLE)]
        extra = " The mayor of London came too." if k % 2 else ""
        text = f"{a} met {b} in {city}.{extra}\n@highlight\n{b} left {city}"
        names = [a, b, city] + (["London"] if extra else [])
        out.append({"idx": idx0 + k, "passage": {"text": text, "entities": _entities(text, names)}, "qas": [
            {"idx": 10 * (idx0 + k), "query": f"@placeholder left {city} after the meeting",
             "answers": [{"start": text.rfind(b), "end": text.rfind(b) + len(b) - 1, "text": b}]},
            {"idx": 10 * (idx0 + k) + 1, "query": f"{a} travelled to @placeholder",
             "answers": [{"start": text.find(city), "end": text.find(city) + len(city) - 1, "text": city}]}]})
    return out


@pytest.fixture(scope="module")
def head_data_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """../shared/data's GLUE and WSC, plus a hand-made ReCoRD (train: 8 records, validation: 4)."""
    root = tmp_path_factory.mktemp("headdata")
    (root / "glue").symlink_to(Path(data_dir).resolve() / "glue")
    (root / "superglue" / "ReCoRD").mkdir(parents=True)
    (root / "superglue" / "WSC").symlink_to(Path(data_dir).resolve() / "superglue" / "WSC")
    for split, rows in (("train", record_rows(0, 8)), ("val", record_rows(100, 4))):
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        (root / "superglue" / "ReCoRD" / f"{split}.jsonl").write_text(lines, encoding="utf-8")
    return root


def test_wnli_maps_sentence1_sentence2_to_the_t5_label_words(data_dir: Path) -> None:
    spec = REG.get("glue_wnli_v002")
    head = HEADS.get(spec)
    examples, rows = load_examples_with_rows(spec, "validation", data_dir, limit=2)
    # glue/WNLI/dev.tsv rows 0-1, read by hand: label 0 (not_entailment), 1 (entailment).
    assert head.segments(rows[0]) == [("The drain is clogged with hair. It has to be cleaned.",
                                       "The hair has to be cleaned.")]
    assert [head.gold(ex, row) for ex, row in zip(examples.examples, rows, strict=True)] == [0, 1]
    assert head.prediction_text(1) == "entailment"
    assert postprocess(spec, "entailment", examples.examples[1], is_target=False) == 1


def test_wsc_referent_head_fields_and_t5_scoring(data_dir: Path) -> None:
    spec = REG.get("wsc_simple_eval")
    head = HEADS.get(spec)
    examples, rows = load_examples_with_rows(spec, "validation", data_dir, limit=1)
    # superglue/WSC/val.jsonl line 1, read by hand: span1 "anyone", span2 "him", label false.
    text, second = head.segments(rows[0])[0]
    assert text.startswith("Bernard , who had not told") and text.endswith("take his claim away from him .")
    assert second == "him anyone"
    assert head.gold(examples.examples[0], rows[0]) == 0
    assert (head.prediction_text(1, rows[0]), head.prediction_text(0, rows[0])) == ("anyone", "False")
    # Every WSC row (train and validation): T5's wsc_simple reads "yes" as 1 and "no" as 0.
    for split, task in (("validation", spec), ("train", REG.get("wsc_simple_train"))):
        exs, rws = load_examples_with_rows(spec if split == "validation" else task, split, data_dir)
        for ex, row in zip(exs.examples, rws, strict=True):
            assert postprocess(spec, head.prediction_text(1, row), ex, is_target=False) == 1, row
            assert postprocess(spec, head.prediction_text(0, row), ex, is_target=False) == 0, row


def test_record_choice_head_substitutes_each_entity(head_data_dir: Path) -> None:
    spec = REG.get("record")
    head = HEADS.get(spec)
    examples, rows = load_examples_with_rows(spec, "validation", head_data_dir, limit=2)
    passage = "Ann Lee met Bob Stone in Paris.\n@highlight\nBob Stone left Paris"
    assert head.segments(rows[0]) == [
        (passage, "Ann Lee left Paris after the meeting"), (passage, "Bob Stone left Paris after the meeting"),
        (passage, "Paris left Paris after the meeting")]  # entities sorted: Ann Lee, Bob Stone, Paris
    assert [head.gold(ex, row) for ex, row in zip(examples.examples, rows, strict=True)] == [1, 2]
    assert head.prediction_text(2, rows[1]) == "Paris"
    assert postprocess(spec, "Paris", examples.examples[1], is_target=False) == {"value": "Paris"}
    second = load_examples_with_rows(spec, "validation", head_data_dir, limit=3)[1][2]
    assert len(head.segments(second)) == 4  # Cara Diaz, Dan Moe, London, Rome


def test_tasks_without_a_head_are_named_with_those_that_have_one() -> None:
    from t5eval.errors import T5evalError

    with pytest.raises(T5evalError) as err:
        HEADS.get(REG.get("wnli_simple"))
    message = str(err.value)
    assert "glue_wnli_v002_simple_eval has no task head" in message and "\n" not in message
    for name in ("glue_wnli_v002", "super_glue_wsc_v102_simple_eval", "super_glue_record_v102"):
        assert name in message


def test_choice_scores_pad_a_varying_number_of_candidates_with_minus_inf() -> None:
    import torch

    from t5eval.eval.head_predictor import head_outputs
    from t5eval.tokenizer.pairs import Encoded

    class FirstId(torch.nn.Module):  # scores each input by its first id
        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return ids[:, :1].float()  # (N, 1)

    items = [[Encoded([3], [0]), Encoded([5, 1], [0, 0])], [Encoded([7], [0])], [Encoded([2], [0])] * 3]
    out = head_outputs(FirstId(), items, pad_id=0)
    inf = float("-inf")
    assert out.tolist() == [[3.0, 5.0, inf], [7.0, inf, inf], [2.0, 2.0, 2.0]]


def test_tiny_bert_runs_wnli_wsc_record_and_predictions_rescore(
        wordpiece_vocab: Path, head_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    _run(["run", "wnli,wsc,record", "--model", "tiny-bert", "--init", "random", "--vocab", str(wordpiece_vocab),
          "--data-dir", str(head_data_dir), "--out", str(out), "--threads", "1", "--device", "cpu", "--lr", "1e-3",
          "--epochs", "1", "--batch-size", "8", "--train-limit", "16", "--max-len", "64"])
    record = _check_run(out, {"glue_wnli_v002": ["accuracy"], "super_glue_wsc_v102_simple_eval": ["accuracy"],
                              "super_glue_record_v102": ["em", "f1"]}, 1, 2, head_data_dir, capsys)
    rows = [json.loads(line) for line in (out / "super_glue_record_v102" / "predictions.jsonl").open()]
    entities = {"Ann Lee", "Bob Stone", "Paris", "Cara Diaz", "Dan Moe", "Rome", "London", "Eve Hall",
                "Finn Roe", "Oslo", "Gus Park", "Hana Ito", "Lima"}
    assert len(rows) == 8 and {r["prediction"] for r in rows} <= entities
    wsc = [json.loads(line) for line in (out / "super_glue_wsc_v102_simple_eval" / "predictions.jsonl").open()]
    assert all(r["prediction_value"] in (0, 1) for r in wsc)  # never -1: each text names the referent or not
    head = record["tasks"]["super_glue_wsc_v102_simple_eval"]["decode"]["head"]
    assert head["kind"] == "referent" and head["train_preprocessor_args"] == {"correct_referent_only": False}
