"""Task heads over an encoder's pooled vector (BERT's fine-tuning: pooled [CLS] -> dropout -> linear).

`HeadModel` wraps any body whose forward returns (hidden (N,S,D), pooled (N,D)); `pad_rows` builds the
padded id, mask and token-type tensors. Which task uses which head is declared in task_defs/heads.yaml
(`t5eval.tasks.heads`); training is `t5eval.train.heads`, scoring `t5eval.eval.heads`.
"""

from __future__ import annotations

import torch
from torch import nn


class HeadModel(nn.Module):
    """body -> pooled (N, D) -> dropout -> linear (N, num_outputs)."""

    def __init__(self, body: nn.Module, hidden_size: int, num_outputs: int, dropout: float, seed: int,
                 initializer_range: float = 0.02) -> None:
        super().__init__()
        self.body = body
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_outputs)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # BERT's classifier init: N(0, initializer_range), zero bias
            self.out.weight.copy_(torch.randn(self.out.weight.shape, generator=gen) * initializer_range)
            self.out.bias.zero_()

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """ids, mask, types (N, S) -> outputs (N, num_outputs)."""
        _, pooled = self.body(ids, mask, types)
        return self.out(self.dropout(pooled))


def pad_rows(ids: list[list[int]], types: list[list[int]], pad_id: int,
             device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad rows -> ids (N, S), mask (N, S), token types (N, S)."""
    width = max(len(r) for r in ids)
    pad = [width - len(r) for r in ids]
    tensors = (
        [r + [pad_id] * p for r, p in zip(ids, pad, strict=True)],
        [[1] * len(r) + [0] * p for r, p in zip(ids, pad, strict=True)],
        [t + [0] * p for t, p in zip(types, pad, strict=True)],
    )
    out = tuple(torch.tensor(t, device=device) for t in tensors)
    return out[0], out[1], out[2]
