"""The T5 paper's adapters in their official form (t5 `task_adapter.gin`, mesh_tensorflow's LayerStack and
DenseReluDense): a residual sublayer of its own after each block's feed-forward, x + dropout(wo(relu(wi(
rms_norm(x))))), no biases, truncated-normal fan-in init, only its variables trained. Expectations are worked by
hand from that code."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from t5eval.model import T5, BertConfig, T5Config
from t5eval.model.adapters import HoulsbyAdapter, TaskAdapter, add_adapters
from t5eval.model.bert.network import Bert
from t5eval.model.heads import HeadModel, T5EncoderBody
from t5eval.train.transfer import Transfer, apply_transfer

torch.set_num_threads(1)
TINY = replace(T5Config.preset("tiny"), vocab_size=50)  # d_model 64, 2 + 2 blocks


def _rms(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * scale


def test_the_adapter_is_its_own_residual_sublayer_after_the_feed_forward() -> None:
    torch.manual_seed(0)
    model = T5(TINY).eval()
    x = torch.randn(2, 5, 64)
    bias = torch.zeros(1, TINY.num_heads, 5, 5)
    layer = model.encoder_layers[0]
    without = layer(x, bias)  # x + attn, then + ff: the block as transformers computes it
    add_adapters([layer], 64, 8, seed=0)
    adapter = layer.adapter
    assert isinstance(adapter, TaskAdapter) and adapter.dropout.p == TINY.dropout_rate  # the model's rate (0.1)
    # by hand: y + wo(relu(wi(rms_norm(y)))) on the block's output y (eval: no dropout)
    expected = without + F.relu(_rms(without, adapter.norm.weight) @ adapter.wi.weight.T) @ adapter.wo.weight.T
    torch.testing.assert_close(layer.eval()(x, bias), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(expected, without, atol=1e-3)  # the official init is not the identity


def test_official_init_no_biases_norm_of_ones_and_parameter_count() -> None:
    adapter = TaskAdapter(768, 32, seed=0, dropout=0.1)
    names = {n: tuple(p.shape) for n, p in adapter.named_parameters()}
    assert names == {"norm.weight": (768,), "wi.weight": (32, 768), "wo.weight": (768, 32)}  # no biases
    assert sum(p.numel() for p in adapter.parameters()) == 768 * 32 * 2 + 768 == 49_920
    assert torch.equal(adapter.norm.weight, torch.ones(768))  # sublayer_rms_norm: tf.ones_initializer
    # VarianceScalingInitializer(1.0, fan_in, normal) -> tf.truncated_normal_initializer(stddev=sqrt(1/fan_in)):
    # wi fan_in 768: stddev 0.036084, cut at 0.072169; wo fan_in 32: stddev 0.176777, cut at 0.353553;
    # the std of a normal truncated at 2 stddev is 0.8796 stddev: 0.031740 and 0.155493
    wi, wo = adapter.wi.weight.detach(), adapter.wo.weight.detach()
    assert float(wi.abs().max()) <= 0.072169 and float(wo.abs().max()) <= 0.353553
    assert float(wi.std()) == pytest.approx(0.031740, rel=0.02) and float(wo.std()) == pytest.approx(0.155493, rel=0.02)


def test_adapter_parameters_for_bert_base_and_t5_base_sized_stacks() -> None:
    with torch.device("meta"):  # shapes only
        bert = Bert(BertConfig.preset("bert-base"))
        t5 = T5(T5Config.preset("t5-base"))
    add_adapters(list(bert.layers), 768, 32, seed=0)
    add_adapters([*t5.encoder_layers, *t5.decoder_layers], 768, 32, seed=0)
    count = lambda m: sum(p.numel() for n, p in m.named_parameters() if ".adapter." in n)  # noqa: E731
    assert count(bert) == 12 * (768 * 32 * 2 + 768) == 599_040  # one adapter per block
    assert count(t5) == 24 * (768 * 32 * 2 + 768) == 1_198_080  # 12 encoder + 12 decoder feed-forwards


def test_only_the_adapters_and_the_head_train_on_t5s_encoder_and_houlsby_stays_available() -> None:
    model = HeadModel(T5EncoderBody(T5(TINY)), 64, 2, 0.0, 0)
    apply_transfer(model, Transfer.parse("adapters:4"), seed=0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"body.layers.{i}.adapter.{p}" for i in (0, 1) for p in ("norm.weight", "wi.weight",
                                                                                    "wo.weight")} | {"out.weight", "out.bias"}
    houlsby = HeadModel(T5EncoderBody(T5(TINY)), 64, 2, 0.0, 0)
    apply_transfer(houlsby, Transfer.parse("adapters-houlsby:4"), seed=0)
    assert all(isinstance(layer.adapter, HoulsbyAdapter) for layer in houlsby.body.layers)
    assert {n for n, p in houlsby.named_parameters() if p.requires_grad} >= {"body.layers.0.ff_norm.weight", "body.norm.weight"}


def test_cached_decoding_runs_the_adapter_sublayer_as_the_full_forward() -> None:
    torch.manual_seed(0)
    model = T5(replace(TINY, adapter_dim=4)).eval()  # a checkpoint fine-tuned with adapters (official form)
    assert all(isinstance(layer.adapter, TaskAdapter) for layer in model.decoder_layers)
    ids = torch.randint(2, 50, (2, 6))
    mask = torch.ones_like(ids)
    decoder_ids = torch.tensor([[0, 7, 9, 11], [0, 5, 3, 8]])
    with torch.no_grad():
        full = model(ids, mask, decoder_ids)  # (2, 4, V)
        memory = model.encode(ids, mask)
        cache = model.start_cache(memory, mask, max_len=4)
        steps = torch.stack([model.step(decoder_ids[:, t], t, cache) for t in range(4)], 1)
    torch.testing.assert_close(steps, full, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_saved_before_the_official_form_loads_as_houlsby() -> None:
    base = TINY.to_hf()
    assert "adapter_dim" not in base and "adapter_form" not in base  # plain models write neither field
    legacy = T5Config.from_hf(base | {"adapter_dim": 4})
    assert (legacy.adapter_dim, legacy.adapter_form) == (4, "houlsby")
    assert T5Config.from_hf(replace(TINY, adapter_dim=4).to_hf()).adapter_form == "official"
    from t5eval.model.t5.weights import key_map

    keys = key_map(replace(TINY, adapter_dim=4))
    assert keys["encoder.block.0.layer.2.adapter.wi.weight"] == "encoder_layers.0.adapter.wi.weight"
    assert keys["decoder.block.1.layer.3.adapter.norm.weight"] == "decoder_layers.1.adapter.norm.weight"
    assert key_map(legacy)["encoder.block.0.layer.1.adapter.down.bias"] == "encoder_layers.0.adapter.down.bias"
