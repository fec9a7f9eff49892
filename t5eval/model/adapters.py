"""The T5 paper's adapter layers (§3.5.1): a dense-ReLU-dense block of inner size D added after each block's
feed-forward network, output width = input width. Two forms (`--transfer adapters:D`, `adapters-houlsby:D`):

`official` (`TaskAdapter`, the default): t5's `task_adapter.gin` adds a layer named "task_adapter" after the
    DenseReluDense of every encoder and decoder block; mesh_tensorflow's LayerStack wraps every layer as
    `x + dropout(layer(rms_norm(x)))`, so the adapter is its own residual sublayer with its own RMS norm
    (scale initialised to 1, eps 1e-6): x + dropout(wo(dropout(relu(wi(rms_norm(x)))))), no biases
    (`DenseReluDense(use_bias=False)`), dropout at the model's rate (gin binds `DenseReluDense.dropout_rate`
    and `sublayer_dropout.dropout_rate` to `dropout_rate` = 0.1). Init as mesh_tensorflow's dense default,
    `VarianceScalingInitializer(1.0, "fan_in", "normal")` = `tf.truncated_normal_initializer(stddev =
    sqrt(1 / fan_in))`: wi stddev sqrt(1 / d_model), wo stddev sqrt(1 / D), each cut at 2 stddev. So the
    adapter is NOT the identity at initialisation. `utils.run.variable_filter = "task_adapter"`: only these
    variables (the two kernels and the norm's scale) train.
`houlsby` (`HoulsbyAdapter`, t5eval's earlier form): x + up(relu(down(x))) with biases, applied to the
    feed-forward's output inside its sublayer (before the block's dropout and residual); Houlsby et al.'s
    near-identity init, weights N(0, 1e-2) truncated to 2 sigma, biases 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.errors import T5evalError
from t5eval.model.bert.init import truncated_normal_
from t5eval.model.layers import RMSNorm

FORMS = ("official", "houlsby")


class TaskAdapter(nn.Module):
    """t5's task adapter, a residual sublayer of its own: (..., D) -> (..., D)."""

    def __init__(self, width: int, inner: int, seed: int, dropout: float, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = RMSNorm(width, eps)
        self.wi = nn.Linear(width, inner, bias=False)
        self.wo = nn.Linear(inner, width, bias=False)
        self.dropout = nn.Dropout(dropout)
        gen = torch.Generator().manual_seed(seed)
        truncated_normal_(self.wi.weight, (1.0 / width) ** 0.5, gen)  # fan_in = d_model
        truncated_normal_(self.wo.weight, (1.0 / inner) ** 0.5, gen)  # fan_in = D

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(F.relu(self.wi(self.norm(x))))  # (..., inner)
        return x + self.dropout(self.wo(hidden))


class HoulsbyAdapter(nn.Module):
    """x + up(relu(down(x))) on the feed-forward's output: (..., D) -> (..., D)."""

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


def inside_feed_forward(adapter: nn.Module | None, out: torch.Tensor) -> torch.Tensor:
    """The feed-forward's output (before the block's dropout and residual), through a Houlsby adapter."""
    return adapter(out) if isinstance(adapter, HoulsbyAdapter) else out


def after_feed_forward(adapter: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """The block's state after its feed-forward sublayer, through the official adapter sublayer."""
    return adapter(x) if isinstance(adapter, TaskAdapter) else x


def add_adapters(blocks: Sequence[nn.Module], width: int, inner: int, seed: int, form: str = "official") -> None:
    """Give every block (BERT's and T5's encoder and decoder blocks: each has an `adapter` slot and a
    `dropout`) a fresh adapter of inner size `inner` and form `form`, seeded `seed + 1 + i`, on the block's
    device; the official form takes the block's dropout rate."""
    if form not in FORMS:
        raise T5evalError(f"adapter form {form!r} is not one of {', '.join(FORMS)}")
    for i, block in enumerate(blocks):
        if not hasattr(block, "adapter"):
            raise T5evalError(f"--transfer adapters: {type(block).__name__} has no adapter slot after its "
                              "feed-forward block")
        weight = next(block.parameters())
        dropout = getattr(block, "dropout", None)
        drop = float(dropout.p) if isinstance(dropout, nn.Dropout) else 0.1
        adapter = TaskAdapter(width, inner, seed + 1 + i, drop) if form == "official" else HoulsbyAdapter(
            width, inner, seed + 1 + i)
        block.adapter = adapter.to(weight.device)
