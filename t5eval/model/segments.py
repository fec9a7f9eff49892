"""Per-example (block-diagonal) attention on packed rows, without the row-width-squared cost.

Packed rows (`t5eval.batching.pack_rows`) hold several examples one after another; a segment mask over
the whole (L, L) row would make attention, its softmax and its dropout cost L² per row although only
the diagonal blocks are read. Here projections, feed-forward and LM head still run on the packed tokens,
while attention runs on the examples laid out one per row: the examples of a micro-batch, sorted by
input length, are cut into groups of similar length, and group g is gathered into (E_g, W_g) slots
(W_g its longest example), attended there with its own (W_g, W_g) relative bias, then scattered back.
Each example sees exactly the tokens and relative positions it has alone (positions restart at 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

GROUP_GROWTH = 1.25  # a new group starts when an example is this much longer than its group's shortest
ROW_KEY = 1 << 32  # example key = row * ROW_KEY + segment id, whatever the side's width
GROUP_SLACK = 8  # ... and more than this many tokens longer (tiny examples are not split further)


@dataclass(frozen=True)
class Spans:
    """The examples of one side (inputs or targets) of packed rows, in row-major order.

    keys: (E,) row * ROW_KEY + segment id, the same for an example's inputs and targets.
    starts: (E,) flat index of each example's first token in the (B * L) tokens. lengths: (E,).
    """

    keys: torch.Tensor
    starts: torch.Tensor
    lengths: torch.Tensor
    tokens: int  # B * L


def spans(segments: torch.Tensor) -> Spans:
    """Segment ids (B, L) (1, 2, … per row, contiguous; 0 = padding) -> where each example lies."""
    width = segments.shape[1]
    flat = segments.reshape(-1)
    token = (flat > 0).nonzero().squeeze(1)  # (N,) flat index of every real token
    keys = torch.div(token, width, rounding_mode="floor") * ROW_KEY + flat[token]
    keys, lengths = torch.unique_consecutive(keys, return_counts=True)  # (E,), (E,)
    starts = token[torch.cumsum(lengths, 0) - lengths]
    return Spans(keys, starts, lengths, flat.numel())


def length_groups(lengths: torch.Tensor) -> list[torch.Tensor]:
    """Example indices (E,) cut into groups of similar length, shortest first (a stable sort)."""
    order = torch.sort(lengths, stable=True).indices.tolist()
    sizes = lengths.tolist()
    groups: list[list[int]] = []
    for i in order:
        first = sizes[groups[-1][0]] if groups else 0
        if not groups or sizes[i] > max(first * GROUP_GROWTH, first + GROUP_SLACK):
            groups.append([])
        groups[-1].append(i)
    return [torch.tensor(g, dtype=torch.long, device=lengths.device) for g in groups]


@dataclass(frozen=True)
class Slots:
    """One side's examples laid out per example, group by group.

    gathers[g]: (E_g, W_g) flat token index of each slot (0 past an example's end). valid[g]: (E_g, W_g).
    scatter: (B * L,) index of each packed token into the groups' slots flattened and concatenated, with
    one zero slot appended for padding tokens (which no query reads).
    """

    gathers: list[torch.Tensor]
    valid: list[torch.Tensor]
    scatter: torch.Tensor

    @property
    def widths(self) -> list[int]:
        return [g.shape[1] for g in self.gathers]


def slots(where: Spans, groups: list[torch.Tensor]) -> Slots:
    """Lay the examples of `where` out in `groups` (example indices), each group as wide as its longest."""
    gathers, valid = [], []
    scatter = torch.full((where.tokens,), sum(int(g.numel()) * int(where.lengths[g].max()) for g in groups),
                         dtype=torch.long, device=where.starts.device)
    base = 0
    for members in groups:
        length = where.lengths[members]  # (E_g,)
        offset = torch.arange(int(length.max()), device=length.device)  # (W_g,)
        inside = offset[None, :] < length[:, None]  # (E_g, W_g)
        index = torch.where(inside, where.starts[members, None] + offset[None, :], 0)
        scatter[index[inside]] = base + torch.arange(inside.numel(), device=inside.device).view_as(inside)[inside]
        base += inside.numel()
        gathers.append(index)
        valid.append(inside)
    return Slots(gathers, valid, scatter)


Core = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# (q (E, H, Wq, Dk), k, v (E, H, Wk, Dk), bias) -> mixed values (E, Wq, H*Dk): attention before its output projection


@dataclass(frozen=True)
class PerExample:
    """What `Attention` takes instead of a bias on packed rows: query and key slots, and per group the
    additive bias (relative positions, causal mask, key padding) broadcast to (E_g, H, Wq_g, Wk_g)."""

    query: Slots
    key: Slots
    biases: list[torch.Tensor]

    def attend(self, core: Core, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
        """q (B, Lq, H*Dk), k/v (B, Lk, H*Dk) on packed tokens -> mixed values (B, Lq, H*Dk)."""
        rows, length, inner = q.shape
        q_flat, k_flat, v_flat = q.reshape(-1, inner), k.reshape(-1, inner), v.reshape(-1, inner)
        out = []
        for q_at, k_at, bias in zip(self.query.gathers, self.key.gathers, self.biases, strict=True):
            out.append(core(_heads(q_flat, q_at, heads), _heads(k_flat, k_at, heads), _heads(v_flat, k_at, heads),
                            bias).reshape(-1, inner))
        out.append(q.new_zeros(1, inner))
        return torch.cat(out).index_select(0, self.query.scatter).view(rows, length, inner)


def _heads(flat: torch.Tensor, index: torch.Tensor, heads: int) -> torch.Tensor:
    """Tokens (N, H*Dk) gathered at index (E, W) -> (E, H, W, Dk)."""
    gathered = flat.index_select(0, index.reshape(-1)).view(index.shape[0], index.shape[1], heads, -1)
    return gathered.transpose(1, 2)
