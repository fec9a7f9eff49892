"""The one fine-tuning skeleton (`finetune`), and T5's text-to-text step (spec §8: Adafactor at a constant
1e-3, dropout 0.1, teacher forcing).

`finetune` runs a family's `TrainingStep` (`TextToTextStep` here, `train.head_step.HeadStep` for task
heads): it selects the trained parameters (--transfer), builds the optimizer and trainer, validates
every `eval_every` steps and keeps, per task, the step with the best mean over the task's metric group
(T5's `metric_group_max`, NaN worse than any number: `t5eval.train.best`; BERT's official recipe keeps
the last step instead). After each validation it saves a checkpoint (model + optimizer + stream + RNG +
step + history) atomically, then hands a new best step to `on_best` (which swaps the task's best/ folder
in), so a run killed at any point resumes from the last checkpoint with the same batches and RNG (one
file, or sharded under FSDP: `t5eval.train.checkpoint`), and a kill between the checkpoint and best/ is
repaired on resume by writing that best/ again from the restored weights. Ctrl-C finishes the step and
checkpoints first.

Optimizer note (PITFALLS #9): `torch.optim.Adafactor(lr=1e-3)` matches Mesh TF's Adafactor except that
torch factors every ≥2-D tensor, clamps at eps² instead of adding 1e-30, and starts with fresh state
(t = 1) because HF checkpoints carry no optimizer slots. `optimizer_record` states this in the results.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, cast

import torch

from t5eval.batching import forward_precision
from t5eval.distributed.context import DistContext
from t5eval.distributed.parallel import BatchPlan, optimizer_for, plan_batches, train_step, wrap_model
from t5eval.train.best import group_score, select_best
from t5eval.train.checkpoint import (
    ONE_FILE,
    SHARDED,
    Resumable,
    load_one_file,
    load_sharded,
    resume_kind,
    save_one_file,
    save_sharded,
)
from t5eval.train.stream import TrainStream
from t5eval.train.transfer import Transfer, apply_text_transfer, trainable_count

Metrics = dict[str, float]
EvaluateFn = Callable[[int], dict[str, Metrics]]  # step -> {task: metrics}
OnBestFn = Callable[[str, int], None]  # (task, step): save that task's best weights


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
class TrainState:
    """Run state of one fine-tuning (saved in every checkpoint)."""

    step: int = 0
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # task -> [{step, metrics}]
    best: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> {step, score, metrics}
    train_tokens: int = 0
    train_seconds: float = 0.0
    last_loss: float | None = None
    resumed_from: list[int] = field(default_factory=list)  # steps this run was restarted from
    transfer: dict[str, Any] = field(default_factory=dict)  # what --transfer trained (apply_text_transfer's record)
    trainable_parameters: int = 0  # at the first step (gradual unfreezing: grows episode by episode)
    trainable_parameters_last: int = 0  # at the latest step

    @property
    def tokens_per_s(self) -> float:
        """Training tokens (real input + target tokens) per second of training."""
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else 0.0


ProgressFn = Callable[[TrainState], None]  # called before the first step and after every step


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


def set_dropout(model: torch.nn.Module, rate: float) -> None:
    """Set every dropout's rate (T5 fine-tunes with 0.1, v1.1 included: spec §8): each `nn.Dropout`, and the
    attention-probability dropout a fused attention keeps as a float `attn_dropout_p` (BERT's)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = rate
        if hasattr(module, "attn_dropout_p"):
            cast(Any, module).attn_dropout_p = rate


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


@contextmanager
def defer_sigint() -> Iterator[list[bool]]:
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


def _validate(state: TrainState, evaluate: EvaluateFn, final_step: int | None = None) -> list[str]:
    """Validate at `state.step`, record history, and keep each task's best step (`select_best`: metric_group_max,
    NaN worse than any number, ties keep the earlier step; with `final_step`, BERT's official recipe, that step
    whatever its score). Returns the tasks whose kept step is now this step."""
    results = evaluate(state.step)
    improved = []
    for task, metrics in results.items():
        entry = {"step": state.step, "metrics": metrics, "train_loss": state.last_loss}
        history = state.history.setdefault(task, [])
        history.append(entry)
        chosen: dict[str, Any] = entry if final_step is not None else history[cast(int, select_best(history))]
        if final_step is not None and state.step != final_step:
            continue
        if chosen["step"] == state.step and (state.best.get(task) or {}).get("step") != state.step:
            state.best[task] = {"step": chosen["step"], "score": group_score(chosen["metrics"]),
                                "metrics": chosen["metrics"]}
            improved.append(task)
    return improved


class Trainer(Protocol):
    """What `finetune` steps and checkpoints (`ParallelTrainer` for text-to-text, `HeadTrainer` for heads)."""

    model: torch.nn.Module  # the caller's model (sharded in place under FSDP)
    optimizer: torch.optim.Optimizer

    @property
    def wrapped(self) -> torch.nn.Module: ...

    def step(self, step: int) -> tuple[float, int]: ...

    def save(self, path: Path, state: dict[str, Any], dist: DistContext) -> None: ...

    def whole_weights(self, snapshot: Snapshot | None) -> AbstractContextManager[None]: ...


class TrainingStep(Protocol):
    """The per-family step `finetune` runs: its length, what trains, the optimizer and the trainer."""

    @property
    def steps(self) -> int: ...

    @property
    def eval_every(self) -> int: ...

    @property
    def seed(self) -> int: ...

    @property
    def dropout(self) -> float: ...

    @property
    def keeps_final(self) -> bool: ...  # True: the last step's weights are kept, not the best validated ones

    def select_parameters(self, model: Any) -> tuple[Callable[[int, int], None] | None, dict[str, Any]]: ...

    def optimizer(self, model: torch.nn.Module, every: bool) -> torch.optim.Optimizer: ...

    def trainer(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: Any,
                dist: DistContext) -> Trainer: ...


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
                dist: DistContext) -> Trainer:
        return parallel_trainer(model, optimizer, stream, self.cfg, dist)


