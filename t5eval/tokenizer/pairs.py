"""What task heads feed an encoder: ids + token types of one input, and BERT's longest-first cut for pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Encoded:
    """One encoded input: ids and token types (segment ids), same length."""

    ids: list[int]
    type_ids: list[int]


def longest_first(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Drop tokens from the end of the longer segment (b on ties, as BERT's `_truncate_seq_pair` pops
    the longer, else the second) until both fit in `budget` tokens together."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


class PairTokenizer(Protocol):
    """What the task-head flow needs of a vocabulary (WordPiece for BERT, SentencePiece for T5's encoder)."""

    pad_id: int
    vocab_size: int
    sha256: str

    def encode_batch(self, rows: list[tuple[str, str | None]], max_len: int | None = None) -> list[Encoded]: ...

    def settings(self) -> dict[str, Any]: ...

    def check_fits(self, embedding_rows: int) -> None: ...
