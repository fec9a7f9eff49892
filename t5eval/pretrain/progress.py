"""What `t5eval pretrain` reports while it trains: the log line (loss, tokens/s, MFU, ETA), the throughput
record of pretrain.json, the FLOPs and peak MFU is measured with, and the interruption it raises on Ctrl-C.
The progress bar / plain lines themselves are `t5eval run`'s (`run.progress`), passed in by the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import torch

from t5eval.batching import make_train_batch
from t5eval.model import LoadedModel
from t5eval.model.load import FAMILIES
from t5eval.pretrain.loop import PretrainConfig, PretrainState
from t5eval.pretrain.stream import ExampleStream
from t5eval.train.throughput import format_duration, measure_matmul_peak, mfu, train_flops_per_row


class PretrainInterrupted(Exception):
    """Ctrl-C during pre-training: the current step finished and was saved in `out`'s checkpoint."""

    def __init__(self, out: Path, step: int) -> None:
        super().__init__(f"interrupted at step {step}; saved in {out}")
        self.out, self.step = out, step


def family_of(loaded: LoadedModel) -> str:
    """The family name of a loaded model (from its network class)."""
    return next((f.name for f in FAMILIES.values() if isinstance(loaded.model, f.network)), "unknown")


def measure_throughput(loaded: LoadedModel, stream: ExampleStream, device: torch.device) -> tuple[float, float]:
    """(model FLOPs per trained token, matmul peak GFLOP/s) for MFU (`t5eval.train.throughput`): FLOPs counted on
    one row shaped like the first example, divided by its tokens."""
    inputs, targets, _ = stream.example(0)
    batch = make_train_batch([inputs], [targets])
    model = cast(Any, loaded.model)
    was_training = model.training
    model.eval()
    flops = train_flops_per_row(lambda: model.loss(batch.input_ids.to(device), batch.attention_mask.to(device),
                                                   batch.labels.to(device)))
    model.train(was_training)
    return flops / (len(inputs) + len(targets)), measure_matmul_peak(device)


def throughput_record(cfg: PretrainConfig, state: PretrainState) -> dict[str, Any]:
    """Real tokens/s over the whole run and its MFU, with what MFU is measured against (t5eval.train.throughput)."""
    tokens_per_s = state.train_tokens / max(state.train_seconds, 1e-9)
    return {"tokens_per_s": tokens_per_s, "mfu": mfu(cfg.flops_per_token, tokens_per_s, cfg.peak_gflops),
            "matmul_peak_gflops": cfg.peak_gflops, "train_flops_per_token": cfg.flops_per_token,
            "definition": "MFU = train_flops_per_token x real tokens/s / matmul peak; train FLOPs = 3 x the "
                          "forward's matrix FLOPs (torch FlopCounterMode); peak = best of 3 fp32 torch.mm "
                          "(1024^2 on CPU, 4096^2 on GPU) measured once per process, device and thread count"}


def log_line(entry: dict[str, float], steps: int) -> str:
    """'step 100/1000  loss 4.1234  2,345 tok/s  MFU 12.3%  ETA 3 min 7 s' for one loss-history entry."""
    eta = format_duration((steps - entry["step"]) * entry["seconds_per_step"])
    return (f"step {entry['step']:,}/{steps:,}  loss {entry['loss']:.4f}  {entry['tokens_per_s']:,.0f} tok/s  "
            f"MFU {100 * entry['mfu']:.1f}%  ETA {eta}")
