"""Fine-tuning as in the T5 paper (spec §8): Adafactor at a constant 1e-3, dropout 0.1, teacher forcing.

`finetune` runs optimizer steps over a `TrainStream`, validates every `eval_every` steps and keeps,
per task, the step with the best mean over the task's metric group (T5's `metric_group_max`). After
each validation it saves a checkpoint (model + optimizer + stream + RNG + step + history) atomically,
so a run killed at any point resumes from the last checkpoint with the same batches and RNG.

Optimizer note (PITFALLS #9): `torch.optim.Adafactor(lr=1e-3)` matches Mesh TF's Adafactor except that
torch factors every ≥2-D tensor, clamps at eps² instead of adding 1e-30, and starts with fresh state
(t = 1) because HF checkpoints carry no optimizer slots. `optimizer_record` states this in the results.
"""

from __future__ import annotations

import copy
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import torch

from t5eval.batching import TrainStream, forward_precision
from t5eval.dist_train import optimizer_for, plan_batches, train_step, wrap_model
from t5eval.distributed import DistContext, barrier
from t5eval.io import atomic_torch_save

Metrics = dict[str, float]
EvaluateFn = Callable[[int], dict[str, Metrics]]  # step -> {task: metrics}
OnBestFn = Callable[[str, int], None]  # (task, step): save that task's best weights
ProgressFn = Callable[[int, float], None]  # (steps done, last loss)


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
    fsdp: bool = False  # under torchrun: shard a training copy with FSDP2 instead of DDP (docs/distributed.md)


@dataclass
class TrainState:
    """Run state of one fine-tuning (saved in every checkpoint)."""

    step: int = 0
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # task -> [{step, metrics}]
    best: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> {step, score, metrics}
    train_tokens: int = 0
    train_seconds: float = 0.0
    last_loss: float | None = None
    resumed_from: list[int] = field(default_factory=list)  # steps this run was restarted from

    @property
    def tokens_per_s(self) -> float:
        """Training tokens (real input + target tokens) per second of training."""
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else 0.0


def group_score(metrics: Metrics) -> float:
    """T5's `metric_group_max` criterion: the mean of the task's metric group."""
    return sum(metrics.values()) / len(metrics) if metrics else float("-inf")


def set_dropout(model: torch.nn.Module, rate: float) -> None:
    """Set every dropout layer's rate (T5 fine-tunes with 0.1, v1.1 included: spec §8)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = rate


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

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, S), (B, S), (B, T) -> scalar token-mean loss, forward in `self.dtype`."""
        device = next(self.inner.parameters()).device
        with forward_precision(device, self.dtype):
            return cast(Any, self.inner).loss(input_ids, attention_mask, labels)


@contextmanager
def _defer_sigint() -> Iterator[list[bool]]:
    """Hold Ctrl-C until the block ends (so an optimizer step is never cut in half); yields a flag."""
    caught: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


def _checkpoint(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: TrainStream, state: TrainState
) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "stream": stream.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "state": asdict(state),
    }


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: TrainStream
) -> TrainState:
    """Restore model, optimizer, stream and RNG from `path`; returns the saved `TrainState`."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)  # our own file
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    stream.load_state_dict(ckpt["stream"])
    torch.set_rng_state(ckpt["torch_rng"])
    return TrainState(**ckpt["state"])


def _validate(state: TrainState, evaluate: EvaluateFn, on_best: OnBestFn) -> None:
    """Validate at `state.step`, record history, and keep each task's best step (metric_group_max)."""
    results = evaluate(state.step)
    for task, metrics in results.items():
        entry = {"step": state.step, "metrics": metrics, "train_loss": state.last_loss}
        state.history.setdefault(task, []).append(entry)
        score = group_score(metrics)
        best = state.best.get(task)
        if best is None or score > best["score"]:  # ties keep the earlier step
            on_best(task, state.step)
            state.best[task] = {"step": state.step, "score": score, "metrics": metrics}


