"""`t5eval run --kernels auto|mkl|onednn`: the fp32 linear kernel per GEMM shape class of the run's decoding.

Chosen once per run, at its first decoding (the first eval batch of the first task decoded, with the weights
of that moment), by `t5eval.model.kernel_probe` (measured per GEMM, faster in situ, rows exact), written at
once to `<run>/linear_kernels.json` and copied into run.json's `env.linear_kernels`. A resumed run uses the
recorded choice and measures nothing. Only the native model's decoding (`evaluate`) runs under the choice;
training never does. No routing off the CPU, in bf16, for a model the probe cannot step (not an
encoder-decoder T5, --scoring rank) and (auto) under torchrun: the record says why.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

import torch

from t5eval.batching import length_sorted_batches, pad_ids
from t5eval.eval.task import EvalTask
from t5eval.io import atomic_write_json
from t5eval.model import T5, DecodeConfig, generate
from t5eval.model.kernel_probe import (
    KernelProbe,
    choose,
    class_shapes,
    decode_steps,
    mkl_choice,
    record_line,
    rows_differences,
)
from t5eval.model.kernels import LinearKernels
from t5eval.run.context import RunContext
from t5eval.trust import read_json_object

KERNELS_FILE = "linear_kernels.json"  # beside settings.json: the choice a resumed run keeps
EXACT_MAX_ROWS = 256  # rows of the first batch decoded for the exactness check (keeps every GEMM in its class)
IN_SITU_MAX_ROWS = 512  # rows of the timed decoding steps (keeps every GEMM in its class)


def decoding_kernels(ctx: RunContext, task: EvalTask, model: torch.nn.Module) -> AbstractContextManager[Any]:
    """The context to decode `task` under: the run's `LinearKernels`, or nothing (MKL). Chooses on first use."""
    record = ctx.linear_kernels or _recorded(ctx) or _choose(ctx, task, model)
    ctx.linear_kernels = record
    chosen = record.get("chosen") or mkl_choice()
    return LinearKernels(chosen) if "onednn" in chosen.values() else contextlib.nullcontext()


def kernels_record(ctx: RunContext) -> dict[str, Any]:
    """run.json's `env.linear_kernels`: the choice made (or recorded by the run's earlier process), or why none was."""
    return ctx.linear_kernels or _recorded(ctx) or {
        "mode": ctx.opts.kernels, "chosen": None, "note": "nothing decoded in this run: no choice made"}


def _recorded(ctx: RunContext) -> dict[str, Any] | None:
    path = ctx.run_dir / KERNELS_FILE
    if not path.is_file():
        return None
    record = read_json_object(path, "delete it to choose the kernels again")
    if ctx.opts.kernels != "mkl":
        ctx.log(f"linear kernels: the choice recorded in {path} ({_chosen_text(record)}), not measured again")
    return record


def _chosen_text(record: dict[str, Any]) -> str:
    chosen = record.get("chosen") or {}
    onednn = [c for c, k in chosen.items() if k == "onednn"]
    return f"oneDNN for {', '.join(onednn)}" if onednn else "MKL everywhere"


def _not_routed(ctx: RunContext, task: EvalTask, model: torch.nn.Module) -> str | None:
    """Why the run's decoding is not routed or probed (None: it is)."""
    opts = ctx.opts
    if not opts.device.startswith("cpu"):
        return f"not routed: --device {opts.device} (the kernels are CPU ones)"
    if opts.dtype != "float32":
        return f"not routed: --dtype {opts.dtype} (the choice is between fp32 kernels)"
    if not isinstance(model, T5) or not isinstance(task.decode_config, DecodeConfig) or task.predictor.scores_choices:
        return "the kernel choice covers encoder-decoder T5 decoding (generate) only: MKL"
    if opts.kernels == "auto" and ctx.dist.is_distributed:
        return "auto not probed under torchrun (each process would measure apart): MKL"
    return None


def _choose(ctx: RunContext, task: EvalTask, model: torch.nn.Module) -> dict[str, Any]:
    why = _not_routed(ctx, task, model)
    if why is not None:
        record: dict[str, Any] = {"mode": ctx.opts.kernels, "chosen": mkl_choice(), "note": why}
    else:
        model.eval()
        probe, where = first_batch_probe(ctx, task, model)
        _, record = choose(probe, ctx.opts.kernels)
        record["probe"] = where
    if ctx.dist.is_main:
        atomic_write_json(ctx.run_dir / KERNELS_FILE, record)
    if ctx.opts.kernels != "mkl":  # --kernels mkl (the default) only records what it measured
        ctx.log(record_line(record))
    return record


def first_batch_probe(ctx: RunContext, task: EvalTask, model: Any) -> tuple[KernelProbe, dict[str, Any]]:
    """The probe of the task's first decoding batch (as `decode_all` forms it) and what it covers."""
    decode = task.decode_config
    assert isinstance(decode, DecodeConfig)
    beam = max(1, decode.beam_size)
    first = length_sorted_batches([len(i) for i in task.input_ids], max(1, ctx.opts.batch_tokens // beam))[0]
    ids, mask = pad_ids([task.input_ids[i] for i in first])  # (B, S)
    device = next(model.parameters()).device
    ids, mask = ids.to(device), mask.to(device)
    rows, width = ids.shape
    exact = min(rows, EXACT_MAX_ROWS)

    def outputs(kernels: LinearKernels | None) -> list[list[int]]:
        with torch.inference_mode(), kernels if kernels is not None else contextlib.nullcontext():
            return generate(model, ids[:exact], mask[:exact], decode)

    probe = KernelProbe(shapes=class_shapes(model.config, rows, width, beam), outputs=outputs,
                        differences=rows_differences,
                        unit=decode_steps(model, ids, mask, (min(rows * beam, IN_SITU_MAX_ROWS),)))
    return probe, {"task": task.name, "rows": rows, "input_len": width, "beam": beam, "exact_rows": exact}
