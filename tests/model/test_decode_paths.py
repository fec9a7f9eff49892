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
