"""The task-head training step plugged into `train.loop.finetune`: BERT's AdamW with linear warm-up and decay.

`HeadHyperparameters` holds BERT's fine-tuning settings (Devlin et al. 2019 §4 and A.3: batch 32, 3
epochs, lr among {5e-5, 4e-5, 3e-5, 2e-5}; warm-up over the first 10% of steps, dropout 0.1, weight
decay 0.01 and Adam eps 1e-6 as in BERT's `run_classifier.py`); every field is overridable from the CLI.
`bert_recipe` picks the optimizer, schedule, clipping and kept step (`train.bert_optim`): `official`
(AdamWeightDecay, decay over all steps, clipping at 1.0, the model after the final step) or `torch`
(AdamW, decay after warm-up, no clipping, the best validated step).
`HeadBatches` is the resumable stream of example indices (a fresh seeded permutation per epoch, batches of
`batch_size`), and `HeadStep` the per-family step: the transfer approach as a parameter selection, the
optimizer (`head_optimizer`, the seam where a different optimizer or schedule plugs in) and
`HeadTrainer.step`. Checkpoints, resume, Ctrl-C, validation and the best step are `finetune`'s, as for
text-to-text runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from t5eval.distributed.context import DistContext
from t5eval.distributed.parallel import micro_batch_rng
from t5eval.errors import T5evalError, did_you_mean
from t5eval.train.bert_optim import (
    CLIP_NORM,
    RECIPES,
    RECORD,
    AdamWeightDecay,
    clip_by_global_norm,
    official_lr_factor,
    param_groups,
    torch_decay_excluded,
    torch_lr_factor,
    warmup_steps_of,
)
from t5eval.train.checkpoint import save_one_file
from t5eval.train.transfer import Transfer, apply_transfer

BatchLoss = Callable[[torch.nn.Module, list[int]], tuple[torch.Tensor, int]]  # (model, item indices) -> (loss, tokens)


@dataclass(frozen=True)
class HeadHyperparameters:
    """BERT's fine-tuning settings (defaults) for encoder-only models and task heads."""

    lr: float = 2e-5
    epochs: int = 3  # fine-tuning length when --steps is not given: epochs x ceil(train examples / batch_size)
    batch_size: int = 32
    warmup: float = 0.1  # share of the steps with a linear warm-up from 0
    max_len: int = 128  # [CLS] A [SEP] B [SEP] cut longest-first to this many tokens (train and eval)
    dropout: float = 0.1
    weight_decay: float = 0.01  # not on biases and LayerNorm weights
    adam_eps: float = 1e-6
    train_limit: int | None = None  # first N training examples only (quick CPU checks; None: all, as BERT)
    bert_recipe: str = "official"  # official | torch: optimizer, schedule, clipping, kept step (train.bert_optim)
    lr_grid: tuple[float, ...] | None = None  # --lr-grid: one fine-tuning per lr, the best on dev kept (run.lr_grid)

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.max_len < 3:
            raise T5evalError("--lr must be > 0, --epochs and --batch-size at least 1, --max-len at least 3")
        if self.train_limit is not None and self.train_limit < 1:
            raise T5evalError(f"--train-limit must be at least 1, got {self.train_limit}")
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
        """The settings as run.json stores them (`asdict`), with the optimizer, schedule and selection spelled out."""
        return asdict(self) | RECORD[self.bert_recipe]

    @property
    def keeps_final(self) -> bool:
        """BERT's official recipe keeps the model after the final step (run_classifier.py), not the best one."""
        return self.bert_recipe == "official"


def warmup_linear(total: int, warmup: float, recipe: str = "torch") -> Callable[[int], float]:
    """lr factor at step s (0-based, before the update) of `recipe`'s schedule (`train.bert_optim`)."""
    steps_up = warmup_steps_of(total, warmup)
    rule = official_lr_factor if recipe == "official" else torch_lr_factor
    return lambda step: rule(step, total, steps_up)


def head_optimizer(model: torch.nn.Module, hp: HeadHyperparameters, every: bool) -> torch.optim.Optimizer:
    """The optimizer of `hp.bert_recipe` (the seam for another one): BERT's AdamWeightDecay (official) or
    torch's AdamW, over BERT's decayed / not-decayed groups; the lr is set per step by the trainer."""
    if hp.bert_recipe == "official":
        return AdamWeightDecay(param_groups(model, hp.weight_decay, every), lr=hp.lr, eps=hp.adam_eps)
    groups = param_groups(model, hp.weight_decay, every, torch_decay_excluded)
    return torch.optim.AdamW(groups, lr=hp.lr, eps=hp.adam_eps)


