"""Random-weight transformers T5 models saved to tmp dirs (session-scoped), and real input texts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import DATA_DIR, VOCAB
from safetensors.torch import load_file, save_file

TINY = dict(vocab_size=32128, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4)
SMALL = dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8)


def rte_texts(n: int) -> list[tuple[str, str]]:
    """(input, target) pairs `rte sentence1: … sentence2: …` from glue/RTE/dev.tsv (T5_TASKS.md §1)."""
    with (DATA_DIR / "glue" / "RTE" / "dev.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(f"rte sentence1: {r['sentence1']} sentence2: {r['sentence2']}", r["label"]) for r in rows[:n]]


def mixed_texts() -> list[str]:
    """A few texts of other files (SST-2, WMT en-de source, CNN/DM article heads)."""
    with (DATA_DIR / "glue" / "SST-2" / "dev.tsv").open(newline="") as handle:
        sst = [f"sst2 sentence: {r['sentence']}" for r in csv.DictReader(handle, delimiter="\t")][:16]
    wmt = (DATA_DIR / "wmt" / "en-de" / "newstest2014.en").read_text().splitlines()[:16]
    lines = (DATA_DIR / "cnn_dailymail" / "test_subset_summeval100.jsonl").read_text().splitlines()[:4]
    cnn = [f"summarize: {' '.join(str(next(iter(json.loads(x).values()))).split()[:60])}" for x in lines]
    return sst + [f"translate English to German: {x}" for x in wmt] + cnn


def _save_hf(cfg_kwargs: dict, out: Path, seed: int, eos_boost: float, untie: bool) -> Path:
    """Save a seeded random transformers T5; boost the EOS output row so some decodes end early.

    transformers 5.23 always ties lm_head to `shared` when saving (only `scale_decoder_outputs`
    differs), so for a real v1.1-style (untied) checkpoint we add a distinct `lm_head.weight` and set
    `tie_word_embeddings: false`, exactly what the released v1.1 checkpoints hold.
    """
    import transformers

    torch.manual_seed(seed)
    ff = "gated-gelu" if untie else "relu"
    config = transformers.T5Config(**cfg_kwargs, feed_forward_proj=ff, tie_word_embeddings=not untie,
                                   decoder_start_token_id=0, dropout_rate=0.1)
    model = transformers.T5ForConditionalGeneration(config)
    with torch.no_grad():
        model.shared.weight[1] *= eos_boost
    model.save_pretrained(out)
    if untie:
        weights = load_file(str(out / "model.safetensors"))
        head = torch.randn_like(weights["shared.weight"]) * cfg_kwargs["d_model"] ** -0.5
        head[1] *= eos_boost
        weights["lm_head.weight"] = head
        save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
        data = json.loads((out / "config.json").read_text())
        data["tie_word_embeddings"] = False
        data.pop("scale_decoder_outputs", None)
        (out / "config.json").write_text(json.dumps(data))
    (out / "spiece.model").write_bytes(VOCAB.read_bytes())
    return out


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_hf(TINY, tmp_path_factory.mktemp("tiny"), seed=0, eos_boost=3.0, untie=False)


@pytest.fixture(scope="session")
def tiny_v11_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_hf(TINY, tmp_path_factory.mktemp("tiny_v11"), seed=1, eos_boost=3.0, untie=True)


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_hf(SMALL, tmp_path_factory.mktemp("small"), seed=2, eos_boost=3.0, untie=False)


def hf_model(model_dir: Path):  # -> transformers.T5ForConditionalGeneration
    import transformers

    return transformers.T5ForConditionalGeneration.from_pretrained(model_dir).eval()


def batch_of(ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, S) ids and mask."""
    width = max(len(x) for x in ids)
    input_ids = torch.tensor([x + [0] * (width - len(x)) for x in ids])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    return input_ids, mask


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on the shared 2-core machine, 2 threads under load run ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
