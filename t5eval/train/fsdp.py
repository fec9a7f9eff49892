"""What a validation sees under FSDP: the whole weights, only while it runs, and their hash.

FSDP2 shards the model in place, so between validations every rank holds only its shards. For one
validation, `whole_weights`:

1. gathers the full state dict onto rank 0's CPU, one tensor at a time (`get_model_state_dict` with
   `full_state_dict=True, cpu_offload=True`), and builds a plain CPU T5 from it (rank 0 only). Its
   `state_dict_sha256` is the hash a DDP or one-process run computes for the same weights (same
   names, dtypes, shapes and bytes), so decode caches stay compatible; rank 0 broadcasts it. The
   plain copy is what the runner saves as the best weights;
2. unshards every FSDP unit (`dist_train.full_params`), so the model object itself has whole
   parameters on the device for decoding, and reshards them when the block ends.

The model's own `state_dict()` must not be called inside the block: FSDP2's state-dict hook puts the
sharded parameters back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from t5eval.distributed.context import DistContext, broadcast_object
from t5eval.distributed.parallel import full_params
from t5eval.model.checkpoint import state_dict_sha256


def plain_copy(wrapped: nn.Module, model: nn.Module, ctx: DistContext) -> nn.Module | None:
    """Rank 0: a plain CPU T5 holding the whole weights of the sharded `model`; None elsewhere.

    `model` is the T5 inside `wrapped` (a `wrap_model(..., fsdp=True)` result). All ranks must call
    it (it gathers every tensor). Host memory on rank 0: one whole copy of the weights.
    """
    from t5eval.model.t5.weights import build

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    full = get_model_state_dict(wrapped, options=opts)
    if not ctx.is_main:
        return None
    prefix = next(name for name, m in wrapped.named_modules() if m is model) + "."
    state = {k.removeprefix(prefix): v for k, v in full.items() if k.startswith(prefix) and isinstance(v, torch.Tensor)}
    dtype = next(iter(state.values())).dtype
    return build(cast(Any, model).config, state, "the gathered FSDP weights", dtype, "cpu")


@contextmanager
def whole_weights(wrapped: nn.Module, model: nn.Module, ctx: DistContext) -> Iterator[tuple[str, nn.Module | None]]:
    """Yield (sha256 of the whole weights, rank 0's plain CPU copy or None) with `model` unsharded.

    Every rank must enter it (collectives). Inside, `model`'s parameters are whole on the device;
    on exit they are sharded again and the plain copy should be dropped.
    """
    plain = plain_copy(wrapped, model, ctx)
    sha = broadcast_object(state_dict_sha256(plain) if plain is not None else None, ctx)
    with full_params(wrapped):
        yield str(sha), plain
