"""The decoding fast paths: the blocked CPU LM head (exact) and optional int8 quantization (not exact)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from t5eval.errors import T5evalError
from t5eval.model import DecodeConfig, generate, load_model
from t5eval.model.kernels import LM_HEAD_BLOCK
from t5eval.model.quant import Int8Linear, quantize_int8
from t5eval.model.t5.network import DecodeCache
from t5eval.tokenizer import T5Tokenizer

from .conftest import batch_of, rte_texts


@pytest.mark.parametrize("fixture", ["tiny_dir", "tiny_v11_dir"])  # tied + rescaled head (v1.0), untied (v1.1)
def test_blocked_step_logits_equal_the_plain_head_bit_for_bit(fixture: str, request: pytest.FixtureRequest) -> None:
    model = load_model(request.getfixturevalue(fixture)).model.eval()
    assert model.config.vocab_size > 8 * LM_HEAD_BLOCK  # several blocks, the last one partial
    gen = torch.Generator().manual_seed(0)
    for rows in (1, 7, 32, 129):
        hidden = torch.randn(rows, model.config.d_model, generator=gen)
        with torch.no_grad():
            assert torch.equal(model.step_logits(hidden), model.head(hidden)), rows


def _rte_batch(vocab: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    tok = T5Tokenizer(vocab)
    return batch_of([tok.encode(x, max_len=96) for x, _ in rte_texts(n)])


def test_int8_copy_quantizes_every_matmul_and_leaves_the_original(small_dir: Path, vocab_path: Path) -> None:
    model = load_model(small_dir).model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids, mask = _rte_batch(vocab_path, 8)
    decoder_ids = ids[:, :6]
    with torch.no_grad():
        reference = model(ids, mask, decoder_ids)
        quantized = quantize_int8(model)
        got = quantized(ids, mask, decoder_ids)
        assert torch.equal(model(ids, mask, decoder_ids), reference)  # the fp32 model is unchanged
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not [name for name, m in quantized.named_modules() if isinstance(m, nn.Linear)]
    assert isinstance(quantized.packed_cross_kv, Int8Linear)
    assert all(isinstance(layer.self_attn.packed_qkv, Int8Linear) for layer in quantized.decoder_layers)
    assert all(layer.cross_attn.packed_qkv is None for layer in quantized.decoder_layers)
    rel_rms = ((got - reference).pow(2).mean() / reference.pow(2).mean()).sqrt().item()
    assert 0 < rel_rms < 0.05  # int8 moves the logits a little, never to noise


def test_int8_greedy_and_beam_mostly_keep_the_fp32_output(small_dir: Path, vocab_path: Path) -> None:
    model = load_model(small_dir).model.eval()
    quantized = quantize_int8(model)
    ids, mask = _rte_batch(vocab_path, 16)
    for beam in (1, 4):  # 12 tokens forced (EOS barred before), so every row has something to lose
        decode = DecodeConfig(beam_size=beam, max_decode_len=12, min_decode_len=12)
        fp32, int8 = generate(model, ids, mask, decode), generate(quantized, ids, mask, decode)
        assert {len(row) for row in fp32 + int8} == {12}
        same = sum(a == b for a, b in zip(fp32, int8, strict=True))
        assert same >= 12, (decode, same)  # at least 3 of 4 rows decode exactly as in fp32


def test_int8_refuses_what_its_cpu_kernels_cannot_take(tiny_dir: Path) -> None:
    model = load_model(tiny_dir).model.to(torch.bfloat16)
    with pytest.raises(T5evalError, match="float32"):
        quantize_int8(model)


def test_vnni_is_read_from_the_cpu_flags() -> None:
    from t5eval.model.quant import cpu_has_vnni

    assert cpu_has_vnni("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni amx_int8\n")
    assert cpu_has_vnni("flags\t\t: fpu avx2 avx_vnni\n")
    assert not cpu_has_vnni("flags\t\t: fpu sse avx2 fma\n")  # AMD EPYC of the earlier figures: reduce_range


@pytest.mark.parametrize("engine", ["fbgemm", "onednn"])
def test_int8_linear_packs_for_either_engine(engine: str) -> None:
    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"torch has no {engine} quantized engine here")
    from t5eval.model.quant import Int8Linear

    gen = torch.Generator().manual_seed(0)
    weight, x = torch.randn(64, 32, generator=gen) * 0.1, torch.randn(5, 3, 32, generator=gen)
    before = torch.backends.quantized.engine
    layer = Int8Linear(weight, engine)
    assert torch.backends.quantized.engine == before  # the global engine is restored after packing
    reference = x @ weight.T
    rel_rms = ((layer(x) - reference).pow(2).mean() / reference.pow(2).mean()).sqrt().item()
    assert 0 < rel_rms < 0.03 and engine in repr(layer)


def test_beam_step_zero_runs_once_per_input_row_then_every_beam(tiny_dir: Path, vocab_path: Path) -> None:
    model = load_model(tiny_dir).model.eval()
    ids, mask = _rte_batch(vocab_path, 5)
    rows: list[int] = []
    plain_step = model.step

    def counting_step(tokens: torch.Tensor, t: int, cache: DecodeCache) -> torch.Tensor:
        rows.append(tokens.shape[0])
        return plain_step(tokens, t, cache)

    model.step = counting_step  # type: ignore[method-assign]
    generate(model, ids, mask, DecodeConfig(beam_size=4, max_decode_len=6, min_decode_len=6))
    assert rows == [5] + [5 * 4] * 5  # step 0: the 4 beams of a row are one start token; then 4 beams a row


def test_widen_gives_each_beam_its_rows_filled_steps() -> None:
    gen = torch.Generator().manual_seed(0)
    self_kv = torch.randn(2, 2, 3, 2, 5, 4, generator=gen)  # (L, 2, N=3, H, T_max=5, Dk)
    cache = DecodeCache(self_kv=self_kv.clone(), cross_kv=torch.zeros(2, 2, 3, 2, 7, 4),
                        cross_bias=torch.zeros(3, 1, 1, 7), self_bias=torch.zeros(1, 2, 5, 5), qkv=[])
    cache.widen(4, filled=2)
    assert cache.group == 4 and cache.self_kv.shape == (2, 2, 12, 2, 5, 4)
    for row in range(3):
        for beam in range(4):
            assert torch.equal(cache.self_kv[:, :, row * 4 + beam, :, :2], self_kv[:, :, row, :, :2])


def test_cross_kv_is_projected_once_and_read_in_place(tiny_dir: Path, vocab_path: Path) -> None:
    model = load_model(tiny_dir).model.eval()
    ids, mask = _rte_batch(vocab_path, 3)
    with torch.no_grad():
        memory = model.encode(ids, mask)  # (B, S, D)
        cache = model.start_cache(memory, mask, max_len=4)
        assert cache.cross_kv._base is not None  # a view of the one projection, not a per-layer copy
        for i, layer in enumerate(model.decoder_layers):
            keys = layer.cross_attn.split(layer.cross_attn.k(memory))  # (B, H, S, Dk)
            values = layer.cross_attn.split(layer.cross_attn.v(memory))
            torch.testing.assert_close(cache.cross_kv[i, 0], keys, rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(cache.cross_kv[i, 1], values, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fixture", ["tiny_dir", "tiny_v11_dir"])
def test_encoder_attention_mask_is_never_copied_per_layer(fixture: str, request: pytest.FixtureRequest) -> None:
    """The relative bias is laid out contiguously, so the (B, H, S, S) mask it is added into reaches every
    layer's SDPA as it is: a head-innermost layout made SDPA copy the whole mask once per layer."""
    model = load_model(request.getfixturevalue(fixture)).model.eval()
    ids = torch.randint(3, 100, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.inference_mode(), torch.profiler.profile(record_shapes=True) as prof:
        model.encode(ids, mask)
    mask_copies = [e for e in prof.events() if e.name == "aten::copy_" and e.input_shapes
                   and list(e.input_shapes[0]) == [3, model.config.num_heads, 11, 11]]
    assert mask_copies == []
    assert model.encoder_bias(5, 9).is_contiguous() and model.decoder_bias(9, 9).is_contiguous()
