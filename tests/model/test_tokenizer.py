"""T5Tokenizer against transformers' tokenizer and seqio's documented behaviour (T5_TASKS.md §0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5eval.errors import T5evalError
from t5eval.model import load_model
from t5eval.tokenizer import T5Tokenizer

from .conftest import DATA_DIR, mixed_texts, rte_texts


def _superglue_texts() -> list[str]:
    rows = [json.loads(x) for x in (DATA_DIR / "superglue" / "CB" / "val.jsonl").read_text().splitlines()[:16]]
    return [f"cb hypothesis: {r['hypothesis']} premise: {r['premise']}" for r in rows]


def test_ids_equal_transformers_on_real_texts(tiny_dir: Path, vocab_path: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(tiny_dir)  # a directory holding spiece.model (PITFALLS #1-3)
    tok = T5Tokenizer(vocab_path)
    texts = [x for pair in rte_texts(32) for x in pair] + mixed_texts() + _superglue_texts()
    assert len(texts) > 100
    for text in texts:
        assert tok.encode(text) == reference(text)["input_ids"], text
        ids = reference(text)["input_ids"]
        if 2 in ids:  # seqio decodes unk with SentencePiece (" ⁇ "); HF's skip_special_tokens drops it
            assert "⁇" in tok.decode(ids)
        else:
            assert tok.decode(ids) == reference.decode(ids, skip_special_tokens=True)


def test_vocab_layout(vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    assert tok.vocab_size == 32100
    assert (tok.sentinel(0), tok.sentinel(99)) == (32099, 32000)
    assert tok.encode("") == [1]
    assert tok.sp.IdToPiece(1) == "</s>" and tok.sp.IdToPiece(2) == "<unk>" and tok.sp.IdToPiece(0) == "<pad>"
    assert len(tok.sha256) == 64


def test_append_eos_after_trim(vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    full = tok.encode("The quick brown fox jumps over the lazy dog.")
    assert full[-1] == 1 and len(full) > 6
    assert tok.encode("The quick brown fox jumps over the lazy dog.", max_len=5) == [*full[:4], 1]
    assert tok.encode("Hi", max_len=512) == tok.encode("Hi")


def test_decode_cuts_at_first_eos_and_maps_sentinels_to_unk(vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    hello = tok.encode("Hello world.")  # ... , 1
    assert tok.decode([*hello, *tok.encode("ignored")]) == "Hello world."
    assert tok.decode([0, *hello]) == "Hello world."  # pad dropped
    # seqio maps ids >= 32000 (sentinels, padded embedding rows) to unk, which decodes as " ⁇ "
    assert tok.decode([tok.sentinel(0), 1]) == tok.decode([2, 1]) == tok.sp.DecodeIds([2])
    assert tok.decode([32127]) == tok.sp.DecodeIds([2])


def test_find_prefers_vocab_then_model_dir(tiny_dir: Path, vocab_path: Path, tmp_path: Path) -> None:
    assert T5Tokenizer.find(tmp_path, vocab_path).path == vocab_path
    assert T5Tokenizer.find(tiny_dir, None).path == tiny_dir / "spiece.model"
    with pytest.raises(T5evalError, match="--vocab"):
        T5Tokenizer.find(tmp_path, None)
    with pytest.raises(T5evalError, match="not found"):
        T5Tokenizer.find(None, tmp_path / "missing.model")
    (tmp_path / "junk.model").write_text("not a sentencepiece model")
    with pytest.raises(T5evalError, match=r"junk\.model"):
        T5Tokenizer(tmp_path / "junk.model")


def test_vocab_that_does_not_fit_the_model_is_an_error(vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    tok.check_fits(load_model("tiny", init="random").config.vocab_size)  # 32100 <= 32128
    with pytest.raises(T5evalError, match="32100 ids but the model's vocab_size is 32000"):
        tok.check_fits(32000)
