"""Data-parallel training pieces: global-batch arithmetic, seeds, DDP/FSDP wrapping, loss scaling.

The contract with a single process: the global batch is the `grad_accum` micro-batches one process
takes per step; N ranks each train on grad_accum / N of them (`BatchPlan`), every rank draws the same
micro-batches from the run seed, and the loss scaling makes the averaged gradient equal the
one-process gradient, so Adafactor/SGD steps agree to float rounding. Micro-batches stay whole, so
each one's token-mean loss is computed exactly as in one process.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from t5eval.distributed.context import DistContext, all_reduce_sum
from t5eval.errors import T5evalError


@dataclass(frozen=True)
class BatchPlan:
    """How one optimizer step's micro-batches are spread over ranks.

    The single-process run takes `grad_accum` micro-batches per step (the global batch) and backs
    off `loss_m · n_m / D` for each (n_m its target tokens, D the step's: `train_step`). Under N ranks
    every rank draws the same micro-batches from its own copy of the seeded stream, and rank r trains
    on micro-batches r, r+N, … with that loss scaled by N; DDP/FSDP average gradients over ranks,
    which gives back exactly the single-process sum of `grad(loss_m) · n_m / D`.
    """

    grad_accum: int  # micro-batches per step in the equivalent single-process run
    world_size: int

    @property
    def local_accum(self) -> int:
        """Micro-batches one rank trains on per step (N × local_accum = grad_accum)."""
        return self.grad_accum // self.world_size

    def owned(self, rank: int) -> list[int]:
        """Positions (0 … grad_accum-1) of the step's micro-batches that `rank` trains on."""
        return list(range(rank, self.grad_accum, self.world_size))


def plan_batches(grad_accum: int, world_size: int) -> BatchPlan:
    """Check that the step's micro-batches split evenly: world_size × local accum == grad_accum.

    Raises:
        T5evalError: `grad_accum` is not a positive multiple of `world_size`, naming the flag.
    """
    if grad_accum < 1 or grad_accum % world_size:
        good = world_size * max(1, -(-max(grad_accum, 1) // world_size))
        raise T5evalError(
            f"--grad-accum {grad_accum} is not a multiple of the {world_size} processes "
            f"(torchrun --nproc-per-node × --nnodes), so the global batch would differ from a "
            f"single-process run; use --grad-accum {good} (each process then accumulates "
            f"{good // world_size})"
        )
    return BatchPlan(grad_accum, world_size)


def micro_batch_seed(seed: int, step: int, index: int) -> int:
    """Seed of the dropout masks of micro-batch `index` of optimizer step `step` (1-based).

    A function of the run seed and the micro-batch's place in the global batch only, so whichever
    rank trains a micro-batch draws the same masks: DDP with dropout on N ranks matches 1 rank to
    float rounding, and a resumed run continues with the same masks.
    """
    digest = hashlib.sha256(f"t5eval-dropout/{seed}/{step}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@contextlib.contextmanager
def micro_batch_rng(seed: int, step: int, index: int, device: torch.device) -> Iterator[None]:
    """Run a forward pass under `micro_batch_seed` (CPU and, on CUDA, the device's RNG), then restore."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(micro_batch_seed(seed, step, index))
        yield


class LossModule(nn.Module):
    """Puts `model.loss` behind `forward`, so DDP/FSDP hooks (gradient sync, unsharding) run.

    DDP and FSDP only act on `forward`; calling `ddp.module.loss(...)` would skip the gradient sync.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, *packing: torch.Tensor
    ) -> torch.Tensor:
        """(B, S), (B, S), (B, T) -> scalar token-mean loss (labels of -100 ignored); packed batches add
        their (input segments, target segments, target positions) (`TrainBatch.packing`)."""
        if packing:
            return cast(Any, self.inner).loss(input_ids, attention_mask, labels, packing)
        return cast(Any, self.inner).loss(input_ids, attention_mask, labels)


def _fsdp_units(model: nn.Module) -> list[nn.Module]:
    """The submodules to shard one by one: every member of every ModuleList (T5's blocks)."""
    return [m for lst in model.modules() if isinstance(lst, nn.ModuleList) for m in lst]


def wrap_model(model: nn.Module, ctx: DistContext, fsdp: bool = False) -> nn.Module:
    """Move `model` to the rank's device and wrap it for training: returns a loss module.

    Call the result as `wrapped(input_ids, attention_mask, labels) -> loss`. One process: a plain
    `LossModule`. Distributed: DDP (rank 0's weights are broadcast), or with `fsdp=True` FSDP2's
    `fully_shard` on each block and then the root, for models that do not fit one device. FSDP
    shards `model` in place: its parameters become this rank's DTensor shards (about 1/N of each),
    moved to the device unit by unit, so the whole model never sits on the device (it may be on
    CPU when called). Keep no other reference to the old parameters (e.g. an optimizer built on
    them: see `optimizer_for`), or the whole weights stay alive.
    """
    if fsdp and getattr(getattr(model, "config", None), "shared_encoder_decoder", False):
        raise T5evalError("--fsdp shards each block on its own, but a shared encoder-decoder's encoder and decoder "
                          "blocks hold the same weights; train it without --fsdp (DDP shares them correctly)")
    if not (fsdp and ctx.is_distributed):
        model = model.to(ctx.device)
    wrapped = LossModule(model)
    if not ctx.is_distributed:
        return wrapped
    if not fsdp:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        return DistributedDataParallel(wrapped, device_ids=ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(ctx.device.type, (ctx.world_size,))
    for unit in _fsdp_units(model):
        fully_shard(unit, mesh=mesh)
    fully_shard(wrapped, mesh=mesh)
    return wrapped


def unwrap_model(wrapped: nn.Module) -> nn.Module:
    """The T5 inside a `wrap_model` result (for decoding and saving); FSDP params stay sharded."""
    inner = wrapped.module if isinstance(wrapped, DistributedDataParallel) else wrapped
    return inner.inner if isinstance(inner, LossModule) else inner


@contextlib.contextmanager
def grad_sync(wrapped: nn.Module, sync: bool) -> Iterator[None]:
    """Skip the gradient all-reduce on all but the last micro-batch of a step (grad accumulation)."""
    if isinstance(wrapped, DistributedDataParallel) and not sync:
        with wrapped.no_sync():
            yield
        return
    setter = getattr(wrapped, "set_requires_gradient_sync", None)  # FSDP2
    if setter is not None:
        setter(sync)
    try:
        yield
    finally:
        if setter is not None:
            setter(True)


@contextlib.contextmanager
def full_params(wrapped: nn.Module) -> Iterator[nn.Module]:
    """Yield the inner model with every parameter whole, for decoding (FSDP: unshard, then reshard).

    `generate` reaches into decoder layers (`T5.step`) without calling their `forward`, so FSDP's
    per-layer hooks cannot be relied on: every unit is unsharded up front and kept whole (no reshard
    after forward) until the block ends. DDP and one process hold full replicas: nothing to do.
    """
    from torch.distributed.fsdp import FSDPModule

    units = [m for m in wrapped.modules() if isinstance(m, FSDPModule)]
    for unit in units:
        unit.set_reshard_after_forward(False, recurse=False)
        unit.unshard()
    try:
        yield unwrap_model(wrapped)
    finally:
        for unit in reversed(units):
            unit.reshard()
            unit.set_reshard_after_forward(True, recurse=False)


class _Batch(Protocol):
    input_ids: torch.Tensor  # (B, S)
    attention_mask: torch.Tensor  # (B, S)
    labels: torch.Tensor  # (B, T), -100 ignored
    n_tokens: int


def _tensors(batch: Any) -> tuple[torch.Tensor, ...]:
    """The loss module's arguments: ids, mask, labels, and a packed batch's segment/position tensors."""
    packing = getattr(batch, "packing", None) or ()
    return (batch.input_ids, batch.attention_mask, batch.labels, *packing)


class _Stream(Protocol):
    def next_batch(self) -> Any: ...


def train_step(
    wrapped: nn.Module,
    optimizer: torch.optim.Optimizer,
    stream: _Stream,
    plan: BatchPlan,
    ctx: DistContext,
    dropout_seed: tuple[int, int] | None = None,
) -> tuple[float, int]:
    """One optimizer step of the global batch on this rank. Returns (loss, tokens), both global.

    Every rank draws all `plan.grad_accum` micro-batches from its copy of the stream (so the streams
    stay in step) and trains on its own (`plan.owned`); gradients are synchronised once, on the last.
    The step's loss is the sum of every target token's cross-entropy over all micro-batches divided by
    the step's real target tokens D (as Mesh TF sums token losses over micro-batches before dividing
    by one denominator: docs/train.md), not the mean of micro-batch means: micro-batch m's token-mean
    loss is weighted by its tokens n_m, (loss_m · n_m / D) · world_size before backward (DDP/FSDP
    average over ranks). `dropout_seed=(run seed, step)` draws dropout from `micro_batch_seed`.
    """
    wrapped.train()
    owned = plan.owned(ctx.rank)
    batches: list[_Batch] = [stream.next_batch() for _ in range(plan.grad_accum)]
    targets = max(1, sum(int((b.labels != -100).sum()) for b in batches))  # D, the same on every rank
    loss_sum = 0.0
    for m in owned:
        batch = batches[m]
        weight = int((batch.labels != -100).sum()) / targets
        rng = micro_batch_rng(*dropout_seed, m, ctx.device) if dropout_seed else contextlib.nullcontext()
        with grad_sync(wrapped, sync=m == owned[-1]):
            with rng:
                loss = torch.nan_to_num(wrapped(*(t.to(ctx.device) for t in _tensors(batch))))  # 0/0: no targets
            (loss * weight * plan.world_size).backward()
        loss_sum += float(loss.detach()) * weight
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return all_reduce_sum(loss_sum, ctx), sum(b.n_tokens for b in batches)


def optimizer_for(optimizer: torch.optim.Optimizer, wrapped: nn.Module, fsdp: bool) -> torch.optim.Optimizer:
    """The optimizer to step `wrapped` with: the same one for DDP, or for FSDP a `GatheredOptimizer`.

    FSDP replaces the parameters by sharded ones, so the optimizer built on the plain model is
    rebuilt on them, keeping its class, hyper-parameters and (already loaded) state. Drop the old
    optimizer afterwards: it still references the whole (unsharded) parameters.
    """
    if not fsdp:
        return optimizer
    from t5eval.distributed.optim import GatheredOptimizer

    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    gathered = GatheredOptimizer(wrapped.parameters(), type(optimizer), **group)
    gathered.load_state_dict(optimizer.state_dict())
    return gathered
