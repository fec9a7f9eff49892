"""Fine-tuning a task head the BERT way: fixed epochs, batch 32, BERT's optimizer and schedule.

`HeadRecipe` holds BERT's recipe (Devlin et al. 2019 §4 and A.3: batch 32, 3 epochs, lr among
{5e-5, 4e-5, 3e-5, 2e-5}; warm-up over the first 10% of steps, dropout 0.1, weight decay 0.01 and
Adam eps 1e-6 as in BERT's `run_classifier.py`); every field is overridable from the CLI. The optimizer,
schedule, clipping and which epoch is kept follow `bert_recipe` (`t5eval.train.bert_optim`): `official`
(BERT's AdamWeightDecay, decay over all steps, clipping at 1.0, the model after the final epoch) or
`torch` (AdamW, decay after warm-up, no clipping, the best epoch: mean of the task's metrics, ties keep the
earlier). Validation runs after each epoch through a callback (the run layer scores it) either way.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from t5eval.errors import T5evalError, did_you_mean
from t5eval.model.heads import HeadModel
from t5eval.train.bert_optim import RECIPES, RECORD, head_stepper
from t5eval.train.best import group_score, select_best
from t5eval.train.transfer import Transfer, apply_transfer, trainable_count


@dataclass(frozen=True)
class HeadRecipe:
    """BERT's fine-tuning recipe (defaults) for encoder-only models and task heads."""

    lr: float = 2e-5
    epochs: int = 3
    batch_size: int = 32
    warmup: float = 0.1  # share of the steps with a linear warm-up from 0
    max_len: int = 128  # [CLS] A [SEP] B [SEP] cut longest-first to this many tokens (train and eval)
    dropout: float = 0.1
    weight_decay: float = 0.01  # not on biases and LayerNorm weights
    adam_eps: float = 1e-6
    transfer: str = "all"  # all | frozen | adapters:D | adapters-houlsby:D | gradual-unfreezing (t5eval.train.transfer)
    train_limit: int | None = None  # first N training examples only (quick CPU checks; None: all, as BERT)
    bert_recipe: str = "official"  # official | torch: optimizer, schedule, clipping, kept epoch (train.bert_optim)
    lr_grid: tuple[float, ...] | None = None  # --lr-grid: one fine-tuning per lr, the best on dev kept (run.lr_grid)

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.max_len < 3:
            raise T5evalError("--lr must be > 0, --epochs and --batch-size at least 1, --max-len at least 3")
        if self.train_limit is not None and self.train_limit < 1:
            raise T5evalError(f"--train-limit must be at least 1, got {self.train_limit}")
        Transfer.parse(self.transfer)
        if self.lr_grid is not None and (not self.lr_grid or min(self.lr_grid) <= 0
                                         or len(set(self.lr_grid)) < len(self.lr_grid)):
            raise T5evalError(f"--lr-grid {','.join(map(str, self.lr_grid))}: give distinct learning rates > 0, "
                              "e.g. --lr-grid 5e-5,4e-5,3e-5,2e-5 (BERT's grid)")
        if self.bert_recipe not in RECIPES:
            raise T5evalError(f"--bert-recipe {self.bert_recipe!r} is not one of {', '.join(RECIPES)}"
                              f"{did_you_mean(self.bert_recipe, RECIPES)}")
        if not 0 <= self.warmup < 1 or not 0 <= self.dropout < 1:
            raise T5evalError(f"--warmup {self.warmup} and --dropout {self.dropout} must be in [0, 1)")

    def record(self) -> dict[str, Any]:
        """The recipe as run.json stores it (with the optimizer and schedule spelled out)."""
        return asdict(self) | RECORD[self.bert_recipe]


@dataclass
class HeadTraining:
    """What fine-tuning did: steps, time, per-epoch validation, and the best epoch's weights."""

    steps: int = 0
    train_tokens: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    trainable_parameters: int = 0  # at the first step (gradual unfreezing: grows to all by the last episode)
    trainable_parameters_last: int = 0


@dataclass(frozen=True)
class HeadProgress:
    """What the progress display reads after each step (the fields `run.progress.TrainReporter` uses)."""

    step: int
    train_tokens: int
    train_seconds: float
    last_loss: float | None


BatchLoss = Callable[[torch.nn.Module, list[int], bool], tuple[torch.Tensor, int]]


def finetune_head(model: HeadModel, n_items: int, batch_loss: BatchLoss, recipe: HeadRecipe, seed: int,
                  validate: Callable[[int], dict[str, float]], progress: Callable[[HeadProgress], None] | None = None,
                  ) -> HeadTraining:
    """Train `model` for recipe.epochs over n_items (shuffled per epoch); validate after each epoch.

    `batch_loss(model, item indices, train)` -> (loss, tokens in the batch).
    """
    steps_per_epoch = math.ceil(n_items / recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    unfreeze = apply_transfer(model, Transfer.parse(recipe.transfer), seed)  # frozen parts get no gradient
    stepper = head_stepper(model, recipe.bert_recipe, recipe.lr, recipe.weight_decay, recipe.adam_eps, total,
                           recipe.warmup, every=unfreeze is not None)  # --bert-recipe (t5eval.train.bert_optim)
    gen = torch.Generator().manual_seed(seed)
    state = HeadTraining(trainable_parameters=trainable_count(model))
    torch.manual_seed(seed)  # dropout masks
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        order = torch.randperm(n_items, generator=gen).tolist()
        start, losses = time.perf_counter(), []
        for first in range(0, n_items, recipe.batch_size):
            if unfreeze is not None:
                unfreeze(state.steps, total)
            loss, tokens = batch_loss(model, order[first:first + recipe.batch_size], True)
            stepper.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            stepper.step()  # official: clip the global gradient norm at 1.0 first
            state.steps += 1
            state.train_tokens += tokens
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(HeadProgress(state.steps, state.train_tokens,
                                      state.train_seconds + time.perf_counter() - start, losses[-1]))
        state.train_seconds += time.perf_counter() - start
        state.trainable_parameters_last = trainable_count(model)
        metrics = validate(state.steps)
        entry = {"step": state.steps, "epoch": epoch, "metrics": metrics, "train_loss": sum(losses) / len(losses)}
        state.history.append(entry)
        keep_final = recipe.bert_recipe == "official"  # BERT keeps the model after the last epoch, not the best
        # else the best epoch (`select_best`: NaN worse than any number; ties keep the earlier)
        if (epoch == recipe.epochs) if keep_final else select_best(state.history) == len(state.history) - 1:
            state.best = {"step": state.steps, "epoch": epoch, "score": group_score(metrics)}
            state.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    model.eval()
    return state


def head_loss(outputs: torch.Tensor, gold: list[int | float], kind: str) -> torch.Tensor:
    """Cross-entropy over classes (or over choices: outputs (B, C)); MSE for regression (outputs (B, 1))."""
    if kind == "regress":
        return F.mse_loss(outputs[:, 0].float(), torch.tensor(gold, dtype=torch.float32, device=outputs.device))
    return F.cross_entropy(outputs.float(), torch.tensor(gold, dtype=torch.long, device=outputs.device))


def copy_model(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy (each task starts from the same pre-trained weights)."""
    return copy.deepcopy(model)