def finetune(
    model: torch.nn.Module,
    stream: TrainStream,
    cfg: TrainConfig,
    checkpoint_path: Path,
    evaluate: EvaluateFn,
    on_best: OnBestFn,
    progress: ProgressFn | None = None,
    dist: DistContext | None = None,
) -> TrainState:
    """Fine-tune `model` for `cfg.steps` steps, resuming from `checkpoint_path` when it exists.

    Validates (and checkpoints) every `cfg.eval_every` steps and at the last step. Ctrl-C during a
    step finishes that step, saves a checkpoint, then raises `KeyboardInterrupt`. Under torchrun
    (`dist`) the model trains with DDP (or FSDP2, `cfg.fsdp`) on the same global batch (docs/distributed.md); rank 0
    writes the checkpoint, in the one-process format. Dropout masks come from a seed per micro-batch
    in one process too, so a plain run and a torchrun run of the same command fine-tune identically.
    """
    dist = dist or DistContext()
    set_dropout(model, cfg.dropout)
    optimizer = make_optimizer(model, cfg.lr)
    state = TrainState()
    if checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path, model, optimizer, stream)
        state.resumed_from.append(state.step)
    else:
        torch.manual_seed(cfg.seed)
    step_fn, save, sync = _parallel(model, optimizer, stream, cfg, dist)
    if progress:
        progress(state.step, state.last_loss or 0.0)
    while state.step < cfg.steps:
        with _defer_sigint() as interrupted:
            start = time.perf_counter()
            loss, tokens = step_fn(state.step + 1)
            state.train_seconds += time.perf_counter() - start
            state.train_tokens += tokens
            state.step += 1
            state.last_loss = loss
        if interrupted:  # Ctrl-C during the step: keep it, save, then stop
            sync()
            save(checkpoint_path, state)
            raise KeyboardInterrupt
        if progress:
            progress(state.step, loss)
        if state.step % cfg.eval_every == 0 or state.step == cfg.steps:
            sync()  # FSDP: `model` takes the gathered whole weights; DDP and one process: nothing to do
            _validate(state, evaluate, on_best)  # Ctrl-C here: decodes so far are cached
            save(checkpoint_path, state)
    return state


StepFn = Callable[[int], tuple[float, int]]  # step (1-based) -> (mean loss, tokens)
SaveFn = Callable[[Path, TrainState], None]
SyncFn = Callable[[], None]


def _parallel(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: TrainStream, cfg: TrainConfig,
    dist: DistContext,
) -> tuple[StepFn, SaveFn, SyncFn]:
    """The step, checkpoint and weight-sync functions: one code path for one process and torchrun.

    Each micro-batch draws its dropout masks from `micro_batch_seed(seed, step, m)` (dist_train), so
    a plain run and runs on any number of ranks agree to float rounding. Rank 0 alone saves.
    DDP trains `model` itself. FSDP (`cfg.fsdp`) shards a copy of it and `sync()` (a collective)
    gathers the whole weights back into `model` before each validation and checkpoint, so hashing,
    decoding, best weights and the one-process checkpoint format work on plain tensors as before.
    """
    if not dist.is_distributed:  # one process: train where the model is (`--device`)
        dist = replace(dist, device=next(model.parameters()).device)
    fsdp = cfg.fsdp and dist.is_distributed
    trainee = copy.deepcopy(model) if fsdp else model  # FSDP2 shards in place: keep `model` whole
    net = trainee if cfg.dtype == "float32" else PrecisionLoss(trainee, cfg.dtype)
    plan = plan_batches(cfg.grad_accum, dist.world_size)
    wrapped = wrap_model(net, dist, fsdp=fsdp)  # DDP keeps the parameter objects, so `optimizer` stays valid
    stepper = optimizer_for(optimizer, wrapped, fsdp)  # FSDP: Adafactor on gathered whole tensors

    def save(path: Path, state: TrainState) -> None:  # DDP: every rank holds the same state
        if dist.is_main:
            atomic_torch_save(path, _checkpoint(model, stepper, stream, state))
        barrier(dist)

    def sync() -> None:
        if fsdp:
            _gather_into(model, wrapped, trainee)

    return lambda step: train_step(wrapped, stepper, stream, plan, dist, (cfg.seed, step)), save, sync


def _gather_into(model: torch.nn.Module, wrapped: torch.nn.Module, trainee: torch.nn.Module) -> None:
    """Copy the FSDP-sharded `trainee`'s whole weights into the plain `model` (all ranks must call)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    prefix = next(name for name, m in wrapped.named_modules() if m is trainee) + "."
    full = get_model_state_dict(wrapped, options=StateDictOptions(full_state_dict=True))
    whole = {k.removeprefix(prefix): v for k, v in full.items() if k.startswith(prefix)}
    model.load_state_dict(whole)
