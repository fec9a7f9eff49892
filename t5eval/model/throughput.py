"""Throughput and model FLOPs utilisation (MFU): the machine's matmul peak and a run's share of it.

Shared by `t5eval bench` (its "% peak" columns) and, through `t5eval.train.throughput` (per-token MFU, FLOPs
counted by torch's FlopCounterMode), by `t5eval pretrain`'s log lines: bench and pretrain may not import each
other, both sit above `t5eval.model` in the import layers.

- Peak: the best of a few square `torch.mm` of side `size` (2048 by default) in the run's dtype, after one
  warm-up call, timed with a device sync; 2·size³ FLOPs per product. It is a *measured* peak of this process
  (threads, load and clocks included), not the CPU's datasheet figure, so MFU stays comparable across the
  machines and the loads we meet. Measure it once at start (a fraction of a second for fp32 at 2048 on one
  core) and, on a shared machine, again at the end, keeping the larger (bench does; pretrain probes side 1024
  on CPU, 4096 on a GPU, once).
- MFU = achieved matmul FLOP/s ÷ peak FLOP/s. A training step costs 3× its forward matmul FLOPs (forward,
  and the backward's two products per weight: input gradient and weight gradient), `TRAIN_FLOPS_FACTOR`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

TRAIN_FLOPS_FACTOR = 3  # forward + backward (gradient wrt input and wrt weight) per forward matmul FLOP


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak_gflops(device: str = "cpu", size: int = 2048, repeats: int = 6,
                       dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """The measured matmul rate: best and median of `repeats` (size × size) @ (size × size) products.

    Returns {"size", "dtype", "repeats", "gflops_best", "gflops_median"}; GFLOP/s = 2·size³ / seconds / 1e9.
    """
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        times.append(time.perf_counter() - start)
    flops = 2.0 * size**3
    return {"size": size, "dtype": str(dtype).removeprefix("torch."), "repeats": repeats,
            "gflops_best": flops / min(times) / 1e9, "gflops_median": flops / statistics.median(times) / 1e9}


def mfu(flops: float, seconds: float, peak_gflops: float) -> float:
    """Share of the matmul peak: `flops` matrix FLOPs done in `seconds`, over `peak_gflops` GFLOP/s."""
    if seconds <= 0 or peak_gflops <= 0:
        raise ValueError(f"mfu needs positive seconds and peak (got {seconds}, {peak_gflops})")
    return flops / seconds / (peak_gflops * 1e9)
