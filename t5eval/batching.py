"""Token-budget batching with length bucketing, padding, and a seeded, resumable training stream.

Eval: `length_sorted_batches` groups examples of similar length so little compute goes to padding;
the runner restores file order afterwards. Training: `TrainStream` draws examples (T5's
examples-proportional mixture when several tasks are given), buckets a pool of them by length into
token-budget batches and shuffles the batches, all from one seeded RNG whose state is checkpointed,
so a resumed run sees exactly the batches the killed run would have seen.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

PAD_ID = 0  # T5: pad = 0, also the decoder start token
IGNORE_INDEX = -100  # label positions the loss skips


@contextlib.contextmanager
def forward_precision(device: torch.device, dtype: str) -> Iterator[None]:
    """Run forward passes in `dtype`: "float32" as is, "bfloat16" under `torch.autocast`.

    Weights (and the optimizer) stay fp32; autocast runs matmuls in bf16, while T5's RMS norm takes
    its variance in fp32 inside the model and the loss / log-softmax are taken on fp32 logits.
    CPU autocast supports bf16 too (slow, but it runs end to end).
    """
    if dtype == "float32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=getattr(torch, dtype)):
        yield


def in_precision(fn: Callable[..., Any], device: torch.device, dtype: str) -> Callable[..., Any]:
    """`fn` (e.g. `t5eval.model.generate`) called under `forward_precision(device, dtype)`."""
    if dtype == "float32":
        return fn

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with forward_precision(device, dtype):
            return fn(*args, **kwargs)

    return wrapped


def length_sorted_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Split indices into batches of similar length whose padded size fits `batch_tokens`.

    Indices are sorted by (length, index), a total order, so the result depends only on the
    lengths. A batch holds rows while rows × longest row ≤ batch_tokens (always at least one row).

    Args:
        lengths: token count of each example.
        batch_tokens: padded-token budget per batch.
    Returns:
        Lists of indices into `lengths`, shortest examples first.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        new_longest = max(longest, lengths[i])
        if current and new_longest * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, new_longest = [], lengths[i]
        current.append(i)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


def pad_ids(seqs: Sequence[Sequence[int]], pad: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into `ids` (B, S) int64 and `mask` (B, S) int64 (1 = real token)."""
    width = max((len(s) for s in seqs), default=0)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)  # (B, S)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, S)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


@dataclass
class TrainBatch:
    """One micro-batch: encoder ids/mask (B, S) and labels (B, T) with -100 on padding."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    n_tokens: int  # real (unpadded) input + target tokens, for throughput


def make_train_batch(inputs: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> TrainBatch:
    """Pad a list of (input ids, target ids) pairs; padded label positions become -100 (ignored)."""
    input_ids, attention_mask = pad_ids(inputs)  # (B, S)
    labels, label_mask = pad_ids(targets)  # (B, T)
    labels = labels.masked_fill(label_mask == 0, IGNORE_INDEX)
    n_tokens = int(attention_mask.sum() + label_mask.sum())
    return TrainBatch(input_ids, attention_mask, labels, n_tokens)


@dataclass
class TrainSource:
    """One task's tokenized training data and its mixing weight (T5: proportional to its size)."""

    name: str
    inputs: list[list[int]]
    targets: list[list[int]]
    weight: float = 1.0


@dataclass
class _Cursor:
    epoch: int = 0
    pos: int = 0
    perm: list[int] = field(default_factory=list)


class TrainStream:
    """Endless, seeded, resumable stream of token-budget training batches.

    Each source is read in a fresh seeded permutation per epoch; with several sources, each example
    comes from a source drawn with probability ∝ its weight (T5's proportional mixture). A pool of
    `pool_batches` budgets' worth of examples is sorted by length, cut into batches, and the batches
    are shuffled. `state_dict()` captures everything needed to continue the exact same sequence.
    """

    def __init__(
        self, sources: Sequence[TrainSource], batch_tokens: int, seed: int, pool_batches: int = 16
    ) -> None:
        live = [s for s in sources if s.weight > 0 and s.inputs]
        if not live:
            raise ValueError("TrainStream needs at least one source with weight > 0 and examples")
        self.sources = live
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.pool_batches = pool_batches
        self._rng = random.Random(seed)
        self._cursors = [_Cursor() for _ in live]
        self._queue: list[list[tuple[int, int]]] = []

    def _next_example(self, src: int) -> int:
        cur = self._cursors[src]
        if not cur.perm or cur.pos >= len(cur.perm):
            if cur.perm:
                cur.epoch += 1
            cur.perm = list(range(len(self.sources[src].inputs)))
            random.Random(f"{self.seed}/{src}/{cur.epoch}").shuffle(cur.perm)
            cur.pos = 0
        cur.pos += 1
        return cur.perm[cur.pos - 1]

    def _draw_source(self) -> int:
        if len(self.sources) == 1:
            return 0
        weights = [s.weight for s in self.sources]
        return self._rng.choices(range(len(self.sources)), weights=weights)[0]

    def _cost(self, ref: tuple[int, int]) -> int:
        src = self.sources[ref[0]]
        return len(src.inputs[ref[1]]) + len(src.targets[ref[1]])

    def _fill_queue(self) -> None:
        pool: list[tuple[int, int]] = []
        budget = self.batch_tokens * self.pool_batches
        used = 0
        while used < budget:
            src = self._draw_source()
            ref = (src, self._next_example(src))
            pool.append(ref)
            used += self._cost(ref)
        groups = length_sorted_batches([self._cost(r) for r in pool], self.batch_tokens)
        batches = [[pool[i] for i in g] for g in groups]
        self._rng.shuffle(batches)
        self._queue.extend(batches)

    def next_refs(self) -> list[tuple[int, int]]:
        """The next batch as (source index, example index) pairs."""
        if not self._queue:
            self._fill_queue()
        return self._queue.pop(0)

    def next_batch(self) -> TrainBatch:
        """The next padded training batch."""
        refs = self.next_refs()
        inputs = [self.sources[s].inputs[i] for s, i in refs]
        targets = [self.sources[s].targets[i] for s, i in refs]
        return make_train_batch(inputs, targets)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the stream (picklable)."""
        return {
            "rng": self._rng.getstate(),
            "cursors": [(c.epoch, c.pos, list(c.perm)) for c in self._cursors],
            "queue": [list(b) for b in self._queue],
            "n_sources": len(self.sources),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict()` (same sources, budget and seed)."""
        if state["n_sources"] != len(self.sources):
            raise ValueError("stream state was saved for a different set of training sources")
        self._rng.setstate(state["rng"])
        self._cursors = [_Cursor(e, p, list(perm)) for e, p, perm in state["cursors"]]
        self._queue = [[tuple(r) for r in b] for b in state["queue"]]  # type: ignore[misc]
