"""The T5 paper's adapter layers (§3.5.1, after Houlsby et al. 2019): dense -> ReLU -> dense of inner size D,
with a residual connection, inserted after each feed-forward block; output width = input width.

Init (the paper does not state one): Houlsby et al.'s near-identity choice, "the weights in the adapter module
were drawn from a zero-mean Gaussian with standard deviation 10^-2, truncated to two standard deviations";
biases 0. Not an exactly-zero up-projection: T5 fine-tunes with Adafactor, whose steps are relative to a
tensor's RMS (floored at eps2 = 1e-3), so a zero tensor would move by only lr * 1e-3 = 1e-6 per step. (Even so,
adapters learn slowly under T5's constant Adafactor 1e-3: weights of RMS 1e-2 move ~1e-5 per step; docs/bert.md.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.errors import T5evalError


class Adapter(nn.Module):
    """x + up(relu(down(x))): (..., D) -> (..., D)."""

    def __init__(self, width: int, inner: int, seed: int, std: float = 1e-2) -> None:
        super().__init__()
        self.down = nn.Linear(width, inner)
        self.up = nn.Linear(inner, width)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for dense in (self.down, self.up):
                weight = torch.empty(dense.weight.shape)  # drawn on CPU (seeded), then copied
                nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std, generator=gen)
                dense.weight.copy_(weight)
                dense.bias.zero_()

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
