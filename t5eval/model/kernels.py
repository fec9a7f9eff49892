"""Per-CPU choice of the fp32 linear-layer kernel: MKL (`F.linear`, torch's default) or oneDNN.

torch sends fp32 `F.linear` on the CPU to MKL's sgemm; oneDNN (`torch.ops.mkldnn._linear_pointwise`, weights
reordered once into its blocked layout by `torch.ops.mkldnn._reorder_linear_weight`) is faster on some CPUs
and shapes (AMD Zen 4: issue 27's figures). Which one wins is measured, not assumed: `measure` times both on
the model's GEMM shape classes, `fastest` picks per class, and `LinearKernels` (a `TorchFunctionMode`) routes
every `F.linear` made under it (nn.Linear modules, the stacked q/k/v and cross K/V projections, the LM head)
to the chosen kernel. The two kernels round differently (~1e-6 relative), so a caller keeps a oneDNN class
only where outputs stay equal (`t5eval bench` checks greedy and beam rows and logits, docs/bench.md).

Only inference is routed: with autograd recording, or off the CPU, or not fp32, `F.linear` runs unchanged.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

KERNELS = ("mkl", "onednn")
SHAPE_CLASSES = ("tall", "decode", "head")  # encoder-size rows; decoding-size rows; vocabulary-size outputs
HEAD_MIN_OUT = 8192  # out features from which a GEMM is an LM head
TALL_MIN_ROWS = 256  # rows from which a GEMM is encoder-sized (B*S), below: a decoding step (B or B*K rows)
LM_HEAD_BLOCK = 2048  # vocabulary rows per MKL LM-head matmul in CPU decoding steps (`T5.step_logits`)
_ACTIVE: list[LinearKernels] = []  # the LinearKernels modes entered, innermost last


def shape_class(rows: int, out_features: int) -> str:
    """The class of an (rows × in) @ (in × out) product: "head", "tall" or "decode"."""
    if out_features >= HEAD_MIN_OUT:
        return "head"
    return "tall" if rows >= TALL_MIN_ROWS else "decode"


def active_kernel(name: str) -> str:
    """The kernel the innermost entered `LinearKernels` chose for shape class `name` ("mkl" outside any)."""
    return _ACTIVE[-1].choice[name] if _ACTIVE else "mkl"


def blocked_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x (N, D) @ weight.T (D, V) in blocks of LM_HEAD_BLOCK output rows, concatenated (N, V): on MKL each
    logit is the same dot product as one call, bit for bit, and decoding-size N runs faster in blocks."""
    return torch.cat([F.linear(x, block) for block in weight.split(LM_HEAD_BLOCK)], dim=-1)


def onednn_linear(x: torch.Tensor, packed_weight: torch.Tensor) -> torch.Tensor:
    """x (..., in) @ weight.T through oneDNN; `packed_weight` from `pack_weight` (or the plain (out, in))."""
    return torch.ops.mkldnn._linear_pointwise(x, packed_weight, None, "none", [], "")


def pack_weight(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """(out, in) fp32 weight reordered for oneDNN, for products of about `rows` rows."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows)


def _key(weight: torch.Tensor) -> tuple[Any, ...] | None:
    """Identity of a parameter's values (the parameter or a view of one, e.g. an LM-head block): storage,
    offset, shape, strides and in-place version (views share it). None for other tensors (a q/k/v stack made
    per call): those are not worth packing and go to oneDNN as they are."""
    base = weight if weight._base is None else weight._base
    if not isinstance(base, torch.nn.Parameter):
        return None
    return (weight.untyped_storage().data_ptr(), weight.storage_offset(), tuple(weight.shape), weight.stride(),
            base._version)


class LinearKernels(TorchFunctionMode):
    """Route fp32 CPU `F.linear` (no bias, no autograd) to the kernel chosen for its shape class.

    Packed oneDNN weights are cached per weight (keyed by storage, view and version; the cache keeps the
    weight alive, so a key is never reused by another tensor), up to `max_cached` entries.
    """

    def __init__(self, choice: dict[str, str], max_cached: int = 256) -> None:
        super().__init__()
        unknown = {k: v for k, v in choice.items() if k not in SHAPE_CLASSES or v not in KERNELS}
        if unknown:
            raise ValueError(f"unknown shape class or kernel {unknown}; classes {SHAPE_CLASSES}, kernels {KERNELS}")
        self.choice = {name: choice.get(name, "mkl") for name in SHAPE_CLASSES}
        self.max_cached = max_cached
        self._packed: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        self.routed = dict.fromkeys(KERNELS, 0)  # F.linear calls sent to each kernel (inference, fp32 CPU)

    def __enter__(self) -> LinearKernels:
        _ACTIVE.append(self)
        return super().__enter__()  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)
        super().__exit__(*exc)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is F.linear and self._routable(args, kwargs):
            x, weight = args[0], kwargs.get("weight", args[1] if len(args) > 1 else None)
            rows = x.numel() // x.shape[-1]
            kernel = self.choice[shape_class(rows, weight.shape[0])]
            self.routed[kernel] += 1
            if kernel == "onednn":
                return onednn_linear(x, self._pack(weight, rows))
        return func(*args, **kwargs)

    @staticmethod
    def _routable(args: Any, kwargs: Any) -> bool:
        x = args[0]
        weight = kwargs.get("weight", args[1] if len(args) > 1 else None)
        bias = kwargs.get("bias", args[2] if len(args) > 2 else None)
        return (bias is None and weight is not None and not torch.is_grad_enabled() and x.device.type == "cpu"
                and x.dtype == torch.float32 and weight.dtype == torch.float32 and weight.dim() == 2)

    def _pack(self, weight: torch.Tensor, rows: int) -> torch.Tensor:
        key = _key(weight)
        if key is None:
            return weight
        hit = self._packed.get(key)
        if hit is None:
            if len(self._packed) >= self.max_cached:
                self._packed.clear()
            hit = (weight, pack_weight(weight, rows))
            self._packed[key] = hit
        return hit[1]


def _best_seconds(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(shapes: dict[str, tuple[int, int, int]], repeats: int = 3, seed: int = 0) -> dict[str, dict[str, Any]]:
    """GFLOP/s of each kernel per shape class: `shapes[class]` = (rows M, in K, out N), best of `repeats`.

    Returns {class: {"shape": [M, K, N], "mkl": GFLOP/s, "onednn": GFLOP/s}}; one thread count: torch's.
    MKL on the "head" class is timed as native decoding runs it on MKL: in LM_HEAD_BLOCK blocks (`blocked_linear`).
    """
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, Any]] = {}
    for name, (m, k, n) in shapes.items():
        x, w = torch.randn(m, k, generator=gen), torch.randn(n, k, generator=gen)
        packed = pack_weight(w, m)
        mkl = blocked_linear if name == "head" else F.linear
        gflop = 2.0 * m * k * n / 1e9
        with torch.no_grad():
            out[name] = {"shape": [m, k, n],
                         "mkl": gflop / _best_seconds(functools.partial(mkl, x, w), repeats),
                         "onednn": gflop / _best_seconds(functools.partial(onednn_linear, x, packed), repeats)}
    return out


SWITCH_MARGIN = 1.05  # oneDNN must beat MKL by 5% to be chosen: closer rates flip with load between runs


def fastest(measured: dict[str, dict[str, Any]], margin: float = SWITCH_MARGIN) -> dict[str, str]:
    """Per class, oneDNN where its measured GFLOP/s exceed MKL's by `margin`, else MKL (torch's default)."""
    return {name: "onednn" if rates["onednn"] > margin * rates["mkl"] else "mkl" for name, rates in measured.items()}
