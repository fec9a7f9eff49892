"""Timing and memory primitives for `t5eval bench`: alternating repeats, medians, RSS peaks (matmul peak:
`t5eval.model.throughput`).

Kept free of model code so every measure (native or transformers) is timed the same way.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def sync(device: str) -> None:
    """Wait for queued kernels so wall time covers the work (no-op on CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rss_bytes() -> int:
    """Resident set size of this process, read from /proc/self/statm (0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return 0


@dataclass
class PeakMemory:
    """Peak memory seen during a block: RSS growth over its start (CPU) or max allocated (CUDA)."""

    rss_start: int = 0
    rss_peak: int = 0
    cuda_peak: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def as_dict(self) -> dict[str, float | None]:
        """MiB figures for the JSON report."""
        mib = 1024 * 1024
        return {
            "rss_peak_mib": self.rss_peak / mib,
            "rss_growth_mib": max(0, self.rss_peak - self.rss_start) / mib,
            "cuda_max_allocated_mib": None if self.cuda_peak is None else self.cuda_peak / mib,
        }


@contextmanager
def peak_memory(device: str, interval_s: float = 0.005) -> Iterator[PeakMemory]:
    """Sample RSS in a thread while the block runs; on CUDA also read `max_memory_allocated`.

    RSS growth understates memory the allocator reuses from earlier blocks; it is a comparison
    between the two implementations run the same way, not an absolute footprint.
    """
    peak = PeakMemory(rss_start=rss_bytes())
    peak.rss_peak = peak.rss_start
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    def poll() -> None:
        while not peak._stop.wait(interval_s):
            peak.rss_peak = max(peak.rss_peak, rss_bytes())

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        peak._stop.set()
        thread.join()
        peak.rss_peak = max(peak.rss_peak, rss_bytes())
        if device.startswith("cuda"):
            sync(device)
            peak.cuda_peak = torch.cuda.max_memory_allocated()


@dataclass
class Timing:
    """Wall times of the timed repeats of one implementation on one measure."""

    times_s: list[float] = field(default_factory=list)

    def summary(self, work: float) -> dict[str, Any]:
        """Median/min/max seconds and `work / seconds` rates (work: tokens, or FLOPs for peak)."""
        med = statistics.median(self.times_s)
        return {
            "times_s": [round(t, 5) for t in self.times_s],
            "median_s": med,
            "min_s": min(self.times_s),
            "max_s": max(self.times_s),
            "spread_pct": 100.0 * (max(self.times_s) - min(self.times_s)) / med,
            "rate_median": work / med,
            "rate_best": work / min(self.times_s),
        }


def time_call(fn: Callable[[], Any], device: str) -> tuple[float, Any]:
    """Run `fn` once and return (wall seconds, its result)."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def alternate(
    fns: dict[str, Callable[[], Any]], repeats: int, device: str
) -> tuple[dict[str, Timing], dict[str, Any], dict[str, dict[str, float | None]]]:
    """Time each callable `repeats` times, interleaved (a b a b …), so load drifts hit both alike.

    Peak memory is sampled during the first timed round (after the caller's warm-up, so one-off
    allocations such as optimizer state are not counted). Returns the timings, the last result of
    each callable (for output comparison) and the memory figures.
    """
    timings = {name: Timing() for name in fns}
    results: dict[str, Any] = {}
    memory: dict[str, dict[str, float | None]] = {}
    for round_ in range(repeats):
        for name, fn in fns.items():
            if round_ == 0:
                with peak_memory(device) as peak:
                    dt, results[name] = time_call(fn, device)
                memory[name] = peak.as_dict()
            else:
                dt, results[name] = time_call(fn, device)
            timings[name].times_s.append(dt)
    return timings, results, memory


def load_average() -> list[float] | None:
    """1/5/15-minute load averages (other users of the shared cores), or None off Linux."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
