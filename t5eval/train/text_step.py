"""T5's text-to-text training step (spec §8: Adafactor at a constant 1e-3, dropout 0.1, teacher forcing),
the one `finetune` (`t5eval.train.loop`) runs for text-to-text runs; `train.head_step` is the task-head one.

`TextToTextStep` selects the trained parameters (--transfer), builds the optimizer and a `ParallelTrainer`
(one process, DDP or FSDP2 on the same global batch).

Optimizer note (PITFALLS #9): `torch.optim.Adafactor(lr=1e-3)` matches Mesh TF's Adafactor except that
torch factors every ≥2-D tensor, clamps at eps² instead of adding 1e-30, and starts with fresh state
(t = 1) because HF checkpoints carry no optimizer slots. `optimizer_record` states this in the results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch

from t5eval.batching import forward_precision
from t5eval.distributed.context import DistContext
from t5eval.distributed.parallel import BatchPlan, optimizer_for, plan_batches, train_step, wrap_model
from t5eval.train.checkpoint import save_one_file, save_sharded
from t5eval.train.stream import TrainStream
from t5eval.train.transfer import Transfer, apply_text_transfer


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning settings; defaults are the paper's where it has one (spec §8)."""

    steps: int = 1000
    eval_every: int = 200
    batch_tokens: int = 8192
    grad_accum: int = 1
    lr: float = 1e-3  # constant_0_001.gin
    dropout: float = 0.1
    seed: int = 0
    dtype: str = "float32"  # forward passes; "bfloat16" autocasts them, weights and optimizer stay fp32
    fsdp: bool = False  # under torchrun: shard the model in place with FSDP2 instead of DDP (docs/distributed.md)
    pack_length: int | None = None  # packed rows of this many input/target tokens (T5: 512); None: padded buckets
    transfer: str = "all"  # all | frozen | adapters:D | gradual-unfreezing (T5 text-to-text: t5eval.train.transfer)


@dataclass
class Snapshot:
    """The weights under validation, as `finetune` hands them to the runner's callbacks.

    One process and DDP: left empty (the callbacks hash, decode and save the model itself). FSDP:
    the model's parameters are whole only while a validation runs, and its `state_dict()` gives
    shards, so for the duration of each validation `finetune` sets the sha256 of the whole weights
    (every rank) and a plain CPU copy of them (rank 0, to save as best weights); None otherwise.
    """

    sha256: str | None = None
    plain: torch.nn.Module | None = None


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """torch's Adafactor with T5's constant fine-tuning LR (other settings: torch defaults)."""
    return torch.optim.Adafactor(model.parameters(), lr=lr)


def optimizer_record(cfg: TrainConfig, resumed_from_pretraining_state: bool = False) -> dict[str, Any]:
    """What the results record about the optimizer and its state (PITFALLS #9)."""
    return {
        "name": "torch.optim.Adafactor",
        "lr": cfg.lr,
        "schedule": "constant",
        "beta2_decay": -0.8,
        "eps": [None, 1e-3],
        "initial_state": "pretraining slots" if resumed_from_pretraining_state else "fresh (t=1, empty)",
        "differences_from_mesh_tf": [
            "factors every >=2-D tensor (Mesh TF keeps relative_attention_bias unfactored)",
            "clamps the second-moment estimate at eps^2 instead of adding 1e-30",
            "fresh optimizer state instead of the pre-training step and accumulators",
        ],
    }


class PrecisionLoss(torch.nn.Module):
    """Wraps a T5 so that `loss` runs its forward pass under `forward_precision(device, dtype)`.

    Only the forward pass is autocast (backward follows the dtypes autocast chose; the optimizer
    step runs outside, on the fp32 master weights). `model.loss` takes cross-entropy on fp32 logits.
    """

    def __init__(self, model: torch.nn.Module, dtype: str) -> None:
        super().__init__()
        self.inner = model
        self.dtype = dtype

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
             packing: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        """(B, S), (B, S), (B, T) -> scalar token-mean loss, forward in `self.dtype` (packed: `T5.loss`)."""
        device = next(self.inner.parameters()).device
        with forward_precision(device, self.dtype):
            return cast(Any, self.inner).loss(input_ids, attention_mask, labels, packing)


