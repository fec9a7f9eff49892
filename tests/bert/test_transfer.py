"""--transfer all|frozen|adapters:D|gradual-unfreezing: which parameter groups get gradients, and when."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from t5eval.errors import T5evalError
from t5eval.model import BertConfig
from t5eval.model.bert.network import Bert
from t5eval.model.bert.weights import init_weights_
from t5eval.model.heads import HeadModel
from t5eval.train.head_step import HeadBatches, HeadHyperparameters, HeadStep
from t5eval.train.loop import finetune
from t5eval.train.transfer import Transfer, apply_transfer

torch.set_num_threads(1)
CFG = replace(BertConfig.preset("tiny-bert"), vocab_size=50, max_position_embeddings=32)  # 2 blocks


def _model() -> HeadModel:
    body = Bert(CFG)
    init_weights_(body, 0)
    return HeadModel(body, CFG.hidden_size, 2, 0.0, 0)


def _group(name: str) -> str:
    """embeddings | layers.i | <embeddings or layers.i>.norms (LayerNorms) | layers.i.adapter | pooler | out."""
    parts = name.removeprefix("body.").split(".")
    where = ".".join(parts[:2]) if parts[0] == "layers" else parts[0]
    if ".adapter." in name:
        return f"{where}.adapter"
    return f"{where}.norms" if "norm" in name else where


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 50, (4, 10), generator=gen)
    return ids, torch.ones_like(ids), torch.zeros_like(ids), torch.tensor([0, 1, 1, 0])


def _groups_with_gradients(model: HeadModel) -> set[str]:
    ids, mask, types, gold = _batch()
    torch.nn.functional.cross_entropy(model(ids, mask, types), gold).backward()
    return {_group(n) for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}


@pytest.mark.parametrize(("text", "expected"), [
    ("all", {"embeddings", "embeddings.norms", "layers.0", "layers.0.norms", "layers.1", "layers.1.norms", "pooler",
             "out"}),
    ("frozen", {"out"}),
    ("adapters:8", {"layers.0.adapter", "layers.1.adapter", "out"}),  # official: only adapters (with their norms)
    ("adapters-houlsby:8", {"layers.0.adapter", "layers.1.adapter", "embeddings.norms", "layers.0.norms",
                            "layers.1.norms", "out"}),
    ("gradual-unfreezing", {"layers.1", "layers.1.norms", "pooler", "out"}),  # episode 1 of 2: the top block only
])
def test_each_transfer_sends_gradients_only_where_it_should(text: str, expected: set[str]) -> None:
    model = _model()
    apply_transfer(model, Transfer.parse(text), seed=0)
    assert _groups_with_gradients(model) == expected
    adapters = sum(p.numel() for n, p in model.named_parameters() if ".adapter." in n)
    if text == "adapters:8":  # wi (64x8) + wo (8x64) + the adapter's RMS norm (64) per block, 2 blocks; + head 64x2+2
        assert adapters == 2 * (64 * 8 * 2 + 64) == 2176
        assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2176 + 130
    if text == "adapters-houlsby:8":  # dense(64->8)+bias, dense(8->64)+bias per block
        assert adapters == 2 * (64 * 8 + 8 + 8 * 64 + 64)


def test_gradual_unfreezing_opens_one_more_block_per_episode_and_frozen_weights_stay_put(tmp_path) -> None:
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids, mask, types, gold = _batch()
    seen: list[set[str]] = []

    def batch_loss(m: torch.nn.Module, picked: list[int]) -> tuple[torch.Tensor, int]:
        seen.append({_group(n) for n, p in m.named_parameters() if p.requires_grad})
        out = m(ids[picked], mask[picked], types[picked])
        return torch.nn.functional.cross_entropy(out, gold[picked]), 0

    def train(model: HeadModel, transfer: str, ckpt: str) -> object:
        hp = HeadHyperparameters(lr=1e-2, epochs=2, batch_size=2, warmup=0.0)
        return finetune(model, HeadBatches(4, 2, 0), HeadStep(hp, 4, 2, 0, transfer, batch_loss), tmp_path / ckpt,
                        lambda step: {"t": {"accuracy": 0.0}}, lambda task, step: None)

    training = train(model, "gradual-unfreezing", "g.pt")
    top = {"layers.1", "layers.1.norms", "pooler", "out"}
    every = top | {"layers.0", "layers.0.norms", "embeddings", "embeddings.norms"}
    assert seen == [top, top, every, every]  # 4 steps, 2 episodes of 2 steps
    assert training.trainable_parameters < training.trainable_parameters_last == sum(p.numel() for p in model.parameters())

    frozen = _model()
    train(frozen, "frozen", "f.pt")
    after = frozen.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("body."))
    assert not torch.equal(after["out.weight"], before["out.weight"])


def test_bad_transfer_values_are_one_line_errors() -> None:
    with pytest.raises(T5evalError, match="adapter size must be a positive integer"):
        Transfer.parse("adapters:0")
    with pytest.raises(T5evalError, match="did you mean"):
        Transfer.parse("frozn")
    with pytest.raises(T5evalError, match="adapter size"):
        Transfer.parse("adapters:x")


def test_adapters_and_unfreezing_on_t5s_encoder_body() -> None:
    from t5eval.model import T5, T5Config
    from t5eval.model.heads import T5EncoderBody

    t5 = T5(replace(T5Config.preset("tiny"), vocab_size=50))
    model = HeadModel(T5EncoderBody(t5), 64, 2, 0.0, 0)
    assert not any(n.startswith("body.decoder") or "lm_head" in n for n, _ in model.named_parameters())
    apply_transfer(model, Transfer.parse("adapters:4"), seed=0)
    groups = _groups_with_gradients(model)
    assert groups == {"layers.0.adapter", "layers.1.adapter", "out"}
    fresh = HeadModel(T5EncoderBody(T5(replace(T5Config.preset("tiny"), vocab_size=50))), 64, 2, 0.0, 0)
    apply_transfer(fresh, Transfer.parse("gradual-unfreezing"), seed=0)
    assert _groups_with_gradients(fresh) == {"layers.1", "layers.1.norms", "norm.norms", "out"}
