"""The hub loader, run for real: `datasets.load_dataset` on a folder laid out as the HF dataset repos.

The folders mirror `nyu-mll/glue` (config `rte`), `aps/super_glue` (`cb`) and `rajpurkar/squad`
(`plain_text`): a README.md whose YAML `configs` map each split to `<config>/<split>-00000-of-00001.parquet`,
and parquet shards written by `datasets` with the hub's column names and feature types (ClassLabel
names, int32 `idx`, SQuAD's `answers` Sequence of {text, answer_start int32}). The rows are built here
from the local GLUE/SuperGLUE/SQuAD files as the HF builders build them (RTE: `idx` = row number,
label name -> class id; CB: the JSONL fields; SQuAD: one row per question, in file order), with csv/json
only, not t5eval's readers. The task's `hf.path` is then pointed at the folder and `load_examples`
goes through its own hub code path (`hub_rows` -> `datasets.load_dataset(path, name, split=...)`);
every exported example must equal the one from the local files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from t5eval.tasks import TaskRegistry, load_examples

datasets = pytest.importorskip("datasets")
from datasets import ClassLabel, Dataset, Features, Sequence, Value  # noqa: E402

REG = TaskRegistry.default()


def _write_repo(root: Path, config: str, splits: dict[str, dict[str, list[Any]]], features: Features) -> Path:
    """A hub-style dataset folder: README.md with `configs`, and one parquet shard per split."""
    lines = ["---", "configs:", f"- config_name: {config}", "  data_files:"]
    for split, columns in splits.items():
        shard = root / config / f"{split}-00000-of-00001.parquet"
        shard.parent.mkdir(parents=True, exist_ok=True)
        Dataset.from_dict(columns, features=features).to_parquet(str(shard))
        lines += [f"  - split: {split}", f"    path: {config}/{split}-*"]
    (root / "README.md").write_text("\n".join([*lines, "---", ""]), encoding="utf-8")
    return root


def _rte_columns(tsv: Path) -> dict[str, list[Any]]:
    names = ["entailment", "not_entailment"]
    with tsv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return {"sentence1": [r["sentence1"] for r in rows], "sentence2": [r["sentence2"] for r in rows],
            "label": [names.index(r["label"]) for r in rows], "idx": list(range(len(rows)))}  # fmt: skip


def _cb_columns(jsonl: Path) -> dict[str, list[Any]]:
    names = ["entailment", "contradiction", "neutral"]
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"premise": [r["premise"] for r in rows], "hypothesis": [r["hypothesis"] for r in rows],
            "idx": [r["idx"] for r in rows], "label": [names.index(r["label"]) for r in rows]}  # fmt: skip


def _squad_columns(path: Path, articles: int) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {"id": [], "title": [], "context": [], "question": [], "answers": []}
    for article in json.loads(path.read_text(encoding="utf-8"))["data"][:articles]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                cols["id"].append(qa["id"])
                cols["title"].append(article["title"])
                cols["context"].append(para["context"])
                cols["question"].append(qa["question"])
                cols["answers"].append({"text": [a["text"] for a in qa["answers"]],
                                        "answer_start": [a["answer_start"] for a in qa["answers"]]})  # fmt: skip
    return cols


RTE_FEATURES = Features({"sentence1": Value("string"), "sentence2": Value("string"),
                         "label": ClassLabel(names=["entailment", "not_entailment"]), "idx": Value("int32")})
CB_FEATURES = Features({"premise": Value("string"), "hypothesis": Value("string"), "idx": Value("int32"),
                        "label": ClassLabel(names=["entailment", "contradiction", "neutral"])})
SQUAD_FEATURES = Features({"id": Value("string"), "title": Value("string"), "context": Value("string"),
                           "question": Value("string"),
                           "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")})})


@pytest.fixture
def offline_datasets(tmp_path, monkeypatch) -> None:
    """No data dir, no hub; `datasets` caches under tmp_path."""
    monkeypatch.delenv("T5EVAL_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def _same_as_local(task: str, split: str, repo: Path, data_dir: Path, whole: bool = True) -> int:
    """Every example of the hub-layout split equals the local one (`whole`: and the counts agree)."""
    spec = REG.get(task)
    assert spec.hf is not None
    hub_spec = dataclasses.replace(spec, hf=dataclasses.replace(spec.hf, path=str(repo)))
    hub = load_examples(hub_spec, split, None)
    local = load_examples(spec, split, data_dir, limit=None if whole else len(hub.examples))
    assert hub.source == f"hub:{repo}/{spec.hf.name}:{split}"
    assert len(hub.examples) == len(local.examples)
    for h, loc in zip(hub.examples, local.examples, strict=True):
        assert h.to_json() == loc.to_json(), f"{task} {split} example {loc.index}"
    return len(local.examples)


def test_glue_rte_from_a_hub_layout_folder(tmp_path, data_dir, offline_datasets):
    repo = _write_repo(tmp_path / "nyu-mll__glue", "rte", {
        "train": _rte_columns(data_dir / "glue/RTE/train.tsv"),
        "validation": _rte_columns(data_dir / "glue/RTE/dev.tsv")}, RTE_FEATURES)  # fmt: skip
    loaded = datasets.load_dataset(str(repo), "rte", split="validation")
    assert loaded.features == RTE_FEATURES  # the parquet shards carry the hub's feature types
    assert _same_as_local("glue_rte_v002", "validation", repo, data_dir) == 277
    assert _same_as_local("glue_rte_v002", "train", repo, data_dir) == 2490


def test_super_glue_cb_from_a_hub_layout_folder(tmp_path, data_dir, offline_datasets):
    repo = _write_repo(tmp_path / "aps__super_glue", "cb", {
        "train": _cb_columns(data_dir / "superglue/CB/train.jsonl"),
        "validation": _cb_columns(data_dir / "superglue/CB/val.jsonl")}, CB_FEATURES)  # fmt: skip
    assert datasets.load_dataset(str(repo), "cb", split="validation").features == CB_FEATURES
    assert _same_as_local("super_glue_cb_v102", "validation", repo, data_dir) == 56
    assert _same_as_local("super_glue_cb_v102", "train", repo, data_dir) == 250


def test_squad_from_a_hub_layout_folder(tmp_path, data_dir, offline_datasets):
    repo = _write_repo(tmp_path / "rajpurkar__squad", "plain_text", {
        "validation": _squad_columns(data_dir / "squad/dev-v1.1.json", articles=4)}, SQUAD_FEATURES)  # fmt: skip
    assert datasets.load_dataset(str(repo), "plain_text", split="validation").features == SQUAD_FEATURES
    # the first 4 of 48 articles (1,680 questions; the whole split takes ~40 s on a loaded CPU)
    assert _same_as_local("squad_v010_allanswers", "validation", repo, data_dir, whole=False) == 1680
