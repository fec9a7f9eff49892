"""Example i of a pre-training run as a pure function of (seed, i): chunk order, noise, batches, export.

A local corpus is read once into chunks; epoch e visits them in the permutation drawn from
(seed, e). A hub corpus is streamed in corpus order, once (resuming regenerates it and skips).
Example i applies the objective to the i-th chunk with a Generator seeded by (seed, i), so the
export shows exactly what the model is trained on, and the stream's whole state is one integer.
Step s (1-based) trains on examples (s − 1)·rows … s·rows − 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from t5eval.batching import TrainBatch, make_train_batch
from t5eval.errors import T5evalError
from t5eval.pretrain.objectives import Objective, make_example
from t5eval.tokenizer import T5Tokenizer

_ORDER, _NOISE = 2, 3  # seed-sequence tags: chunk order per epoch, noise per example


class ChunkSource(Protocol):
    def chunk(self, i: int) -> tuple[np.ndarray, dict[str, int]]:
        """The i-th chunk the run sees and where it comes from ({"epoch", "chunk"})."""
        ...


class LocalChunks:
    """Chunks held in memory, visited in a fresh seeded permutation each epoch."""

    def __init__(self, chunks: list[np.ndarray], seed: int) -> None:
        self.chunks = chunks
        self.seed = seed
        self._perm: tuple[int, np.ndarray] | None = None

    def chunk(self, i: int) -> tuple[np.ndarray, dict[str, int]]:
        epoch, pos = divmod(i, len(self.chunks))
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, _ORDER, epoch]).permutation(len(self.chunks)))
        index = int(self._perm[1][pos])
        return self.chunks[index], {"epoch": epoch, "chunk": index}


class StreamedChunks:
    """Chunks of a streamed corpus in corpus order, one pass; asking for an earlier chunk restarts."""

    def __init__(self, open_chunks: Callable[[], Iterator[np.ndarray]]) -> None:
        self.open_chunks = open_chunks
        self._iter: Iterator[np.ndarray] | None = None
        self._next = 0

    def chunk(self, i: int) -> tuple[np.ndarray, dict[str, int]]:
        if self._iter is None or i < self._next:
            self._iter, self._next = self.open_chunks(), 0
        for chunk in self._iter:
            self._next += 1
            if self._next - 1 == i:
                return chunk, {"epoch": 0, "chunk": i}
        raise T5evalError(f"the streamed corpus ended after {self._next} chunks; lower --steps or "
                          "--batch-tokens (a streamed corpus is read once)")


@dataclass
class ExampleStream:
    """Batches of `rows` examples for `train_step`; the state is the next example's index."""

    source: ChunkSource
    objective: Objective
    seed: int
    rows: int
    position: int = 0
    real_tokens: int = 0  # non-pad input + target tokens trained on
    padded_tokens: int = 0  # input + target positions including padding

    def example(self, i: int) -> tuple[list[int], list[int], dict[str, int]]:
        """(inputs, targets, origin) of example i."""
        chunk, origin = self.source.chunk(i)
        inputs, targets = make_example(self.objective, chunk, np.random.default_rng([self.seed, _NOISE, i]))
        return inputs, targets, {**origin, "chunk_tokens": len(chunk)}

    def next_batch(self) -> TrainBatch:
        """The next `rows` examples, padded (labels -100 on padding)."""
        pairs = [self.example(i)[:2] for i in range(self.position, self.position + self.rows)]
        self.position += self.rows
        batch = make_train_batch([p[0] for p in pairs], [p[1] for p in pairs])
        self.real_tokens += batch.n_tokens
        self.padded_tokens += batch.input_ids.numel() + batch.labels.numel()
        return batch

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: position and token counters."""
        return {"position": self.position, "real_tokens": self.real_tokens, "padded_tokens": self.padded_tokens}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""
        self.position = int(state["position"])
        self.real_tokens = int(state["real_tokens"])
        self.padded_tokens = int(state["padded_tokens"])


def export_rows(stream: ExampleStream, n: int, tok: T5Tokenizer) -> list[dict[str, Any]]:
    """The first n examples the model sees, as `--export` writes them (ids, decoded text, origin)."""
    rows = []
    for i in range(n):
        inputs, targets, origin = stream.example(i)
        rows.append({"index": i, "inputs_ids": inputs, "targets_ids": targets,
                     "inputs": decode_with_sentinels(tok, inputs), "targets": decode_with_sentinels(tok, targets),
                     **origin})
    return rows


def decode_with_sentinels(tok: T5Tokenizer, ids: list[int]) -> str:
    """Decoded text with each sentinel shown as `<extra_id_N>` (seqio's decode maps them to unk)."""
    pieces: list[str] = []
    run: list[int] = []
    for i in ids:
        if i >= tok.base_size:
            pieces.append(tok.decode(run))
            pieces.append(f"<extra_id_{tok.vocab_size - 1 - i}>")
            run = []
        else:
            run.append(i)
    pieces.append(tok.decode(run))
    return " ".join(p for p in pieces if p)
