"""The T5 paper's adapter layers (§3.5.1, after Houlsby et al. 2019): dense -> ReLU -> dense of inner size D,
with a residual connection, inserted after each feed-forward block; output width = input width.

The up-projection starts at zero, so a fresh adapter is the identity and the pre-trained network's
function is unchanged at step 0 (the paper does not state its init; this is Houlsby's near-identity choice).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.errors import T5evalError


class Adapter(nn.Module):
    """x + up(relu(down(x))): (..., D) -> (..., D)."""

    def __init__(self, width: int, inner: int, seed: int, std: float = 0.02) -> None:
        super().__init__()
        self.down = nn.Linear(width, inner)
        self.up = nn.Linear(inner, width)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.down.weight.copy_(torch.randn(self.down.weight.shape, generator=gen) * std)
            self.down.bias.zero_()
            self.up.weight.zero_()
            self.up.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(F.relu(self.down(x)))


def add_adapters(blocks: Sequence[nn.Module], width: int, inner: int, seed: int) -> None:
    """Give every block (BERT's feed-forward output, T5's encoder and decoder layers: each has an `adapter`
    slot applied after its feed-forward sublayer, before dropout and residual) a fresh adapter of inner size
    `inner`, seeded `seed + 1 + i`, on the block's device."""
    for i, block in enumerate(blocks):
        if not hasattr(block, "adapter"):
            raise T5evalError(f"--transfer adapters: {type(block).__name__} has no adapter slot after its "
                              "feed-forward block")
        weight = next(block.parameters())
        block.adapter = Adapter(width, inner, seed + 1 + i).to(weight.device)
