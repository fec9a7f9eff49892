"""The pre-training loop (paper §3.1.2): Adafactor, inverse square root schedule, resumable after `kill -9`.

Learning rate of update n (1-based): 1 / sqrt(max(n, k)), k = 10^4 (0.01 for the first 10^4 steps).
torch's Adafactor takes `lr` as its relative step size ρ and applies min(ρ, 1/sqrt(t)) with t its own
step count, which equals n here, so the min is a no-op and the schedule is exactly the paper's. Other
differences from Mesh TF's Adafactor are the fine-tuning ones (`t5eval.train.loop.optimizer_record`).
Every `save_every` steps and at the end, model + optimizer + stream position + RNG + run state go
to one checkpoint file atomically (`t5eval.train.checkpoint`), so a run killed at any point resumes
from the last save and, with dropout masks seeded per step, trains to the same weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from t5eval.distributed.context import DistContext
from t5eval.distributed.parallel import plan_batches, train_step, wrap_model
from t5eval.pretrain.stream import ExampleStream
from t5eval.train.checkpoint import load_one_file, save_one_file
from t5eval.train.loop import TrainConfig, optimizer_record, set_dropout

SCHEDULE_K = 10_000
ProgressFn = Callable[[int, float, float], None]  # (step, mean loss since last report, tokens/s)


@dataclass(frozen=True)
class PretrainConfig:
    """Loop settings (recorded)."""

    steps: int
    seed: int = 0
    dropout: float = 0.1  # paper §3.1.1: 0.1 everywhere; T5 v1.1 pre-trains with 0
    save_every: int = 1000
    log_every: int = 100
    schedule_k: int = SCHEDULE_K


@dataclass
class PretrainState:
    """Run state saved in every checkpoint."""

    step: int = 0
    train_tokens: int = 0  # non-pad input + target tokens
    train_seconds: float = 0.0
    loss_history: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss"}: window means
    resumed_from: list[int] = field(default_factory=list)
    window: list[float] = field(default_factory=list)  # losses since the last history entry


def inverse_sqrt_lr(step: int, k: int = SCHEDULE_K) -> float:
    """The paper's schedule: 1 / sqrt(max(step, k)) for 1-based update `step`."""
    return 1.0 / math.sqrt(max(step, k))


def make_optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    """torch's Adafactor (defaults: beta2_decay −0.8, eps (None, 1e-3), d = 1); lr set per step."""
    return torch.optim.Adafactor(model.parameters(), lr=inverse_sqrt_lr(1))


def schedule_record(cfg: PretrainConfig) -> dict[str, Any]:
    """What the run record says about the optimizer and the schedule."""
    base = optimizer_record(TrainConfig(lr=inverse_sqrt_lr(1, cfg.schedule_k)))
    return {**base, "lr": None, "schedule": f"inverse_sqrt: 1/sqrt(max(step, {cfg.schedule_k}))",
            "initial_state": "fresh (t=1, empty) unless resumed from this run's checkpoint"}


def pretrain_loop(model: torch.nn.Module, stream: ExampleStream, cfg: PretrainConfig, checkpoint: Path,
                  device: torch.device, progress: ProgressFn | None = None) -> PretrainState:
    """Train `model` for `cfg.steps` steps, resuming from `checkpoint` when it exists."""
    set_dropout(model, cfg.dropout)
    optimizer = make_optimizer(model)
    if checkpoint.is_file():
        state = PretrainState(**load_one_file(checkpoint, model, optimizer, stream))
        state.resumed_from.append(state.step)
    else:
        torch.manual_seed(cfg.seed)
        state = PretrainState()
    ctx = DistContext(device=device)
    wrapped = wrap_model(model, ctx)
    plan = plan_batches(1, 1)
    while state.step < cfg.steps:
        step = state.step + 1
        for group in optimizer.param_groups:
            group["lr"] = inverse_sqrt_lr(step, cfg.schedule_k)
        start = time.perf_counter()
        loss, tokens = train_step(wrapped, optimizer, stream, plan, ctx, (cfg.seed, step))
        state.train_seconds += time.perf_counter() - start
        state.train_tokens += tokens
        state.step = step
        state.window.append(loss)
        if step % cfg.log_every == 0 or step == cfg.steps:
            mean = sum(state.window) / len(state.window)
            state.loss_history.append({"step": step, "loss": mean})
            state.window = []
            if progress:
                progress(step, mean, state.train_tokens / max(state.train_seconds, 1e-9))
        if step % cfg.save_every == 0 or step == cfg.steps:
            save_one_file(checkpoint, model, optimizer, stream, asdict(state), ctx)
    return state