@dataclass(frozen=True)
class TextToTextStep:
    """T5's text-to-text step: Adafactor at a constant lr over a `TrainStream`, one process, DDP or FSDP."""

    cfg: TrainConfig

    @property
    def steps(self) -> int:
        return self.cfg.steps

    @property
    def eval_every(self) -> int:
        return self.cfg.eval_every

    @property
    def seed(self) -> int:
        return self.cfg.seed

    @property
    def dropout(self) -> float:
        return self.cfg.dropout

    @property
    def keeps_final(self) -> bool:
        return False

    def select_parameters(self, model: Any) -> tuple[Callable[[int, int], None] | None, dict[str, Any]]:
        return apply_text_transfer(model, Transfer.parse(self.cfg.transfer), self.cfg.seed, self.cfg.steps)

    def optimizer(self, model: torch.nn.Module, every: bool) -> torch.optim.Optimizer:
        return make_optimizer(model, self.cfg.lr)

    def trainer(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: Any,
                dist: DistContext) -> ParallelTrainer:
        return parallel_trainer(model, optimizer, stream, self.cfg, dist)


@dataclass
class ParallelTrainer:
    """How `finetune` trains a text-to-text model: one code path for one process, DDP and FSDP."""

    model: torch.nn.Module  # the caller's model; sharded in place under FSDP
    wrapped: torch.nn.Module  # `wrap_model`'s loss module (DDP/FSDP root)
    optimizer: torch.optim.Optimizer  # what steps: the Adafactor, or under FSDP a GatheredOptimizer
    stream: TrainStream
    plan: BatchPlan
    cfg: TrainConfig
    dist: DistContext
    fsdp: bool

    def step(self, step: int) -> tuple[float, int]:
        """Optimizer step `step` (1-based) of the global batch -> (mean loss, tokens)."""
        return train_step(self.wrapped, self.optimizer, self.stream, self.plan, self.dist, (self.cfg.seed, step))

    def save(self, path: Path, state: dict[str, Any], dist: DistContext) -> None:
        """Checkpoint (all ranks call): sharded under FSDP, else rank 0's one file."""
        save = save_sharded if self.fsdp else save_one_file
        save(path, self.wrapped if self.fsdp else self.model, self.optimizer, self.stream, state, dist)

    @contextmanager
    def whole_weights(self, snapshot: Snapshot | None) -> Iterator[None]:
        """FSDP: whole weights (and `snapshot`) for one validation, collectively; else nothing to do."""
        if not self.fsdp:
            yield
            return
        from t5eval.train.fsdp import whole_weights

        snap = snapshot if snapshot is not None else Snapshot()
        with whole_weights(self.wrapped, self.model, self.dist) as (snap.sha256, snap.plain):
            try:
                yield
            finally:
                snap.sha256, snap.plain = None, None


def parallel_trainer(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: TrainStream, cfg: TrainConfig,
    dist: DistContext,
) -> ParallelTrainer:
    """Wrap `model` for this run: as is in one process, DDP, or FSDP2 sharded in place (`cfg.fsdp`).

    Each micro-batch draws its dropout masks from `micro_batch_seed(seed, step, m)` (dist_train), so
    a plain run and runs on any number of ranks agree to float rounding. DDP keeps the parameter
    objects, so `optimizer` stays valid. FSDP replaces them by shards (no copy of the model is
    kept), and the returned optimizer is a `GatheredOptimizer` carrying `optimizer`'s state.
    """
    if not dist.is_distributed:  # one process: train where the model is (`--device`)
        dist = replace(dist, device=next(model.parameters()).device)
    fsdp = cfg.fsdp and dist.is_distributed
    net = model if cfg.dtype == "float32" else PrecisionLoss(model, cfg.dtype)
    plan = plan_batches(cfg.grad_accum, dist.world_size)
    wrapped = wrap_model(net, dist, fsdp=fsdp)
    stepper = optimizer_for(optimizer, wrapped, fsdp)  # FSDP: Adafactor on gathered whole tensors
    return ParallelTrainer(model, wrapped, stepper, stream, plan, cfg, dist, fsdp)
