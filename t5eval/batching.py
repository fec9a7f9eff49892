"""Token-budget batching with length bucketing, padding, and a seeded, resumable training stream.

Eval: `length_sorted_batches` groups examples of similar length so little compute goes to padding;
the runner restores file order afterwards. Training: `TrainStream` draws examples (T5's
examples-proportional mixture when several tasks are given), buckets a pool of them by length into
token-budget batches and shuffles the batches, all from one seeded RNG whose state is checkpointed,
so a resumed run sees exactly the batches the killed run would have seen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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
    """One micro-batch: encoder ids/mask (B, S) and labels (B, T) with -100 on padding.

    Packed (`pack_rows`): several examples per row, told apart by `packing` = (input segments (B, S),
    target segments (B, T), target positions (B, T)), segments numbered 1, 2, … per row and 0 on
    padding, positions restarting at 0 for each example (seqio's `*_segment_ids` / `*_positions`).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    n_tokens: int  # real (unpadded) input + target tokens, for throughput
    packing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    input_positions: torch.Tensor | None = None  # (B, S), packed only (kept for the record; see T5.encode)

    @property
    def n_target_tokens(self) -> int:
        """Real target tokens: the denominator of the step's loss (`train_step`)."""
        return int((self.labels != IGNORE_INDEX).sum())

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """What the loss module takes: ids, mask, labels, then the packing tensors when packed."""
        return (self.input_ids, self.attention_mask, self.labels, *(self.packing or ()))


def make_train_batch(inputs: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> TrainBatch:
    """Pad a list of (input ids, target ids) pairs; padded label positions become -100 (ignored)."""
    input_ids, attention_mask = pad_ids(inputs)  # (B, S)
    labels, label_mask = pad_ids(targets)  # (B, T)
    labels = labels.masked_fill(label_mask == 0, IGNORE_INDEX)
    n_tokens = int(attention_mask.sum() + label_mask.sum())
    return TrainBatch(input_ids, attention_mask, labels, n_tokens)


Example = tuple[Sequence[int], Sequence[int]]  # (input ids, target ids)


def pack_greedy(costs: Sequence[tuple[int, int]], length: int) -> list[list[int]]:
    """seqio-style greedy packing: examples in order, a new row when the next one's inputs or targets
    would pass `length` tokens. costs: (input length, target length) per example; an example longer
    than `length` gets a row of its own (nothing is cut). Returns the example indices of each row."""
    rows: list[list[int]] = []
    used_in = used_tgt = length + 1  # forces a first row
    for i, (n_in, n_tgt) in enumerate(costs):
        if used_in + n_in > length or used_tgt + n_tgt > length:
            rows.append([])
            used_in = used_tgt = 0
        rows[-1].append(i)
        used_in, used_tgt = used_in + n_in, used_tgt + n_tgt
    return rows


def _packed_side(rows: Sequence[Sequence[Sequence[int]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate each row's sequences: ids, segments and positions, each (B, L), right-padded with 0."""
    width = max((sum(len(s) for s in row) for row in rows), default=0)
    ids, segments, positions = (torch.zeros((len(rows), width), dtype=torch.long) for _ in range(3))
    for r, row in enumerate(rows):
        at = 0
        for k, seq in enumerate(row, start=1):
            n = len(seq)
            ids[r, at:at + n] = torch.tensor(seq, dtype=torch.long)
            segments[r, at:at + n] = k
            positions[r, at:at + n] = torch.arange(n)
            at += n
    return ids, segments, positions


def pack_rows(rows: Sequence[Sequence[Example]]) -> TrainBatch:
    """A packed micro-batch: row r holds the examples rows[r] one after another (inputs and targets
    packed separately, as seqio does). Padding: id 0, segment 0, position 0; labels -100."""
    input_ids, input_segments, input_positions = _packed_side([[ex[0] for ex in row] for row in rows])
    labels, target_segments, target_positions = _packed_side([[ex[1] for ex in row] for row in rows])
    labels = labels.masked_fill(target_segments == 0, IGNORE_INDEX)
    mask = (input_segments > 0).long()
    n_tokens = int(mask.sum() + (target_segments > 0).sum())
    return TrainBatch(input_ids, mask, labels, n_tokens, (input_segments, target_segments, target_positions),
                      input_positions)