def head_loss(outputs: torch.Tensor, gold: list[int | float], kind: str) -> torch.Tensor:
    """Cross-entropy over classes (or over choices: outputs (B, C)); MSE for regression (outputs (B, 1))."""
    if kind == "regress":
        return F.mse_loss(outputs[:, 0].float(), torch.tensor(gold, dtype=torch.float32, device=outputs.device))
    return F.cross_entropy(outputs.float(), torch.tensor(gold, dtype=torch.long, device=outputs.device))


def steps_for(n_items: int, hp: HeadHyperparameters) -> int:
    """Optimizer steps of `hp.epochs` epochs over `n_items` examples in batches of `hp.batch_size`."""
    return -(-n_items // hp.batch_size) * hp.epochs


class HeadBatches:
    """Endless, seeded, resumable stream of batches of example indices: a fresh permutation per epoch
    (from one torch generator seeded with `seed`), cut into `batch_size` batches (the last one shorter)."""

    def __init__(self, n_items: int, batch_size: int, seed: int) -> None:
        if n_items < 1:
            raise ValueError("HeadBatches needs at least one training example")
        self.n_items, self.batch_size = n_items, batch_size
        self._gen = torch.Generator().manual_seed(seed)
        self._order: list[int] = []
        self._pos = 0

    def next_batch(self) -> list[int]:
        """The next batch's example indices."""
        if self._pos >= len(self._order):
            self._order, self._pos = torch.randperm(self.n_items, generator=self._gen).tolist(), 0
        batch = self._order[self._pos:self._pos + self.batch_size]
        self._pos += len(batch)
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self._gen.get_state(), "order": list(self._order), "pos": self._pos,
                "n_items": self.n_items, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["n_items"], state["batch_size"]) != (self.n_items, self.batch_size):
            raise ValueError("head batch state was saved for other training data or another --batch-size")
        self._gen.set_state(state["generator"])
        self._order, self._pos = list(state["order"]), int(state["pos"])


@dataclass
class HeadTrainer:
    """How `finetune` trains a task head, one process: AdamW, lr = hp.lr x warm-up/decay factor of the step."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    stream: HeadBatches
    batch_loss: BatchLoss
    factor: Callable[[int], float]
    base_lr: float
    seed: int
    clip_norm: float | None  # BERT's official recipe clips the global gradient norm at 1.0

    @property
    def wrapped(self) -> torch.nn.Module:
        return self.model

    def step(self, step: int) -> tuple[float, int]:
        """Optimizer step `step` (1-based) -> (loss, tokens); dropout masks from (seed, step) as text-to-text."""
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.base_lr * self.factor(step - 1)
        device = next(self.model.parameters()).device
        with micro_batch_rng(self.seed, step, 0, device):
            loss, tokens = self.batch_loss(self.model, self.stream.next_batch())
        loss.backward()
        if self.clip_norm is not None:
            clip_by_global_norm((p for g in self.optimizer.param_groups for p in g["params"]), self.clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach()), tokens

    def save(self, path: Path, state: dict[str, Any], dist: DistContext) -> None:
        """The one-file checkpoint (`train.checkpoint`), as a text-to-text run in one process writes it."""
        save_one_file(path, self.model, self.optimizer, self.stream, state, dist)

    @contextmanager
    def whole_weights(self, snapshot: Any) -> Iterator[None]:
        yield  # one process holds the whole model


@dataclass(frozen=True)
class HeadStep:
    """The task-head family's step for `finetune`: what trains, the optimizer, and the trainer."""

    hp: HeadHyperparameters
    steps: int
    eval_every: int
    seed: int
    transfer: str
    batch_loss: BatchLoss

    def select_parameters(self, model: Any) -> tuple[Callable[[int, int], None] | None, dict[str, Any]]:
        """--transfer as a parameter selection (adapters added here, before any checkpoint is loaded)."""
        unfreeze = apply_transfer(model, Transfer.parse(self.transfer), self.seed)
        return unfreeze, {"approach": self.transfer}

    @property
    def dropout(self) -> float:
        return self.hp.dropout

    @property
    def keeps_final(self) -> bool:
        return self.hp.keeps_final

    def optimizer(self, model: torch.nn.Module, every: bool) -> torch.optim.Optimizer:
        return head_optimizer(model, self.hp, every)

    def trainer(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, stream: Any,
                dist: DistContext) -> HeadTrainer:
        if dist.is_distributed:
            raise T5evalError("task heads fine-tune in one process; run without torchrun")
        return HeadTrainer(model, optimizer, stream, self.batch_loss,
                           warmup_linear(self.steps, self.hp.warmup, self.hp.bert_recipe), self.hp.lr, self.seed,
                           CLIP_NORM if self.hp.bert_recipe == "official" else None)
