"""A seeded random-weight transformers GPT-2 (2 layers, d 64, the real 50,257-token vocab) saved to a tmp dir,
GPT-2's official tokenizer files, and real texts from ../shared/data."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import DATA_DIR

GPT2_VOCAB = DATA_DIR.parent / "vocab" / "gpt2"
TINY_GPT2 = dict(vocab_size=50257, n_positions=1024, n_embd=64, n_layer=2, n_head=4)


def real_texts(n: int) -> list[str]:
    """RTE premises, WMT14 English sources and CNN/DM article heads (round-robin, n in all)."""
    with (DATA_DIR / "glue" / "RTE" / "dev.tsv").open(newline="") as handle:
        rte = [r["sentence1"] for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    wmt = (DATA_DIR / "wmt" / "en-fr" / "newstest2014.en").read_text().splitlines()
    lines = (DATA_DIR / "cnn_dailymail" / "test_subset_summeval100.jsonl").read_text().splitlines()
    cnn = [" ".join(str(json.loads(x)["article"]).split()[:80]) for x in lines]
    mixed = [t for group in zip(rte, wmt, cnn, strict=False) for t in group]
    return mixed[:n]


def save_hf_gpt2(out: Path, seed: int = 0, **overrides: object) -> Path:
    """Save a seeded random transformers GPT2LMHeadModel with GPT-2's tokenizer files beside it."""
    import transformers

    torch.manual_seed(seed)
    config = transformers.GPT2Config(**{**TINY_GPT2, **overrides})
    transformers.GPT2LMHeadModel(config).save_pretrained(out)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(GPT2_VOCAB / name, out / name)
    return out


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_hf_gpt2(tmp_path_factory.mktemp("tiny_gpt2"))


@pytest.fixture(scope="session")
def hf_gpt2(gpt2_dir: Path) -> torch.nn.Module:
    import transformers

    return transformers.GPT2LMHeadModel.from_pretrained(gpt2_dir, dtype=torch.float32).eval()
