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
from t5eval.train.loop import TrainConfig, defer_sigint, optimizer_record, set_dropout
from t5eval.train.throughput import mfu

SCHEDULE_K = 10_000
ProgressFn = Callable[[dict[str, float]], None]  # a `loss_history` entry, when it is logged


class StoppedAtStep(KeyboardInterrupt):
    """Ctrl-C during a step: that step finished and its checkpoint was saved."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


@dataclass(frozen=True)
class PretrainConfig:
    """Loop settings (recorded)."""

    steps: int
    seed: int = 0
    dropout: float = 0.1  # paper §3.1.1: 0.1 everywhere; T5 v1.1 pre-trains with 0
    save_every: int = 1000
    log_every: int = 100
    schedule_k: int = SCHEDULE_K
    flops_per_token: float = 0.0  # model FLOPs of one trained token (t5eval.train.throughput); 0: no MFU
    peak_gflops: float = 0.0  # the measured matmul peak MFU is a share of


@dataclass
class PretrainState:
    """Run state saved in every checkpoint."""

    step: int = 0
    train_tokens: int = 0  # non-pad input + target tokens
    train_seconds: float = 0.0
    # {"step", "loss", "tokens_per_s", "mfu", "seconds_per_step"}: means over the steps since the last entry
    loss_history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)
    window: list[float] = field(default_factory=list)  # losses since the last history entry
    last_loss: float | None = None  # the latest step's loss (progress display)


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
                  device: torch.device, progress: ProgressFn | None = None,
                  on_step: Callable[[PretrainState], None] | None = None) -> PretrainState:
    """Train `model` for `cfg.steps` steps, resuming from `checkpoint` when it exists.

    `progress` gets every `log_every`-th step's mean loss and tokens/s; `on_step` the state before the first
    step and after every step (the progress display). Ctrl-C during an iteration finishes it (step, log,
    display), saves a checkpoint, then raises `StoppedAtStep` (a `KeyboardInterrupt`); the same command
    resumes from it.
    """
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
    if on_step:
        on_step(state)
    since = (state.step, state.train_tokens, state.train_seconds)  # the window of the next log entry
    while state.step < cfg.steps:
        with defer_sigint() as interrupted:  # Ctrl-C anywhere in the iteration is handled at its end
            _one_step(wrapped, optimizer, stream, plan, ctx, cfg, state)
            if state.step % cfg.log_every == 0 or state.step == cfg.steps:
                state.loss_history.append(_log_entry(state, cfg, since))
                since = (state.step, state.train_tokens, state.train_seconds)
                state.window = []
                if progress:
                    progress(state.loss_history[-1])
            if on_step:
                on_step(state)
            saved = state.step % cfg.save_every == 0 or state.step == cfg.steps
            if saved:
                save_one_file(checkpoint, model, optimizer, stream, asdict(state), ctx)
        if interrupted:
            if not saved:
                with defer_sigint():
                    save_one_file(checkpoint, model, optimizer, stream, asdict(state), ctx)
            raise StoppedAtStep(state.step)
    return state


def _log_entry(state: PretrainState, cfg: PretrainConfig, since: tuple[int, int, float]) -> dict[str, float]:
    """The mean loss, real tokens/s, MFU and seconds per step over the steps since `since`."""
    steps, tokens, seconds = state.step - since[0], state.train_tokens - since[1], state.train_seconds - since[2]
    tokens_per_s = tokens / max(seconds, 1e-9)
    return {"step": state.step, "loss": sum(state.window) / len(state.window), "tokens_per_s": tokens_per_s,
            "mfu": mfu(cfg.flops_per_token, tokens_per_s, cfg.peak_gflops),
            "seconds_per_step": seconds / max(steps, 1)}


def _one_step(wrapped: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: ExampleStream, plan: Any,
              ctx: DistContext, cfg: PretrainConfig, state: PretrainState) -> None:
    """One optimizer step at the paper's learning rate; updates `state` in place."""
    step = state.step + 1
    for group in optimizer.param_groups:
        group["lr"] = inverse_sqrt_lr(step, cfg.schedule_k)
    start = time.perf_counter()
    loss, tokens = train_step(wrapped, optimizer, stream, plan, ctx, (cfg.seed, step))
    state.train_seconds += time.perf_counter() - start
    state.train_tokens += tokens
    state.step = step
    state.window.append(loss)
    state.last_loss = loss
