"""Optional int8 dynamic quantization for CPU decoding (`quantize_int8`): faster, but not exact.

Weights are quantized once per output channel (symmetric int8); activations are quantized per call
from their observed range (fbgemm's dynamic linear; 7-bit `reduce_range` only on x86 without VNNI,
whose int16 accumulation would saturate, full 8 bits where the CPU has VNNI: `cpu_has_vnni`). Weights are
packed for oneDNN's int8 kernels where the CPU has VNNI (`int8_engine`; 1.3–1.6x fbgemm's dynamic linear
on the Xeon of docs/bench.md, the same error against fp32), else for fbgemm. Every
matmul of the model runs in int8 — the fused q/k/v and cross-attention K/V projections too — while
norms, softmax and attention stay in fp32. Outputs differ from the fp32 model: `t5eval bench --int8`
reports it separately and counts how many generated tokens agree with fp32.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from t5eval.errors import T5evalError
from t5eval.model.layers import Attention
from t5eval.model.t5.network import T5, DecoderLayer, EncoderLayer


def cpu_has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has VNNI (AVX512-VNNI or AVX-VNNI) by /proc/cpuinfo's flags (`cpuinfo` for tests).

    fbgemm's `reduce_range` exists for x86 CPUs without VNNI, where int8 products are summed in
    saturating int16 (vpmaddubsw); with VNNI (vpdpbusd, int32 sums) the full 8-bit activation range is
    safe and halves the activation quantization step (measured on t5-small-sized weights: relative RMS error
    of one linear 1.9% → 1.2%).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_vnni" in flags or "avx_vnni" in flags


@functools.lru_cache(maxsize=1)
def _reduce_range() -> bool:
    return not cpu_has_vnni()


@functools.lru_cache(maxsize=1)
def int8_engine() -> str:
    """The quantized engine int8 weights are packed for: "onednn" where the CPU has VNNI and torch has
    oneDNN's quantized kernels, "fbgemm" otherwise. Same int8 weights; the two kernels quantize activations
    with slightly different rounding, so their outputs differ a little (docs/bench.md)."""
    return "onednn" if cpu_has_vnni() and "onednn" in torch.backends.quantized.supported_engines else "fbgemm"


@contextlib.contextmanager
def _packing_for(engine: str) -> Iterator[None]:
    """`torch.backends.quantized.engine` set to `engine` while weights are packed (calls dispatch on the
    packed weights' own type afterwards, whatever the global engine)."""
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = before


class Int8Linear(nn.Module):
    """y = x W^T with W (N, K) int8 per output channel and x (..., K) quantized on the fly -> (..., N) fp32.

    `engine`: "fbgemm" or "onednn" kernels (None: `int8_engine()`)."""

    def __init__(self, weight: torch.Tensor, engine: str | None = None) -> None:
        super().__init__()
        weight = weight.detach().float().contiguous()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()  # (N,)
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():  # torch marks quantized tensors deprecated; fbgemm's op is the fast path
            warnings.simplefilter("ignore", UserWarning)
            quantized = torch.quantize_per_channel(weight, scales, zero_points, axis=0, dtype=torch.qint8)
        self.engine = engine or int8_engine()
        with _packing_for(self.engine):
            self.packed = torch.ops.quantized.linear_prepack(quantized, None)
        self.out_features, self.in_features = weight.shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., K) -> (..., N)
        return torch.ops.quantized.linear_dynamic(x.float().contiguous(), self.packed, _reduce_range())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel, {self.engine}"


def _swap_linears(module: nn.Module, engine: str) -> None:
    """Replace every `nn.Linear` below `module` by an `Int8Linear` of its weight (biases: T5 has none)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8Linear(child.weight, engine))
        else:
            _swap_linears(child, engine)


def _self_attentions(model: T5) -> list[Attention]:
    encoder = [layer.attn for layer in model.encoder_layers if isinstance(layer, EncoderLayer)]
    return encoder + [layer.self_attn for layer in model.decoder_layers if isinstance(layer, DecoderLayer)]


def quantize_int8(model: T5, engine: str | None = None) -> T5:
    """A CPU inference copy of `model` whose matmuls run in int8 (the original is left untouched).

    `engine`: "fbgemm" or "onednn" kernels (None: `int8_engine()`, oneDNN where the CPU has VNNI).
    Raises T5evalError off the CPU (fbgemm/oneDNN kernels) or for a model in half precision.
    """
    weight = model.shared.weight
    if weight.device.type != "cpu":
        raise T5evalError(f"int8 quantization runs on the CPU only (model is on {weight.device}); "
                          "move it with model.to('cpu') or drop --int8")
    if weight.dtype != torch.float32:
        raise T5evalError(f"int8 quantization starts from float32 weights (model is {weight.dtype})")
    engine = engine or int8_engine()
    quantized = copy.deepcopy(model).eval()
    for attention in _self_attentions(quantized):  # q, k, v stacked: one int8 matmul
        attention.packed_qkv = Int8Linear(attention.qkv_weight(), engine)
    quantized.packed_cross_kv = Int8Linear(quantized.cross_kv_weight(), engine)
    _swap_linears(quantized, engine)
    return quantized
