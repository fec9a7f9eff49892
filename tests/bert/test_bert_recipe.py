"""BERT's fine-tuning recipe as google-research/bert's optimization.py and run_classifier.py define it:
the learning-rate schedule, AdamWeightDecay, global-norm clipping, decay exclusions, the model after the final
epoch, and the classifier's truncated-normal init. Expected values are worked by hand from the official code."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from t5eval.errors import T5evalError
from t5eval.model.heads import HeadModel
from t5eval.train.bert_optim import (
    AdamWeightDecay,
    clip_by_global_norm,
    official_lr_factor,
    param_groups,
    torch_lr_factor,
    warmup_steps_of,
)
from t5eval.train.head_step import HeadBatches, HeadHyperparameters, HeadStep
from t5eval.train.loop import finetune

torch.set_num_threads(1)


def test_schedule_decays_over_all_steps_after_the_warm_up() -> None:
    # SST-2: 67,349 examples, batch 32 -> 2,105 steps an epoch, 3 epochs = 6,315 steps, warm-up int(631.5) = 631
    total = math.ceil(67349 / 32) * 3
    assert (total, warmup_steps_of(total, 0.1)) == (6315, 631)
    # optimization.py: step < 631: init_lr * step / 631; afterwards polynomial_decay = init_lr * (1 - step / 6315)
    assert official_lr_factor(0, 6315, 631) == 0.0
    assert official_lr_factor(315, 6315, 631) == pytest.approx(315 / 631)
    assert official_lr_factor(631, 6315, 631) == pytest.approx(0.900079, abs=1e-6)  # 5684 / 6315, not 1.000
    assert official_lr_factor(3157, 6315, 631) == pytest.approx(0.500079, abs=1e-6)  # 3158 / 6315
    assert official_lr_factor(6314, 6315, 631) == pytest.approx(1 / 6315)
    assert official_lr_factor(7000, 6315, 631) == 0.0  # min(step, total): never negative
    assert official_lr_factor(5, 10, 0) == 0.5  # no warm-up: plain linear decay from step 0
    assert torch_lr_factor(631, 6315, 631) == 1.0  # the torch recipe decays over the post-warm-up steps only


def test_one_step_of_adam_weight_decay_has_no_bias_correction() -> None:
    # p = 2.0, g = 0.5, lr 0.1, weight decay 0.01, eps 1e-6, betas 0.9/0.999, from m = v = 0:
    # m = 0.1 * 0.5 = 0.05; v = 0.001 * 0.25 = 0.00025; sqrt(v) = 0.015811388
    # update = 0.05 / (0.015811388 + 1e-6) + 0.01 * 2.0 = 3.162078 + 0.02 = 3.182078; p = 2.0 - 0.3182078 = 1.6817922
    weight = nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    bias = nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    optimizer = AdamWeightDecay([{"params": [weight], "weight_decay": 0.01}, {"params": [bias], "weight_decay": 0.0}],
                                lr=0.1)
    weight.grad, bias.grad = torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64)
    optimizer.step()
    assert weight.item() == pytest.approx(1.6817922, abs=1e-7)
    assert bias.item() == pytest.approx(2.0 - 0.3162078, abs=1e-7)  # no decay on the excluded group
    # torch.optim.AdamW (bias-corrected) would step by lr * 0.5 / (0.5 + 1e-6) ~ 0.1: 3.16x smaller than 0.3162


def test_global_norm_clipping_scales_every_gradient_by_one_over_the_norm() -> None:
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])  # global norm sqrt(9 + 16) = 5
    assert clip_by_global_norm([a, b, nn.Parameter(torch.zeros(1))], 1.0) == pytest.approx(5.0)
    assert a.grad.tolist() == pytest.approx([0.6, 0.0]) and b.grad.tolist() == pytest.approx([0.8])
    a.grad, b.grad = torch.tensor([0.3, 0.0]), torch.tensor([0.4])  # norm 0.5 <= 1: unchanged
    clip_by_global_norm([a, b], 1.0)
    assert a.grad.tolist() == pytest.approx([0.3, 0.0]) and b.grad.tolist() == pytest.approx([0.4])


def test_weight_decay_leaves_out_biases_and_layer_norms_by_name() -> None:
    from t5eval.model import BertConfig
    from t5eval.model.bert.network import Bert

    body = Bert(BertConfig.preset("tiny-bert"))
    model = HeadModel(body, 64, 2, 0.0, 0)
    decay, plain = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed, not_decayed = {names[id(p)] for p in decay["params"]}, {names[id(p)] for p in plain["params"]}
    assert (decay["weight_decay"], plain["weight_decay"]) == (0.01, 0.0)
    assert {"body.embeddings.word.weight", "body.layers.0.attn.query.weight", "body.layers.1.ff_in.weight",
            "body.pooler.weight", "out.weight"} <= decayed
    assert {"body.embeddings.norm.weight", "body.embeddings.norm.bias", "body.layers.0.attn.norm.weight",
            "body.layers.0.ff_norm.bias", "body.layers.1.attn.query.bias", "body.pooler.bias", "out.bias"} <= not_decayed
    assert all(n.endswith("bias") or ".norm." in n or "_norm." in n for n in not_decayed)
    assert not any(n.endswith("bias") or "norm" in n for n in decayed)


class _Toy(nn.Module):
    """body.weight and body.bias (1 value each), loss 3 w + 4 b: a constant gradient (3, 4), global norm 5."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Module()
        self.body.weight = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        self.body.bias = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        self.out = nn.Identity()


