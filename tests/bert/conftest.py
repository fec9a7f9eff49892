"""Random-weight transformers BERT models saved to tmp dirs (session-scoped)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

BERT_UNCASED_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"  # shared/vocab/README.md
TINY_BERT = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=64, type_vocab_size=2)


def save_hf_bert(out: Path, kind: str = "BertModel", seed: int = 0, **overrides: object) -> Path:
    """A seeded random transformers `kind` (BertModel, BertForSequenceClassification, ...) saved to `out`."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.BertConfig(**{**TINY_BERT, **overrides})
    model = getattr(transformers, kind)(cfg)
    with torch.no_grad():  # non-trivial LayerNorm and bias values, so a swapped key would show
        for name, param in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_hf_bert(tmp_path_factory.mktemp("bert") / "tiny")


def task_text_rows(task: str, split: str | None = None) -> list[list[str]]:
    """The text fields (reader `fields` order) of every row of a task's split in ../shared/data."""
    from conftest import DATA_DIR

    from t5eval.tasks import TaskRegistry
    from t5eval.tasks.data import local_rows
    from t5eval.tasks.rows import normalize_row

    spec = TaskRegistry.default().get(task)
    split = split or str(spec.splits.get("eval") or "validation")
    raw, _, args = local_rows(spec, split, DATA_DIR)
    rows = [normalize_row(row, args, spec.labels, where, i) for i, (where, row) in enumerate(raw)]
    return [[str(r[f]) for f in args["fields"] if isinstance(r.get(f), str)] for r in rows]


@functools.cache
def eval_text_rows() -> dict[str, list[list[str]]]:
    """{task: text fields per row} for every GLUE/SuperGLUE task whose eval split is in ../shared/data."""
    from conftest import DATA_DIR

    from t5eval.tasks import TaskRegistry, has_split

    reg = TaskRegistry.default()
    out = {}
    for bench in ("glue", "super_glue"):
        for name in reg.benchmark(bench).members:
            spec = reg.get(name)
            split = str(spec.splits.get("eval") or "validation")
            if has_split(spec, split, DATA_DIR):
                out[name] = task_text_rows(name, split)
    return out


@pytest.fixture(scope="session")
def wordpiece_vocab() -> Path:
    """BERT's uncased WordPiece vocab.txt (30,522 entries) from the shared folder, checked against the sha256
    its README gives."""
    import hashlib

    from tests.conftest import SHARED

    path = SHARED / "vocab" / "bert-base-uncased" / "vocab.txt"
    if not path.is_file():
        pytest.fail(f"BERT vocabulary not found at {path}; set T5EVAL_SHARED to the shared/ folder")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BERT_UNCASED_SHA256
    return path
