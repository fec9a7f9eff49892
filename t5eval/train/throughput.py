"""Throughput as a share of the machine: model FLOPs utilization (MFU) of a training step; durations.

- Peak: the best of `repeats` fp32 square matrix products (`torch.mm`, side 1024 on CPU, 4096 on a GPU),
  timed on the training device with the run's thread count, once per process (`measure_matmul_peak`: the
  first pre-training of a process measures it, later ones in the same process on the same device and thread
  count, e.g. a study's cells, reuse it). It is what this process can get from one GEMM on this machine, not a
  datasheet figure.
- Model FLOPs per step: 3 × the matrix FLOPs of the forward pass (a backward pass costs two forwards),
  counted by `torch.utils.flop_counter.FlopCounterMode` over one row of the step's shape and multiplied
  by the rows (`train_flops_per_row`); attention score/value products count, element-wise work does not.
- MFU = model FLOPs per second / peak. Padding counts as work not done: the rate comes from real tokens.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from t5eval.model.throughput import TRAIN_FLOPS_FACTOR, matmul_peak_gflops
from t5eval.model.throughput import mfu as model_mfu

CPU_SIZE, GPU_SIZE = 1024, 4096


def measure_matmul_peak(device: torch.device, size: int | None = None, repeats: int = 3) -> float:
    """GFLOP/s of the fastest of `repeats` fp32 `torch.mm` of two size × size matrices (after one warm-up):
    `t5eval.model.throughput.matmul_peak_gflops`, the probe `t5eval bench` uses too. Measured once per process
    for a device, size, repeats and torch thread count."""
    size = size or (GPU_SIZE if device.type == "cuda" else CPU_SIZE)
    return _matmul_peak(str(device), size, repeats, torch.get_num_threads())


@functools.cache
def _matmul_peak(device: str, size: int, repeats: int, threads: int) -> float:  # threads: part of the key only
    return float(matmul_peak_gflops(device, size, repeats)["gflops_best"])


def train_flops_per_row(forward: Callable[[], Any]) -> float:
    """Matrix FLOPs of one training step on one row: 3 × those of `forward()` (a no-grad forward of one row).

    Runs `forward` once under `torch.no_grad` with the RNG state restored afterwards, so the training
    that follows draws the same dropout masks as without it.
    """
    counter = FlopCounterMode(display=False)
    with torch.random.fork_rng(), torch.no_grad(), counter:
        forward()
    return float(TRAIN_FLOPS_FACTOR * counter.get_total_flops())


def mfu(flops_per_token: float, tokens_per_s: float, peak_gflops: float) -> float:
    """Share (0..1) of the matmul peak: model FLOPs per second over the measured peak."""
    return model_mfu(flops_per_token * tokens_per_s, 1.0, peak_gflops) if peak_gflops > 0 else 0.0


def format_duration(seconds: float) -> str:
    """A human duration: '45 s', '3 min 7 s', '5 h 12 min', '9 d 18 h'."""
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