def _train_toy(toy: nn.Module, hp: HeadHyperparameters, path: Path, scores: Any) -> tuple[Any, list[tuple[int, float]]]:
    """The skeleton with the head step: 4 items in batches of 2 over 2 epochs = 4 steps, validated every 2."""
    kept: list[tuple[int, float]] = []

    def batch_loss(m: nn.Module, picked: list[int]) -> tuple[torch.Tensor, int]:
        return 3 * m.body.weight.sum() + 4 * m.body.bias.sum(), 0

    state = finetune(toy, HeadBatches(4, 2, 0), HeadStep(hp, 4, 2, 0, "all", batch_loss), path,
                     lambda step: {"toy": {"accuracy": next(scores)}},
                     lambda task, step: kept.append((step, toy.body.weight.item())))
    return state, kept


def _official_reference(lrs: list[float]) -> tuple[float, float]:
    """optimization.py by hand: clipped gradient (0.6, 0.8), Adam moments without bias correction, decay 0.01
    on the weight only."""
    params, grads, decay = [1.0, 1.0], [0.6, 0.8], [0.01, 0.0]
    m, v = [0.0, 0.0], [0.0, 0.0]
    for lr in lrs:
        for i in range(2):
            m[i] = 0.9 * m[i] + 0.1 * grads[i]
            v[i] = 0.999 * v[i] + 0.001 * grads[i] ** 2
            params[i] -= lr * (m[i] / (math.sqrt(v[i]) + 1e-6) + decay[i] * params[i])
    return params[0], params[1]


