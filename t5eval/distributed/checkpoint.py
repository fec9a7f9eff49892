"""Training checkpoints that work in one process, under DDP and under FSDP, and across world sizes.

Layout: `<root>/step_<N>/` holds a torch.distributed.checkpoint (DCP) directory with the model and
optimizer state, each rank writing its own shards, plus an optional small `extra.pt` that rank 0
writes (the trainer's stream, RNG and run state); `<root>/step_<N>/done.json` is written atomically
by rank 0 last, after every rank has finished, so an interrupted save is never resumed from. After
a complete save the other step folders are deleted (only the newest complete step is kept). DCP
reshards on load, so a run saved by 2 FSDP ranks resumes in 1 process, under DDP or on 4 ranks, and
a restarted torchrun job (`--max-restarts`) picks up the newest complete step.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from t5eval.distributed.context import DistContext, barrier
from t5eval.errors import T5evalError
from t5eval.io import atomic_torch_save, atomic_write_json

DONE = "done.json"
EXTRA = "extra.pt"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def step_dir(root: Path, step: int) -> Path:
    """`<root>/step_<step>` (zero-padded so a listing sorts by step)."""
    return Path(root) / f"step_{step:08d}"


def latest_step(root: Path) -> int | None:
    """The newest step under `root` whose save completed (has done.json), or None."""
    steps = [
        int(m.group(1))
        for p in Path(root).glob("step_*")
        if (m := _STEP_DIR.match(p.name)) and (p / DONE).is_file()
    ]
    return max(steps) if steps else None


def _no_dist(ctx: DistContext) -> bool:
    """DCP without a process group must be told so (one-process runs)."""
    return not ctx.is_distributed


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """DCP warns that it 'assumes' a single process even when told `no_dist=True`: hide that line."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def save_checkpoint(
    wrapped: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    root: Path,
    ctx: DistContext,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save model + optimizer state of a `wrap_model` result at `step`; every rank must call it.

    `extra` (rank 0's, any picklable dict) goes to `step_<N>/extra.pt`. A torn folder of the same step
    is cleared first; a complete one is kept as it is (same step, same weights) and only its extra
    is replaced. Once `done.json` is written, the other step folders are deleted.
    """
    out = step_dir(root, step)
    complete = (out / DONE).is_file()
    if ctx.is_main and out.exists() and not complete:
        shutil.rmtree(out)
    barrier(ctx)
    if not complete:
        model_sd, optim_sd = get_state_dict(wrapped, optimizer)
        with _quiet():
            dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=out, no_dist=_no_dist(ctx))
        barrier(ctx)
    if ctx.is_main:
        if extra is not None:
            atomic_torch_save(out / EXTRA, extra)
        atomic_write_json(out / DONE, {"step": step, "world_size": ctx.world_size})
        for old in Path(root).glob("step_*"):
            if old != out and _STEP_DIR.match(old.name):
                shutil.rmtree(old, ignore_errors=True)
    barrier(ctx)
    return out


def load_checkpoint(
    wrapped: nn.Module, optimizer: torch.optim.Optimizer, root: Path, ctx: DistContext, step: int | None = None
) -> int:
    """Load the newest complete checkpoint (or `step`) into model and optimizer; returns its step.

    Raises:
        T5evalError: no complete checkpoint under `root`, or the requested step is missing.
    """
    step = latest_step(root) if step is None else step
    if step is None or not (step_dir(root, step) / DONE).is_file():
        raise T5evalError(f"no complete checkpoint {'' if step is None else f'for step {step} '}under {root}; "
                          "drop --resume or point it at a run's checkpoints folder")
    model_sd, optim_sd = get_state_dict(wrapped, optimizer)
    state: dict[str, Any] = {"model": model_sd, "optim": optim_sd}
    with _quiet():
        dcp.load(state, checkpoint_id=step_dir(root, step), no_dist=_no_dist(ctx))
    set_state_dict(wrapped, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    return step


def load_extra(root: Path, step: int) -> dict[str, Any]:
    """The `extra` dict saved with `step` (every rank may read it).

    Raises:
        T5evalError: the step folder has no extra.pt (saved without one, e.g. by another program).
    """
    path = step_dir(root, step) / EXTRA
    if not path.is_file():
        raise T5evalError(f"{path} is missing, so {path.parent} cannot be resumed by t5eval run; "
                          f"delete {Path(root)} to start this fine-tuning afresh")
    return dict(torch.load(path, map_location="cpu", weights_only=False))  # our own file


def full_model_state(wrapped: nn.Module, ctx: DistContext) -> dict[str, torch.Tensor]:
    """The whole inner model's state dict on CPU (FSDP shards gathered); empty on ranks other than 0.

    Keys are the inner model's own (the `LossModule` prefix `inner.` is dropped), ready for
    `t5eval.model.save_model`-style export. Every rank must call it (it is a collective under FSDP).
    """
    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    sd = get_model_state_dict(wrapped, options=opts)
    if not ctx.is_main:
        return {}
    return {k.removeprefix("inner."): v for k, v in sd.items() if isinstance(v, torch.Tensor)}
