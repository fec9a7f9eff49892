"""The seeded, resumable training stream: T5's examples-proportional mixture, length-bucketed token-budget
batches, shuffled from one RNG whose state is checkpointed, so a resumed run sees exactly the batches
the killed run would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from t5eval.batching import TrainBatch, length_sorted_batches, make_train_batch, pack_greedy, pack_rows

Ref = tuple[int, int]  # (source index, example index)


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

    With `pack_length` (T5's packed fine-tuning, seqio `trim_and_pack`): the pool's examples, in draw
    order, are packed greedily into rows of at most `pack_length` input and `pack_length` target
    tokens; the rows (not the examples) are then bucketed into token-budget batches, a row counting as
    its longer side (so `batch_tokens // pack_length` full rows per batch, as T5's 128 x 512), and shuffled.
    """

    def __init__(
        self, sources: Sequence[TrainSource], batch_tokens: int, seed: int, pool_batches: int = 16,
        pack_length: int | None = None,
    ) -> None:
        live = [s for s in sources if s.weight > 0 and s.inputs]
        if not live:
            raise ValueError("TrainStream needs at least one source with weight > 0 and examples")
        self.sources = live
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.pool_batches = pool_batches
        self.pack_length = pack_length
        self._rng = random.Random(seed)
        self._cursors = [_Cursor() for _ in live]
        self._queue: list[list[Any]] = []  # batches: refs, or packed rows of refs

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
        items: list[Any] = pool
        if self.pack_length is not None:
            items = [[pool[i] for i in row] for row in pack_greedy([self._lengths(r) for r in pool], self.pack_length)]
        costs = [self._row_width(item) if self.pack_length else self._cost(item) for item in items]
        batches = [[items[i] for i in g] for g in length_sorted_batches(costs, self.batch_tokens)]
        self._rng.shuffle(batches)
        self._queue.extend(batches)

    def _row_width(self, row: list[Ref]) -> int:
        """A packed row's width: its longer side (inputs or targets, each at most pack_length), so a micro-batch
        holds batch_tokens // pack_length full rows (T5: 65,536 // 512 = 128 rows of 512 input and 512 target
        slots). Counting inputs + targets instead left one 512-row in a 1,024-token budget."""
        sides = [self._lengths(r) for r in row]
        return max(sum(i for i, _ in sides), sum(t for _, t in sides))

    def _lengths(self, ref: Ref) -> tuple[int, int]:
        src = self.sources[ref[0]]
        return len(src.inputs[ref[1]]), len(src.targets[ref[1]])

    def next_refs(self) -> list[Any]:
        """The next batch as (source index, example index) pairs; packed: a list of rows of such pairs."""
        if not self._queue:
            self._fill_queue()
        return self._queue.pop(0)

    def next_batch(self) -> TrainBatch:
        """The next training batch: padded, or packed (several examples per row) with `pack_length`."""
        refs = self.next_refs()
        if self.pack_length is not None:
            return pack_rows([[self._example(r) for r in row] for row in refs])
        inputs = [self.sources[s].inputs[i] for s, i in refs]
        targets = [self.sources[s].targets[i] for s, i in refs]
        return make_train_batch(inputs, targets)

    def _example(self, ref: Ref) -> tuple[list[int], list[int]]:
        src = self.sources[ref[0]]
        return src.inputs[ref[1]], src.targets[ref[1]]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the stream (picklable)."""
        return {
            "rng": self._rng.getstate(),
            "cursors": [(c.epoch, c.pos, list(c.perm)) for c in self._cursors],
            "queue": [list(b) for b in self._queue],
            "n_sources": len(self.sources),
            "pack_length": self.pack_length,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict()` (same sources, budget and seed)."""
        if state["n_sources"] != len(self.sources):
            raise ValueError("stream state was saved for a different set of training sources")
        if state.get("pack_length") != self.pack_length:  # states from before packing: unpacked
            raise ValueError(f"stream state was saved with pack_length {state.get('pack_length')}, "
                             f"not {self.pack_length}")
        self._rng.setstate(state["rng"])
        self._cursors = [_Cursor(e, p, list(perm)) for e, p, perm in state["cursors"]]
        if self.pack_length is None:
            self._queue = [[tuple(r) for r in b] for b in state["queue"]]
        else:
            self._queue = [[[tuple(r) for r in row] for row in b] for b in state["queue"]]
