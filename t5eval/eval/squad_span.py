"""BERT's SQuAD v1.1 span head: windows over the context, gold positions, and n-best decoding, after
google-research/bert `run_squad.py` (`convert_examples_to_features`, `_check_is_max_context`,
`write_predictions`).

Features: `[CLS] question [SEP] context window [SEP]`, segment 0 then 1, padded to max_seq_len (384); the
question cut to its first 64 pieces; windows of at most 384 - |question| - 3 context pieces, each starting
min(window length, doc_stride = 128) pieces after the previous. A piece in several windows is scored only in
its "max context" window (the highest min(left, right) + 0.01 * window length; the first of equals).
Training: the gold start/end piece inside the window, or [CLS] (0, 0) when the answer is not inside it.
Decoding: per window the 20 highest start and 20 highest end logits (ties: the lower position); a pair is
kept when both are context pieces, the start is in its max-context window, end >= start and it spans at
most 30 pieces; the best start + end logit over all windows of a question wins; no pair: "empty" (as
run_squad.py). The answer text is the context between the pieces' character offsets (WordPiece offsets from
`tokenizers`); run_squad.py finds the de-tokenised pieces inside the whole words that hold them
(`get_final_text`) and maps that back to the original characters: the same text, except where its alignment
fails, when it returns the whole words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

EMPTY = "empty"  # run_squad.py's text when no span qualifies


@dataclass(frozen=True)
class SpanSettings:
    """run_squad.py's flags (defaults as its README's SQuAD 1.1 command)."""

    max_seq_len: int = 384
    doc_stride: int = 128
    max_query_len: int = 64
    n_best: int = 20
    max_answer_len: int = 30


class OffsetTokenizer(Protocol):
    """WordPiece pieces with character offsets, and the special ids (`WordPieceTokenizer`)."""

    pad_id: int

    def pieces(self, text: str) -> tuple[list[int], list[tuple[int, int]]]: ...

    def special_id(self, token: str) -> int: ...


@dataclass
class Window:
    """One feature: ids/types (max_seq_len,), per position the context character span (None: question,
    specials, padding) and whether this window is that piece's max-context window; gold start/end."""

    example: int
    ids: list[int]
    types: list[int]
    offsets: list[tuple[int, int] | None]
    max_context: list[bool]
    length: int  # real tokens (the rest is padding, masked from attention)
    start: int = 0
    end: int = 0


def window_starts(n_pieces: int, per_window: int, stride: int) -> list[tuple[int, int]]:
    """(start, length) of each window over n_pieces context pieces (run_squad.py's doc_spans)."""
    spans, start = [], 0
    while start < n_pieces:
        length = min(n_pieces - start, per_window)
        spans.append((start, length))
        if start + length == n_pieces:
            break
        start += min(length, stride)
    return spans


def is_max_context(spans: list[tuple[int, int]], current: int, position: int) -> bool:
    """Whether window `current` scores context piece `position` best (first of equals wins)."""
    best, best_score = None, 0.0
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        if not start <= position <= end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best is None or score > best_score:
            best, best_score = i, score
    return best == current


def answer_pieces(offsets: list[tuple[int, int]], char_start: int, text: str) -> tuple[int, int]:
    """First and last context piece covering the answer's characters [char_start, char_start + len(text))."""
    char_end = char_start + len(text)
    inside = [i for i, (a, b) in enumerate(offsets) if b > char_start and a < char_end]
    return (inside[0], inside[-1]) if inside else (-1, -1)


def windows_of(example: int, question: str, context: str, tokenizer: OffsetTokenizer, settings: SpanSettings,
               answer: tuple[int, str] | None = None) -> list[Window]:
    """The features of one question; `answer` (char start, text) sets the gold positions (training)."""
    query = tokenizer.pieces(question)[0][:settings.max_query_len]
    doc_ids, doc_offsets = tokenizer.pieces(context)
    spans = window_starts(len(doc_ids), settings.max_seq_len - len(query) - 3, settings.doc_stride)
    gold = answer_pieces(doc_offsets, *answer) if answer else (-1, -1)
    cls, sep, head = tokenizer.special_id("[CLS]"), tokenizer.special_id("[SEP]"), len(query) + 2
    out = []
    for w, (start, length) in enumerate(spans):
        ids = [cls, *query, sep, *doc_ids[start:start + length], sep]
        pad = settings.max_seq_len - len(ids)
        window = Window(example, ids + [tokenizer.pad_id] * pad, [0] * head + [1] * (length + 1) + [0] * pad,
                        [None] * head + list(doc_offsets[start:start + length]) + [None] * (pad + 1),
                        [False] * head + [is_max_context(spans, w, start + i) for i in range(length)] + [False] * (pad + 1),
                        len(ids))
        if answer and start <= gold[0] and gold[1] <= start + length - 1:
            window.start, window.end = gold[0] - start + head, gold[1] - start + head
        out.append(window)
    return out


def _best_indexes(logits: list[float], n: int) -> list[int]:
    return sorted(range(len(logits)), key=lambda i: -logits[i])[:n]


def best_span(windows: list[Window], logits: list[torch.Tensor], settings: SpanSettings) -> tuple[int, int, int] | None:
    """(window index, start, end) of the best qualifying span over one question's windows, or None.
    logits[i]: (max_seq_len, 2) start and end logits of windows[i]."""
    best: tuple[float, int, int, int] | None = None
    for w, (window, out) in enumerate(zip(windows, logits, strict=True)):
        starts, ends = out[:, 0].tolist(), out[:, 1].tolist()
        for s in _best_indexes(starts, settings.n_best):
            for e in _best_indexes(ends, settings.n_best):
                if window.offsets[s] is None or window.offsets[e] is None or not window.max_context[s]:
                    continue
                if e < s or e - s + 1 > settings.max_answer_len:
                    continue
                score = starts[s] + ends[e]
                if best is None or score > best[0]:  # strict: the earlier candidate keeps a tie, as a stable sort
                    best = (score, w, s, e)
    return None if best is None else best[1:]


def answer_text(context: str, windows: list[Window], logits: list[torch.Tensor], settings: SpanSettings) -> str:
    """The predicted answer: the context between the best span's character offsets, or "empty"."""
    found = best_span(windows, logits, settings)
    if found is None:
        return EMPTY
    w, s, e = found
    first, last = windows[w].offsets[s], windows[w].offsets[e]
    assert first is not None and last is not None
    return context[first[0]:last[1]]


def span_loss(logits: torch.Tensor, starts: list[int], ends: list[int]) -> torch.Tensor:
    """run_squad.py: (cross-entropy of the start position + that of the end position) / 2 over all
    max_seq_len positions; logits (N, S, 2)."""
    gold_s = torch.tensor(starts, device=logits.device)
    gold_e = torch.tensor(ends, device=logits.device)
    loss_s = torch.nn.functional.cross_entropy(logits[..., 0].float(), gold_s)
    loss_e = torch.nn.functional.cross_entropy(logits[..., 1].float(), gold_e)
    return (loss_s + loss_e) / 2


def first_answer(row: dict[str, Any]) -> tuple[int, str]:
    """(char start, text) of a row's first answer (run_squad.py trains on the first)."""
    answers = row["answers"]
    return int(answers["answer_start"][0]), str(answers["text"][0])