def test_the_default_head_recipe_trains_as_berts_official_code_and_keeps_the_final_epoch(tmp_path: Path) -> None:
    toy = _Toy()
    scores = iter([0.9, 0.1])  # epoch 1 validates best; BERT still keeps the model after epoch 2
    # 4 items, batch 2, 2 epochs = 4 steps; warm-up int(4 * 0.5) = 2 steps
    recipe = HeadHyperparameters(lr=0.1, epochs=2, batch_size=2, warmup=0.5)
    training, kept = _train_toy(toy, recipe, tmp_path / "c.pt", scores)
    # lr per step: 0.1 * (0/2, 1/2) in the warm-up, then 0.1 * (1 - 2/4), 0.1 * (1 - 3/4)
    weight, bias = _official_reference([0.0, 0.05, 0.05, 0.025])
    assert toy.body.weight.item() == pytest.approx(weight, abs=1e-12)
    assert toy.body.bias.item() == pytest.approx(bias, abs=1e-12)
    # by hand: m/sqrt(v) without bias correction is (1 - 0.9^t) / sqrt(1 - 0.999^t) = 1, 4.2496, 4.9502, 5.4416;
    # steps 0, 0.05 * 4.2596, 0.05 * (4.9502 + 0.0079), 0.025 * (5.4416 + 0.0054) = 0, 0.2130, 0.2479, 0.1362
    assert weight == pytest.approx(0.4030, abs=1e-4)
    assert training.best["toy"]["step"] == 4 and training.step == 4  # the final step, not the better step 2
    assert kept == [(4, toy.body.weight.item())]
    assert HeadHyperparameters().record()["clip_global_norm"] == 1.0 and HeadHyperparameters().bert_recipe == "official"


def test_the_torch_recipe_is_adamw_with_decay_after_warm_up_and_the_best_epoch(tmp_path: Path) -> None:
    toy, ref = _Toy(), _Toy()
    scores = iter([0.9, 0.1])
    recipe = HeadHyperparameters(lr=0.1, epochs=2, batch_size=2, warmup=0.5, bert_recipe="torch")
    training, _ = _train_toy(toy, recipe, tmp_path / "c.pt", scores)
    optimizer = torch.optim.AdamW([{"params": [ref.body.weight], "weight_decay": 0.01},
                                   {"params": [ref.body.bias], "weight_decay": 0.0}], lr=0.1, eps=1e-6)
    for factor in (0.0, 0.5, 1.0, 0.5):  # (4 - s) / (4 - 2) after the 2 warm-up steps; no clipping
        optimizer.param_groups[0]["lr"] = optimizer.param_groups[1]["lr"] = 0.1 * factor
        ref.body.weight.grad, ref.body.bias.grad = torch.tensor([3.0], dtype=torch.float64), torch.tensor([4.0], dtype=torch.float64)
        optimizer.step()
    assert toy.body.weight.item() == pytest.approx(ref.body.weight.item(), abs=1e-12)
    assert toy.body.bias.item() == pytest.approx(ref.body.bias.item(), abs=1e-12)
    assert training.best["toy"]["step"] == 2  # the best validation score (the end of epoch 1)
    with pytest.raises(T5evalError, match=r"--bert-recipe 'offical' is not one of official, torch.*did you mean"):
        HeadHyperparameters(bert_recipe="offical")


def test_the_classifier_starts_from_berts_truncated_normal() -> None:
    head = HeadModel(nn.Identity(), 4096, 3, 0.1, seed=0, initializer_range=0.02)
    weight = head.out.weight.detach()
    assert float(weight.abs().max()) <= 0.04  # tf.truncated_normal_initializer(stddev=0.02): cut at 2 stddev
    # std of N(0, 1) truncated to [-2, 2]: sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)) = 0.8796; 0.02 * 0.8796 = 0.01759
    assert float(weight.std()) == pytest.approx(0.01759, abs=4e-4)
    assert float(weight.mean()) == pytest.approx(0.0, abs=4e-4) and not head.out.bias.any()


def test_a_random_bert_body_starts_from_berts_truncated_normal_too() -> None:
    from t5eval.model import BertConfig
    from t5eval.model.bert.weights import random_bert

    body = random_bert(BertConfig.preset("tiny-bert"), 0, torch.float32, "cpu", "tiny-bert").model
    matrices = [p.detach() for n, p in body.named_parameters() if n.endswith("weight") and "norm" not in n]
    values = torch.cat([m.flatten() for m in matrices])  # create_initializer(0.02): embeddings and dense kernels
    assert float(values.abs().max()) <= 0.04 and float(values.std()) == pytest.approx(0.01759, abs=3e-4)
