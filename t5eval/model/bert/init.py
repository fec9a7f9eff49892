"""BERT's weight initializer (google-research/bert `modeling.create_initializer`): a truncated normal.

`tf.truncated_normal_initializer(stddev=s)` draws N(0, s) and redraws every value beyond 2 s, so all values
lie in [-2 s, 2 s] and their standard deviation is about 0.8796 s (0.0176 for BERT's s = 0.02).
"""

from __future__ import annotations

import torch
from torch import nn


def truncated_normal_(tensor: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Fill `tensor` in place with N(0, std) cut at +-2 std (drawn on CPU from `generator`, then copied)."""
    values = torch.empty(tensor.shape)
    nn.init.trunc_normal_(values, mean=0.0, std=std, a=-2 * std, b=2 * std, generator=generator)
    with torch.no_grad():
        tensor.copy_(values)
    return tensor