def finetune(
    model: torch.nn.Module,
    stream: Resumable,
    plan: TrainingStep | TrainConfig,
    checkpoint_path: Path,
    evaluate: EvaluateFn,
    on_best: OnBestFn,
    progress: ProgressFn | None = None,
    dist: DistContext | None = None,
    snapshot: Snapshot | None = None,
) -> TrainState:
    """Fine-tune `model` for `plan.steps` steps, resuming from `checkpoint_path` when it exists.

    `plan` is the family's step (`TextToTextStep`, which a `TrainConfig` stands for, or
    `train.head_step.HeadStep`). Validates (and checkpoints) every `plan.eval_every` steps and at the
    last step. Ctrl-C during a step finishes that step, saves a checkpoint, then raises
    `KeyboardInterrupt` (resuming runs that step's validation first if it was due). Under torchrun
    (`dist`) a text-to-text model trains with DDP on the same global batch (docs/distributed.md) and
    rank 0 writes the one-file checkpoint; with `cfg.fsdp`, FSDP2 shards `model` in place, each
    validation sees the whole weights through `snapshot`, and checkpoints are sharded
    (`t5eval.train.checkpoint`; either kind resumes the other). Dropout masks come from a seed per
    micro-batch in one process too, so a plain run and a torchrun run of the same command agree.
    """
    step_plan: TrainingStep = TextToTextStep(plan) if isinstance(plan, TrainConfig) else plan
    dist = dist or DistContext()
    # --transfer before the optimizer and any resume (adapters, an untied head are parameters of the checkpoint)
    unfreeze, transfer = step_plan.select_parameters(model)
    set_dropout(model, step_plan.dropout)
    trainer, saved = _start(model, stream, step_plan, checkpoint_path, dist, every=unfreeze is not None)
    state = TrainState(**saved) if saved is not None else TrainState()
    if saved is not None:
        state.resumed_from.append(state.step)
    if state.step == 0:
        state.transfer, state.trainable_parameters = transfer, trainable_count(model)
    if progress:
        progress(state)

    def validate_and_save() -> None:
        with trainer.whole_weights(snapshot):  # FSDP: unsharded while validating; else nothing
            improved = _validate(state, evaluate, step_plan.steps if step_plan.keeps_final else None)
        trainer.save(checkpoint_path, asdict(state), dist)  # records the best step before best/ is written
        _save_best(improved)

    def _save_best(tasks: list[str]) -> None:
        if tasks:
            with trainer.whole_weights(snapshot):
                for task in tasks:
                    on_best(task, state.step)

    if saved is not None:  # a kill between a checkpoint and its best/ swap: write that best/ again
        _save_best([task for task, best in state.best.items() if best["step"] == state.step])
    if saved is not None and _validation_due(state.step, step_plan) and not _validated(state):
        validate_and_save()  # Ctrl-C came during a validation step's update, before its validation
    while state.step < step_plan.steps:
        _one_step(state, trainer, unfreeze, step_plan.steps, checkpoint_path, dist)
        if progress:
            progress(state)
        if _validation_due(state.step, step_plan):
            validate_and_save()
    return state


def _start(model: torch.nn.Module, stream: Resumable, plan: TrainingStep, checkpoint_path: Path, dist: DistContext,
           every: bool) -> tuple[Trainer, dict[str, Any] | None]:
    """The trainer, and the run state of the checkpoint it resumed from (None: a fresh start)."""
    optimizer = plan.optimizer(model, every)
    kind = resume_kind(checkpoint_path)
    saved = load_one_file(checkpoint_path, model, optimizer, stream) if kind == ONE_FILE else None
    if kind is None:
        torch.manual_seed(plan.seed)
    trainer = plan.trainer(model, optimizer, stream, dist)
    del optimizer  # under FSDP it still references the whole parameters, which the model gave up
    if kind == SHARDED:  # DCP reshards onto FSDP, DDP or one process
        saved = load_sharded(checkpoint_path, trainer.wrapped, trainer.optimizer, stream, dist)
    return trainer, saved


def _one_step(state: TrainState, trainer: Trainer, unfreeze: Callable[[int, int], None] | None, steps: int,
              checkpoint_path: Path, dist: DistContext) -> None:
    """One optimizer step with Ctrl-C held until it ends; on Ctrl-C: checkpoint, then `KeyboardInterrupt`."""
    with defer_sigint() as interrupted:
        if unfreeze is not None:  # gradual unfreezing: this step's episode (a function of the step alone)
            unfreeze(state.step, steps)
        start = time.perf_counter()
        loss, tokens = trainer.step(state.step + 1)
        state.train_seconds += time.perf_counter() - start
        state.train_tokens += tokens
        state.step += 1
        state.last_loss = loss
        state.trainable_parameters_last = trainable_count(trainer.model)
    if interrupted:  # Ctrl-C during the step: keep it, save, then stop
        trainer.save(checkpoint_path, asdict(state), dist)
        raise KeyboardInterrupt


def _validation_due(step: int, plan: TrainingStep) -> bool:
    """Validation (and checkpoint) steps: every `eval_every` steps and the last one."""
    return step % plan.eval_every == 0 or step == plan.steps


def _validated(state: TrainState) -> bool:
    """Whether the history already holds a validation at `state.step`."""
    return any(entry["step"] == state.step for entries in state.history.values() for entry in entries)


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
