"""Hub rows (HF `datasets` schema) and local files go through the same normalisation and give the same
examples. The hub rows are built here with `datasets.Dataset.from_dict` in the hub's schema (label
ids as ints, MultiRC flattened, WMT `translation` dicts, SQuAD `answers` dicts)."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from t5eval.errors import T5evalError
from t5eval.tasks import TaskRegistry, load_examples

REG = TaskRegistry.default()


def hub(columns: dict, expect: tuple[str, str | None, str]):
    def loader(path, name, split, revision):
        assert (path, name, split) == expect
        return Dataset.from_dict(columns)
    return loader


def same(task: str, split: str, columns: dict, expect: tuple, data_dir, monkeypatch) -> None:
    monkeypatch.delenv("T5EVAL_DATA_DIR", raising=False)
    from_hub = load_examples(REG.get(task), split, None, hub_loader=hub(columns, expect)).examples
    local = load_examples(REG.get(task), split, data_dir, limit=len(from_hub)).examples
    assert [(e.inputs, e.targets, e.fields) for e in from_hub] == [(e.inputs, e.targets, e.fields) for e in local]


def test_glue_cola(data_dir, monkeypatch):
    cols = {"sentence": ["The sailors rode the breeze clear of the rocks.",
                         "The weights made the rope stretch over the pulley."], "label": [1, 1], "idx": [0, 1]}
    same("cola", "validation", cols, ("nyu-mll/glue", "cola", "validation"), data_dir, monkeypatch)


def test_glue_rte_label_ids(data_dir, monkeypatch):
    cols = {"sentence1": ["Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, "
                          "according to the Christopher Reeve Foundation."],
            "sentence2": ["Christopher Reeve had an accident."], "label": [1], "idx": [0]}
    same("glue/rte", "validation", cols, ("nyu-mll/glue", "rte", "validation"), data_dir, monkeypatch)


def test_stsb_float_label(data_dir, monkeypatch):
    cols = {"sentence1": ["A man with a hard hat is dancing.", "A young child is riding a horse."],
            "sentence2": ["A man wearing a hard hat is dancing.", "A child is riding a horse."],
            "label": [5.0, 4.75], "idx": [0, 1]}
    same("stsb", "validation", cols, ("nyu-mll/glue", "stsb", "validation"), data_dir, monkeypatch)


def _jsonl(path, n):
    with path.open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(n)]


def test_superglue_boolq_and_axb(data_dir, monkeypatch):
    rows = _jsonl(data_dir / "superglue/BoolQ/val.jsonl", 3)
    cols = {"question": [r["question"] for r in rows], "passage": [r["passage"] for r in rows],
            "idx": [r["idx"] for r in rows], "label": [int(r["label"]) for r in rows]}
    same("boolq", "validation", cols, ("aps/super_glue", "boolq", "validation"), data_dir, monkeypatch)
    rows = _jsonl(data_dir / "superglue/AX-b/AX-b.jsonl", 2)
    cols = {"sentence1": [r["sentence1"] for r in rows], "sentence2": [r["sentence2"] for r in rows],
            "idx": [int(r["idx"]) for r in rows], "label": [["entailment", "not_entailment"].index(r["label"])
                                                              for r in rows]}
    with pytest.warns(UserWarning, match="idx stored as digit strings"):
        same("axb", "test", cols, ("aps/super_glue", "axb", "test"), data_dir, monkeypatch)


def test_multirc_flat_hub_rows(data_dir, monkeypatch):
    rec = _jsonl(data_dir / "superglue/MultiRC/val.jsonl", 1)[0]
    flat = [(q, a) for q in rec["passage"]["questions"] for a in q["answers"]][:5]
    cols = {"paragraph": [rec["passage"]["text"]] * 5, "question": [q["question"] for q, _ in flat],
            "answer": [a["text"] for _, a in flat], "label": [a["label"] for _, a in flat],
            "idx": [{"paragraph": rec["idx"], "question": q["idx"], "answer": a["idx"]} for q, a in flat]}
    same("multirc", "validation", cols, ("aps/super_glue", "multirc", "validation"), data_dir, monkeypatch)


def test_wsc_fixed(data_dir, monkeypatch):
    rows = _jsonl(data_dir / "superglue/WSC/val.jsonl", 3)
    cols = {"text": [r["text"] for r in rows], "idx": [r["idx"] for r in rows],
            "label": [int(r["label"]) for r in rows],
            **{k: [r["target"][k] for r in rows] for k in ("span1_index", "span2_index", "span1_text", "span2_text")}}
    same("wsc", "validation", cols, ("aps/super_glue", "wsc.fixed", "validation"), data_dir, monkeypatch)


def test_squad_answers_dict(data_dir, monkeypatch):
    article = json.loads((data_dir / "squad/dev-v1.1.json").read_text(encoding="utf-8"))["data"][0]
    para = article["paragraphs"][0]
    qas = para["qas"][:3]
    cols = {"id": [q["id"] for q in qas], "title": [article["title"]] * 3, "context": [para["context"]] * 3,
            "question": [q["question"] for q in qas],
            "answers": [{"text": [a["text"] for a in q["answers"]],
                         "answer_start": [a["answer_start"] for a in q["answers"]]} for q in qas]}
    same("squad", "validation", cols, ("rajpurkar/squad", "plain_text", "validation"), data_dir, monkeypatch)


def test_wmt_translation_dicts(data_dir, monkeypatch):
    en = (data_dir / "wmt/en-ro/newstest2016.en").read_text(encoding="utf-8").split("\n")[:2]
    ro = (data_dir / "wmt/en-ro/newstest2016.ro").read_text(encoding="utf-8").split("\n")[:2]
    cols = {"translation": [{"en": e, "ro": r} for e, r in zip(en, ro, strict=True)]}
    same("wmt16_enro_v003", "test", cols, ("wmt/wmt16", "ro-en", "test"), data_dir, monkeypatch)


def test_record_hub_rows_sorted_unique(monkeypatch):
    monkeypatch.delenv("T5EVAL_DATA_DIR", raising=False)
    cols = {"passage": ["Ann met Bob.\n@highlight\nThey talk"], "query": ["@placeholder met Bob"],
            "entities": [["Bob", "Ann", "Bob"]], "answers": [["Ann", "Ann"]], "idx": [{"passage": 0, "query": 3}]}
    loader = hub(cols, ("aps/super_glue", "record", "validation"))
    (ex,) = load_examples(REG.get("record"), "validation", None, hub_loader=loader).examples
    assert ex.inputs == "record query: @placeholder met Bob entities: Ann, Bob passage: Ann met Bob. They talk"
    assert (ex.targets, ex.fields["answers"], ex.fields["idx/query"]) == ("Ann", ["Ann"], 3)


def test_hub_failure_is_one_line(monkeypatch):
    monkeypatch.delenv("T5EVAL_DATA_DIR", raising=False)

    def offline(*_):
        raise ConnectionError("no network")

    with pytest.raises(T5evalError, match=r"no --data-dir given .* could not be loaded \(ConnectionError\)"):
        load_examples(REG.get("rte"), "validation", None, hub_loader=offline)
