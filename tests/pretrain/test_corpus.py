"""Corpus reading and T5's chunking: documents, files, errors, concatenate-and-split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from t5eval.errors import T5evalError
from t5eval.pretrain.corpus import (
    CorpusInfo,
    documents,
    load_chunks,
    reduce_concat_tokens,
    select_random_chunk,
    split_tokens,
)
from t5eval.tokenizer import T5Tokenizer


def docs_of(source: Path) -> list[str]:
    return list(documents(str(source), CorpusInfo(source=str(source))))


def test_txt_blocks_are_documents(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("first line\nstill first\n\n\n  \nsecond\n\nthird\n", encoding="utf-8")
    assert docs_of(path) == ["first line\nstill first", "second", "third"]


def test_jsonl_text_field_and_folder(tmp_path: Path) -> None:
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "jsonl doc", "id": 1}) + "\n\n"
                                      + json.dumps({"text": ""}) + "\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("txt doc\n", encoding="utf-8")
    (tmp_path / "skip.csv").write_text("x,y\n", encoding="utf-8")
    info = CorpusInfo(source=str(tmp_path))
    assert list(documents(str(tmp_path), info)) == ["txt doc", "jsonl doc"]  # sorted files, empty text skipped
    assert sorted(Path(p).name for p in info.files) == ["a.txt", "b.jsonl"]
    assert all(len(h) == 64 for h in info.files.values())


def test_non_utf8_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n\xff\xfe bad")  # "ok\n" is bytes 0-2
    with pytest.raises(T5evalError, match="not UTF-8 text at byte offset 3") as err:
        docs_of(path)
    assert str(path) in str(err.value)
    (tmp_path / "bad.txt").unlink()
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_bytes(b'{"text": "a"}\n{"text": "\xc3("}\n')
    with pytest.raises(T5evalError, match="byte offset 24"):  # 14 bytes of line 1, then '{"text": "' (10)
        docs_of(jsonl)


def test_jsonl_without_text_names_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "a"}\n{"body": "b"}\n', encoding="utf-8")
    with pytest.raises(T5evalError, match=r"c\.jsonl:2: no string field 'text'"):
        docs_of(path)


def test_concat_groups_of_documents_then_split() -> None:
    docs = [np.arange(n) + 10 * n for n in (3, 4, 5)]
    groups = list(reduce_concat_tokens(docs, batch_size=2))
    assert [g.tolist() for g in groups] == [[30, 31, 32, 40, 41, 42, 43], [50, 51, 52, 53, 54]]
    assert [c.tolist() for c in split_tokens(groups[0], 3)] == [[30, 31, 32], [40, 41, 42], [43]]
    whole = list(reduce_concat_tokens(docs, batch_size=0))  # --concat-docs 0: one sequence
    assert [g.tolist() for g in whole] == [[30, 31, 32, 40, 41, 42, 43, 50, 51, 52, 53, 54]]


def test_select_random_chunk_windows() -> None:
    ids = np.arange(10)
    assert select_random_chunk(ids, np.random.default_rng(0), max_length=10).tolist() == ids.tolist()
    seen = {tuple(select_random_chunk(ids, np.random.default_rng(s), max_length=4).tolist()) for s in range(50)}
    assert seen == {(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)}  # aligned windows, the last one short


def test_tokenized_without_eos_and_chunked(tmp_path: Path, vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    texts = ["Hello world.", "A second document here."]
    path = tmp_path / "c.txt"
    path.write_text("\n\n".join(texts * 10), encoding="utf-8")
    chunks, info = load_chunks(str(path), tok, 7, seed=0)
    expected = np.concatenate([tok.encode(t)[:-1] for t in texts * 10])  # no EOS between documents
    assert 1 not in expected
    assert np.concatenate(chunks).tolist() == expected.tolist()
    assert [len(c) for c in chunks[:-1]] == [7] * (len(chunks) - 1)
    assert (info.documents, info.tokens, info.chunks) == (20, len(expected), len(chunks))


def test_empty_and_too_small_corpus(tmp_path: Path, vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(T5evalError, match="empty corpus"):
        load_chunks(str(empty), tok, 568, seed=0)
    small = tmp_path / "small.txt"
    small.write_text("Only a few words.", encoding="utf-8")
    with pytest.raises(T5evalError, match="corpus smaller than one chunk"):
        load_chunks(str(small), tok, 568, seed=0)


def test_missing_corpus_and_bad_hub_spec(tmp_path: Path) -> None:
    with pytest.raises(T5evalError, match="not found"):
        docs_of(tmp_path / "nope.txt")
    with pytest.raises(T5evalError, match="expected hub:ID"):
        list(documents("hub:", CorpusInfo(source="hub:")))


def test_hub_offline_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(T5evalError) as err:
        list(documents("hub:allenai/c4:en:train", CorpusInfo(source="x")))
    assert "cannot stream from the Hugging Face Hub" in str(err.value) and "\n" not in str(err.value)
