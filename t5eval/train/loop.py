"""The one fine-tuning skeleton: `finetune` runs a family's `TrainingStep` (`train.text_step.TextToTextStep`
for text-to-text T5, `train.head_step.HeadStep` for task heads).

It selects the trained parameters (--transfer), builds the optimizer and trainer, validates every
`eval_every` steps and keeps, per task, the step with the best mean over the task's metric group (T5's
`metric_group_max`, NaN worse than any number: `t5eval.train.best`; BERT's official recipe keeps the last
step instead). After each validation it saves a checkpoint (model + optimizer + stream + RNG + step +
history) atomically, then hands a new best step to `on_best` (which swaps the task's best/ folder in), so a
run killed at any point resumes from the last checkpoint with the same batches and RNG (one file, or
sharded under FSDP: `t5eval.train.checkpoint`), and a kill between the checkpoint and best/ is repaired on
resume by writing that best/ again from the restored weights. Ctrl-C finishes the step and checkpoints
first.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import torch

from t5eval.distributed.context import DistContext
from t5eval.train.best import group_score, select_best
from t5eval.train.checkpoint import ONE_FILE, SHARDED, Resumable, load_one_file, load_sharded, resume_kind
from t5eval.train.text_step import Snapshot, TextToTextStep, TrainConfig
from t5eval.train.transfer import trainable_count

Metrics = dict[str, float]
EvaluateFn = Callable[[int], dict[str, Metrics]]  # step -> {task: metrics}
OnBestFn = Callable[[str, int], None]  # (task, step): save that task's best weights


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


def set_dropout(model: torch.nn.Module, rate: float) -> None:
    """Set every dropout's rate (T5 fine-tunes with 0.1, v1.1 included: spec §8): each `nn.Dropout`, and the
    attention-probability dropout a fused attention keeps as a float `attn_dropout_p` (BERT's)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = rate
        if hasattr(module, "attn_dropout_p"):
            cast(Any, module).attn_dropout_p = rate


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


