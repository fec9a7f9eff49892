"""BERT's fine-tuning optimizer, learning-rate schedule and gradient clipping (google-research/bert
`optimization.py`, used by `run_classifier.py`), and the older torch recipe kept as a named option.

`--bert-recipe official` (the default for task-head runs):
    schedule   lr(step) = init_lr * step / warmup            while step < warmup
               lr(step) = init_lr * (1 - min(step, total) / total)   afterwards
               (`tf.train.polynomial_decay` over ALL steps, power 1, end 0, then the warm-up overrides the
               first `warmup` steps; `step` is the global step before the update, so the first update uses
               lr 0 when there is a warm-up, as the official code does)
    optimizer  `AdamWeightDecayOptimizer`: Adam moments (beta1 0.9, beta2 0.999) WITHOUT bias correction,
               update = m / (sqrt(v) + eps) + weight_decay * param (decay decoupled from the moments, not on
               parameters whose name matches "LayerNorm", "layer_norm" or "bias": here biases and norms),
               param -= lr * update; eps 1e-6, weight decay 0.01
    clipping   `tf.clip_by_global_norm(grads, 1.0)`: every gradient times 1.0 / max(global norm, 1.0)
    selection  the model after the final epoch (run_classifier.py evaluates the last checkpoint)
`--bert-recipe torch` (t5eval's earlier recipe): `torch.optim.AdamW` (bias-corrected), linear warm-up then
    linear decay over the post-warm-up steps only, no clipping, the best epoch on validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

RECIPES = ("official", "torch")
CLIP_NORM = 1.0  # optimization.py: tf.clip_by_global_norm(grads, clip_norm=1.0)


def official_lr_factor(step: int, total: int, warmup_steps: int) -> float:
    """BERT's learning rate at global step `step` (0-based, before the update) as a share of init_lr."""
    if warmup_steps and step < warmup_steps:
        return step / warmup_steps
    return 1.0 - min(step, total) / total


def torch_lr_factor(step: int, total: int, warmup_steps: int) -> float:
    """The torch recipe: s/w during warm-up, then (total - s) / (total - w), never below 0."""
    if step < warmup_steps:
        return step / max(warmup_steps, 1)
    return max(0.0, (total - step) / max(total - warmup_steps, 1))


def warmup_steps_of(total: int, warmup: float) -> int:
    """run_classifier.py: num_warmup_steps = int(num_train_steps * warmup_proportion)."""
    return int(total * warmup)


def decay_excluded(name: str) -> bool:
    """No weight decay on biases and layer norms (BERT's exclude list: "LayerNorm", "layer_norm", "bias";
    t5eval names its norms `...norm...`: BERT's LayerNorms, T5's RMS norms, an adapter's norm)."""
    return "bias" in name or "norm" in name.lower()


class AdamWeightDecay(torch.optim.Optimizer):
    """BERT's AdamWeightDecayOptimizer: Adam without bias correction plus decoupled weight decay.

    Per parameter p with gradient g (parameters without a gradient are skipped, as the official code):
        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        p = p - lr * (m / (sqrt(v) + eps) + weight_decay * p)
    """

    def __init__(self, params: Iterable[Any], lr: float, weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6) -> None:
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["m"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["v"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                m, v, grad = state["m"], state["v"], param.grad
                m.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                update = m / (v.sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(param, alpha=group["weight_decay"])
                param.sub_(update, alpha=group["lr"])
        return None


def clip_by_global_norm(params: Iterable[torch.nn.Parameter], clip_norm: float = CLIP_NORM) -> float:
    """tf.clip_by_global_norm: scale every gradient by clip_norm / max(global_norm, clip_norm); returns the
    global norm before clipping (parameters without a gradient are left out, as TF skips None)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
    if math.isfinite(norm) and norm > clip_norm:
        for grad in grads:
            grad.mul_(clip_norm / norm)
    return norm


def torch_decay_excluded(name: str) -> bool:
    """The torch recipe's rule (unchanged): names ending in "bias" or containing "norm"."""
    return name.endswith("bias") or "norm" in name


def param_groups(model: torch.nn.Module, weight_decay: float, every: bool = False,
                 excluded: Callable[[str], bool] = decay_excluded) -> list[dict[str, Any]]:
    """Trainable parameters (`every`: all, for schedules that unfreeze later), split into decayed (matrices)
    and not decayed (biases, norms), as BERT's AdamWeightDecay."""
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad or every:
            (plain if excluded(name) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


@dataclass
class HeadStepper:
    """One optimizer step of a task-head run: clip (official), update, advance the schedule."""

    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    clip_norm: float | None

    def step(self) -> None:
        if self.clip_norm is not None:
            clip_by_global_norm((p for g in self.optimizer.param_groups for p in g["params"]), self.clip_norm)
        self.optimizer.step()
        self.schedule.step()


def head_stepper(model: torch.nn.Module, recipe: str, lr: float, weight_decay: float, eps: float, total: int,
                 warmup: float, every: bool = False) -> HeadStepper:
    """The optimizer, schedule and clipping of `recipe` (official | torch) over `total` steps."""
    steps_up = warmup_steps_of(total, warmup)
    if recipe == "official":
        optimizer: torch.optim.Optimizer = AdamWeightDecay(param_groups(model, weight_decay, every), lr=lr, eps=eps)

        def factor(step: int) -> float:
            return official_lr_factor(step, total, steps_up)

        return HeadStepper(optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor), CLIP_NORM)
    groups = param_groups(model, weight_decay, every, torch_decay_excluded)
    optimizer = torch.optim.AdamW(groups, lr=lr, eps=eps)  # skips params without a grad

    def torch_factor(step: int) -> float:
        return torch_lr_factor(step, total, steps_up)

    return HeadStepper(optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, torch_factor), None)


RECORD: dict[str, dict[str, Any]] = {
    "official": {"optimizer": "AdamWeightDecay as BERT's optimization.py (no bias correction; betas 0.9, 0.999)",
                 "schedule": "linear warm-up to lr, then lr * (1 - step/total) over all steps (polynomial decay, power 1)",
                 "clip_global_norm": CLIP_NORM, "selection": "the model after the final epoch (as run_classifier.py)",
                 "source": "google-research/bert run_classifier.py, optimization.py; Devlin et al. 2019 §4, A.3"},
    "torch": {"optimizer": "torch.optim.AdamW (betas 0.9, 0.999)",
              "schedule": "linear warm-up, then linear decay to 0 over the post-warm-up steps",
              "clip_global_norm": None, "selection": "best epoch by the mean of the task's metrics (ties keep the earlier)",
              "source": "BERT (Devlin et al. 2019) §4, A.3; run_classifier.py (weight decay 0.01, eps 1e-6)"},
}
