"""The T5 paper's transfer approaches (§3.5.1, Table 10) for a task-head model: which parameters train when.

    all                 every parameter (BERT's and T5's default)
    frozen              feature-based: the pre-trained body frozen, only the task head trains
    adapters:D          an adapter (dense-ReLU-dense, inner size D, residual) after every feed-forward block;
                        only adapters, layer norms and the head train (the paper: D in 32, 128, 512, 2048)
    gradual-unfreezing  fine-tuning split into L episodes (L = number of blocks); in episode n (1-based) the
                        top n blocks train (the paper: 12 episodes of 2^18/12 steps, "layers 12 - n to 12"
                        in the nth). The head and pooler train throughout; the embeddings, which T5 shares
                        with its output layer and so always trains, join with the bottom block here (BERT's
                        head does not share them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from t5eval.errors import T5evalError
from t5eval.model.heads import HeadModel

KINDS = ("all", "frozen", "adapters:D", "gradual-unfreezing")


@dataclass(frozen=True)
class Transfer:
    """A parsed --transfer value."""

    kind: str  # all | frozen | adapters | gradual-unfreezing
    adapter_dim: int = 0

    @classmethod
    def parse(cls, text: str) -> Transfer:
        """'all', 'frozen', 'adapters:32', 'gradual-unfreezing' (one-line error otherwise)."""
        from t5eval.errors import did_you_mean

        kind, _, dim = text.partition(":")
        if kind == "adapters":
            if not dim.isdigit() or int(dim) < 1:
                raise T5evalError(f"--transfer {text}: the adapter size must be a positive integer, e.g. "
                                  "adapters:32 (the paper uses 32, 128, 512, 2048)")
            return cls("adapters", int(dim))
        if dim or kind not in ("all", "frozen", "gradual-unfreezing"):
            raise T5evalError(f"--transfer {text!r} is not one of {', '.join(KINDS)}{did_you_mean(text, KINDS)}")
        return cls(kind)


def _blocks(body: nn.Module) -> nn.ModuleList:
    layers = getattr(body, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise T5evalError(f"--transfer: {type(body).__name__} has no list of blocks to adapt or unfreeze")
    return layers


def apply_transfer(model: HeadModel, transfer: Transfer, seed: int) -> Callable[[int, int], None] | None:
    """Set which parameters of `model` (a HeadModel: `body`, `out`) train; add adapters when asked.

    Returns, for gradual unfreezing, `at_step(step, total)` to call before each optimizer step; else None.
    """
    body: Any = model.body
    for param in model.parameters():
        param.requires_grad_(True)
    if transfer.kind == "all":
        return None
    if transfer.kind == "frozen":
        body.requires_grad_(False)
        return None
    blocks = _blocks(body)
    if transfer.kind == "adapters":
        add_adapters(blocks, model.out.in_features, transfer.adapter_dim, seed)
        for name, param in body.named_parameters():
            param.requires_grad_(".adapter." in name or "norm" in name)
        return None
    bottom = [m for m in (getattr(body, "embeddings", None), getattr(body, "relative_bias", None)) if m is not None]

    def at_step(step: int, total: int) -> None:
        episode = min(len(blocks), step * len(blocks) // max(total, 1) + 1)  # 1 … L
        for i, block in enumerate(blocks):
            block.requires_grad_(i >= len(blocks) - episode)
        for module in bottom:  # embeddings (and T5's relative position bias) join with the bottom block
            module.requires_grad_(episode == len(blocks))

    at_step(0, 1)
    return at_step


def add_adapters(blocks: nn.ModuleList, width: int, inner: int, seed: int) -> None:
    """An adapter after each block's feed-forward output: BERT blocks apply `block.adapter` themselves; for
    other blocks (T5's encoder layers) a forward hook on `block.ff` applies it, before dropout and residual."""
    from t5eval.model.adapters import Adapter

    for i, block in enumerate(blocks):
        adapter = Adapter(width, inner, seed + 1 + i).to(next(block.parameters()).device)
        if hasattr(block, "adapter"):
            block.adapter = adapter
            continue
        feed_forward = getattr(block, "ff", None)
        if not isinstance(feed_forward, nn.Module):
            raise T5evalError(f"--transfer adapters: {type(block).__name__} has no feed-forward block to follow")
        block.add_module("adapter", adapter)
        feed_forward.register_forward_hook(lambda _m, _i, out, a=adapter: a(out))


def trainable_count(model: nn.Module) -> int:
    """Parameters that receive gradients now."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
