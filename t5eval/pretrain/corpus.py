"""Pre-training text: documents from files, a folder or a hub dataset -> T5 ids -> T5's chunks.

Sources (`--corpus`): a `.txt` file (one document per blank-line-separated block), a `.jsonl` file
(one document per line, its `text` field), a folder of such files (sorted, recursive), or
`hub:ID[:CONFIG[:SPLIT]]` (a Hugging Face dataset streamed with `datasets`, `text` field; split
default `train`). Documents are tokenized with the T5 SentencePiece model without EOS, then cut as
T5's span-corruption pipeline does: `select_random_chunk` (a random 65,536-token window of longer
documents), `reduce_concat_tokens` (groups of 128 documents concatenated), `split_tokens` (slices of
`tokens_per_chunk`; the last slice of each group may be shorter). `--concat-docs 0` concatenates
the whole corpus instead, so a corpus of short documents fills whole sequences (recorded).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from t5eval.errors import T5evalError
from t5eval.hub import hub_unreachable_reason
from t5eval.io import sha256_file
from t5eval.tokenizer import T5Tokenizer

SUFFIXES = (".txt", ".jsonl")
MAX_DOC_TOKENS = 65536  # select_random_chunk(max_length=65536) in span_corruption
CONCAT_DOCS = 128  # reduce_concat_tokens(batch_size=128)


@dataclass
class CorpusInfo:
    """What the run record says about the corpus: source, files with sha256, counts."""

    source: str
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256 (local sources)
    documents: int = 0
    tokens: int = 0
    chunks: int = 0
    full_chunks: int = 0
    cleaning: dict[str, Any] | None = None  # `--clean c4`: rules and counts (clean.C4Cleaner.record)


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise T5evalError(f"{path}: not UTF-8 text at byte offset {err.start} ({data[err.start:err.start + 1]!r}); "
                          "convert the file to UTF-8") from err


def _txt_documents(path: Path) -> Iterator[str]:
    text = _decode(path, path.read_bytes())
    block: list[str] = []
    for line in text.splitlines():
        if line.strip():
            block.append(line)
        elif block:
            yield "\n".join(block)
            block = []
    if block:
        yield "\n".join(block)


def _jsonl_documents(path: Path) -> Iterator[str]:
    data = path.read_bytes()
    _decode(path, data)  # one check with a byte offset for the whole file
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise T5evalError(f"{path}:{number}: not a JSON object ({err.msg}); one JSON object per line") from err
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise T5evalError(f"{path}:{number}: no string field 'text'; each line needs {{\"text\": ...}}")
        if row["text"].strip():
            yield row["text"]


def corpus_files(path: Path) -> list[Path]:
    """The files a local `--corpus` names: itself, or a folder's .txt/.jsonl files in sorted order."""
    if path.is_file():
        if path.suffix not in SUFFIXES:
            raise T5evalError(f"--corpus {path}: unsupported file type {path.suffix!r}; use .txt or .jsonl")
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if not files:
            raise T5evalError(f"--corpus {path}: the folder holds no .txt or .jsonl files")
        return files
    raise T5evalError(f"--corpus {path} not found; pass a .txt/.jsonl file, a folder, or hub:ID[:CONFIG[:SPLIT]]")


def _hub_documents(spec: str) -> Iterator[str]:
    """Stream the `text` field of a hub dataset (`hub:ID[:CONFIG[:SPLIT]]`); one-line error offline."""
    parts = spec.split(":")[1:]
    if not parts or not parts[0] or len(parts) > 3:
        raise T5evalError(f"--corpus {spec}: expected hub:ID[:CONFIG[:SPLIT]], e.g. hub:allenai/c4:en:train")
    name, config, split = parts[0], (parts[1] if len(parts) > 1 and parts[1] else None), \
        (parts[2] if len(parts) > 2 else "train")
    reason = hub_unreachable_reason()  # streaming cannot use a local cache: refuse at once, not after retries
    if reason is not None:
        raise T5evalError(f"--corpus {spec}: cannot stream from the Hugging Face Hub ({reason}); "
                          "pass a local .txt/.jsonl file or folder instead")
    try:
        from datasets import load_dataset

        stream = load_dataset(name, config, split=split, streaming=True)
        for row in stream:
            text = row.get("text") if isinstance(row, dict) else None
            if isinstance(text, str) and text.strip():
                yield text
    except T5evalError:
        raise
    except Exception as err:  # offline, unknown dataset, no such split: all mean "use a local copy"
        first = str(err).splitlines()[0][:160] if str(err) else ""
        raise T5evalError(f"--corpus {spec}: cannot stream from the Hugging Face Hub ({err.__class__.__name__}: "
                          f"{first}); pass a local .txt/.jsonl file or folder instead") from err


