"""Strict task definitions and the registry: errors name the file and the field."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from t5eval.errors import T5evalError
from t5eval.tasks import TaskRegistry
from t5eval.tasks.registry import DEFAULT_TASK_DEFS

REG = TaskRegistry.default()
COLA = (DEFAULT_TASK_DEFS / "glue" / "cola.yaml").read_text(encoding="utf-8")

ALL_TASKS = {
    *(f"glue_{t}_v002" for t in ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "mnli_matched", "mnli_mismatched",
                                 "qnli", "rte", "wnli", "ax")),
    "glue_wnli_v002_simple_eval",
    *(f"super_glue_{t}_v102" for t in ("boolq", "cb", "copa", "multirc", "record", "rte", "wic", "axb", "axg")),
    "super_glue_wsc_v102_simple_train", "super_glue_wsc_v102_simple_eval", "dpr_v001_simple",
    "squad_v010_allanswers", "squad_v010_context_free", "cnn_dailymail_v002",
    "wmt_t2t_ende_v003", "wmt14_ende_v003", "wmt14_enfr_v003", "wmt15_enfr_v003", "wmt16_enro_v003",
    # decoder-only prompt tasks (issue 16's names, task_defs/gpt2)
    "gpt2_cnn_dailymail_tldr", "gpt2_cnn_dailymail_tldr_greedy", "gpt2_wmt14_en_fr", "gpt2_wmt14_fr_en",
    "gpt2_squad_rc", "gpt2_squad_closed_book", "gpt2_wsc_lm",
}


def test_every_t5_task_is_defined():
    assert set(REG.names()) == ALL_TASKS


@pytest.mark.parametrize(("alias", "name"), [
    ("rte", "glue_rte_v002"), ("glue/rte", "glue_rte_v002"), ("sg/rte", "super_glue_rte_v102"),
    ("super_glue_rte", "super_glue_rte_v102"), ("glue_rte_v002", "glue_rte_v002"), ("wsc", "super_glue_wsc_v102_simple_eval"),
])
def test_aliases(alias, name):
    assert REG.get(alias).name == name


def test_unknown_task_suggests():
    with pytest.raises(T5evalError, match=r"unknown task 'glue_cloa_v002' \(did you mean glue_cola_v002"):
        REG.get("glue_cloa_v002")


def test_resolve_benchmarks_and_names():
    names = [s.name for s in REG.resolve("glue, squad")]
    assert len(names) == 10 and names[-1] == "squad_v010_allanswers"
    assert "glue_mnli_matched_v002" in names and "glue_wnli_v002" not in names and "glue_ax_v002" not in names
    assert len(REG.benchmark("glue").groups) == 8 and len(REG.benchmark("glue_test").groups) == 9
    assert len(REG.benchmark("super_glue").groups) == 8
    assert [s.name for s in REG.resolve("wmt")] == ["wmt_t2t_ende_v003", "wmt15_enfr_v003", "wmt16_enro_v003"]


@pytest.mark.parametrize(("task", "weight", "targets", "beam"), [
    ("cola", 8551, 84, 1), ("mnli", 392702, 84, 1), ("mnli_matched", 0, 84, 1), ("record", 138854, 62, 1),
    ("wsc_simple_train", 259, 512, 1), ("dpr", 1322, 512, 1), ("squad", 87599, 97, 1),
    ("cnn_dailymail", 287113, 512, 4), ("wmt_enro", 610320, 512, 4),
])
def test_paper_settings(task, weight, targets, beam):
    spec = REG.get(task)
    assert spec.mixture_weight == weight
    assert spec.train_lengths == {"inputs": 512, "targets": targets}
    assert spec.decode == {"beam_size": beam, "alpha": 0.6, "max_decode_len": 128}


def test_sha256_is_over_the_file_bytes():
    assert REG.get("cola").sha256 == hashlib.sha256(COLA.encode("utf-8")).hexdigest()


def _registry_with(tmp_path: Path, text: str) -> None:
    root = tmp_path / "task_defs"
    shutil.copytree(DEFAULT_TASK_DEFS, root)
    (root / "glue" / "cola.yaml").write_text(text, encoding="utf-8")
    TaskRegistry.from_dir(root).resolve("glue_cola_v002,sst2")  # a broken file fails when its task is asked for


@pytest.mark.parametrize(("old", "new", "message"), [
    ("version: 1\n", "version: 1\ncolour: red\n", r"cola\.yaml: unknown field 'colour'"),
    ('- "acceptable"', "- yes", r"cola\.yaml: labels must be quoted strings, got True"),
    ("preprocessor: glue\n", "preprocessor: gleu\n", r"cola\.yaml: field 'preprocessor': 'gleu' is not registered "
     r"\(did you mean glue"),
    ("postprocessor: string_label_to_class_id", "postprocessor: nope", r"field 'postprocessor'"),
    ("reader: glue_tsv", "reader: tsv_reader", r"field 'source\.local\.train\.reader'"),
    ("version: 1\n", "version: one\n", r"field 'version' must be int"),
    ("mixture_weight: 8551\n", "", r"missing required field 'mixture_weight'"),
    ("max_decode_len: 128", "max_len: 128", r"field 'decode': unknown field 'max_len'"),
])
def test_strict_validation_names_file_and_field(tmp_path, old, new, message):
    assert old in COLA
    with pytest.raises(T5evalError, match=message):
        _registry_with(tmp_path, COLA.replace(old, new, 1))


def test_duplicate_alias_is_an_error(tmp_path):
    with pytest.raises(T5evalError, match="alias 'sst2' is used by more than one task"):
        _registry_with(tmp_path, COLA.replace("aliases: [glue/cola,", "aliases: [sst2, glue/cola,"))


def test_paper_scores_yaml_is_ignored(tmp_path):
    root = tmp_path / "task_defs"
    shutil.copytree(DEFAULT_TASK_DEFS, root)
    (root / "paper_scores.yaml").write_text("not: [a task definition\n", encoding="utf-8")
    assert set(TaskRegistry.from_dir(root).names()) == ALL_TASKS