def documents(source: str, info: CorpusInfo) -> Iterator[str]:
    """The documents of `source` in order; fills `info.files` (sha256) for local sources."""
    if source.startswith("hub:"):
        yield from _hub_documents(source)
        return
    for path in corpus_files(Path(source)):
        info.files[str(path)] = sha256_file(path)
        yield from (_jsonl_documents(path) if path.suffix == ".jsonl" else _txt_documents(path))


def select_random_chunk(ids: np.ndarray, rng: np.random.Generator, max_length: int = MAX_DOC_TOKENS) -> np.ndarray:
    """Documents longer than `max_length`: one of their `max_length` slices at random (T5), else as is."""
    if len(ids) <= max_length:
        return ids
    num_segments = -(-len(ids) // max_length)
    start = max_length * int(rng.integers(0, num_segments))
    return ids[start:start + max_length]


def reduce_concat_tokens(docs: Iterable[np.ndarray], batch_size: int = CONCAT_DOCS) -> Iterator[np.ndarray]:
    """Concatenate every `batch_size` consecutive documents into one sequence (the last group may be smaller).

    batch_size 0 concatenates the whole corpus (only the very last chunk can then be short).
    """
    group: list[np.ndarray] = []
    for doc in docs:
        group.append(doc)
        if len(group) == batch_size:
            yield np.concatenate(group)
            group = []
    if group:
        yield np.concatenate(group)


def split_tokens(tokens: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Consecutive slices of `max_tokens` tokens; the last holds the remainder (T5's `split_tokens`)."""
    return [tokens[i:i + max_tokens] for i in range(0, len(tokens), max_tokens)]


def tokenized(texts: Iterable[str], tok: T5Tokenizer, seed: int, info: CorpusInfo) -> Iterator[np.ndarray]:
    """Token ids (no EOS) of each non-empty document, cut by `select_random_chunk` (seeded per document)."""
    for index, text in enumerate(texts):
        ids = np.asarray(tok.encode(text)[:-1], dtype=np.int32)  # encode appends EOS: drop it
        if not len(ids):
            continue
        info.documents += 1
        info.tokens += len(ids)
        yield select_random_chunk(ids, np.random.default_rng([seed, 1, index]))


Cleaner = Callable[[Iterable[str]], Iterable[str]]  # the pages -> the cleaned pages (dropped ones left out)


def iter_chunks(source: str, tok: T5Tokenizer, tokens_per_chunk: int, seed: int, info: CorpusInfo,
                concat_docs: int = CONCAT_DOCS, clean: Cleaner | None = None) -> Iterator[np.ndarray]:
    """The chunks of `source` in corpus order (lazy: a hub source is streamed); `clean` filters pages first
    (C4's deduplication reads every page before the first is tokenized)."""
    texts: Iterable[str] = documents(source, info)
    if clean is not None:
        texts = clean(texts)
    for group in reduce_concat_tokens(tokenized(texts, tok, seed, info), concat_docs):
        for chunk in split_tokens(group, tokens_per_chunk):
            info.chunks += 1
            info.full_chunks += int(len(chunk) == tokens_per_chunk)
            yield chunk


def load_chunks(source: str, tok: T5Tokenizer, tokens_per_chunk: int, seed: int, concat_docs: int = CONCAT_DOCS,
                clean: Cleaner | None = None) -> tuple[list[np.ndarray], CorpusInfo]:
    """Every chunk of a local corpus, with its record; one-line errors when it is empty or under one chunk."""
    info = CorpusInfo(source=source)
    chunks = list(iter_chunks(source, tok, tokens_per_chunk, seed, info, concat_docs, clean))
    if not chunks:
        raise T5evalError(f"--corpus {source}: empty corpus (no non-empty document); pass text to pre-train on")
    if info.full_chunks == 0:
        raise T5evalError(f"--corpus {source}: corpus smaller than one chunk ({info.tokens} tokens < "
                          f"{tokens_per_chunk} per chunk); add text or lower --inputs-length")
    return chunks, info


def first_tokens(chunks: Iterable[np.ndarray], n: int, source: str) -> list[np.ndarray]:
    """The chunks holding the first `n` tokens of the chunk stream, in corpus order, the last one cut so they
    total exactly n (`--corpus-tokens`, the paper's truncated C4 of §3.4.2); stops reading once it has them.

    A corpus of fewer than n tokens is a one-line error naming its size.
    """
    kept: list[np.ndarray] = []
    total = 0
    for chunk in chunks:
        take = chunk[: n - total]
        kept.append(take)
        total += len(take)
        if total == n:
            return kept
    raise T5evalError(f"--corpus-tokens {n:,}: --corpus {source} holds only {total:,} tokens (as chunked); "
                      f"pass at most {total:,}, or drop --corpus-tokens for the whole corpus")


def repeats(examples_seen: int, chunks: int) -> float:
    """Passes over a truncated corpus of `chunks` chunks after `examples_seen` examples (one chunk each): the
    paper's "number of repeats" (Table 9: pre-training tokens / data set tokens)."""
    return examples_seen / chunks
