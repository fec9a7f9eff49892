"""Fine-tuning checkpoints of both kinds, and which one a restarted run resumes from.

- **One file** (`<task>/checkpoint.pt`): model, optimizer, stream, RNG and `TrainState` in one
  `torch.save`, written atomically by rank 0. One process and DDP (whose replicas are identical).
- **Sharded** (`<task>/checkpoint_dcp/step_<N>/`, `t5eval.distributed.checkpoint`): under FSDP every rank
  writes its own model and optimizer shards (torch.distributed.checkpoint), rank 0 adds `extra.pt`
  (stream, RNG, `TrainState`), and `done.json`, written last, marks the step complete; only the
  newest complete step is kept. No rank ever holds the whole model for a save.

Either kind resumes either way: a one-file checkpoint is loaded into the plain model before FSDP
shards it, and DCP reshards a sharded one onto DDP or one process. Each save deletes the other kind,
so a run that switched between `--fsdp` and DDP keeps one checkpoint (if a crash left both, the
higher step wins).

Trust: a checkpoint is read from whatever folder is resumed, so it is never unpickled freely. The one
file and `extra.pt` are read with `torch.load(weights_only=True)` (tensors and plain values only:
model and optimizer state, RNG state as a uint8 tensor, stream position and run state as dicts,
lists, numbers incl. NaN, strings and None; `t5eval.trust.load_torch_state`), which round-trips them
exactly, so a resume stays bit-exact. Sharded steps are checked against the sha256 manifest in their
`done.json` and read without unpickling code (`t5eval.distributed.checkpoint`). A damaged file is a
one-line error naming it and the fix.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from t5eval.distributed.checkpoint import latest_step, load_checkpoint, load_extra, save_checkpoint
from t5eval.distributed.context import DistContext, barrier
from t5eval.io import atomic_torch_save
from t5eval.trust import load_torch_state, require_keys

ONE_FILE, SHARDED = "one-file", "sharded"


class Resumable(Protocol):
    """A batch stream a checkpoint can restore (`TrainStream`, the pre-training `ExampleStream`)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def sharded_root(path: Path) -> Path:
    """The sharded checkpoint folder beside the one-file checkpoint `path` (checkpoint_dcp/)."""
    return Path(path).with_name(f"{Path(path).stem}_dcp")


def damaged_fix(path: Path) -> str:
    """The fix a refusal of the checkpoint at `path` names: delete it (training restarts), or --overwrite."""
    return (f"delete {path} to restart this training from its first step (other finished work is kept), "
            "or rerun with --overwrite to start the whole folder afresh")


def read_one_file(path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """A one-file checkpoint's dict, read without running code from it (tensors and plain values only).

    Raises:
        T5evalError: empty, truncated, corrupt, not written by t5eval, or missing a part (one line, with the fix).
    """
    ckpt = load_torch_state(path, damaged_fix(path), mmap=mmap)
    require_keys(ckpt, ("model", "optimizer", "stream", "torch_rng", "state"), path, damaged_fix(path))
    return ckpt


def _one_file_step(path: Path) -> int:
    """The step saved in a one-file checkpoint (memory-mapped: the weights are not read)."""
    return int(read_one_file(path, mmap=True)["state"]["step"])


def resume_kind(path: Path) -> str | None:
    """`ONE_FILE`, `SHARDED` or None (nothing to resume) for the checkpoint at `path`.

    Raises:
        T5evalError: the one file is damaged (read here to compare its step with a sharded one's).
    """
    one = Path(path).is_file()
    sharded = latest_step(sharded_root(path))
    if not one:
        return None if sharded is None else SHARDED
    if sharded is None:
        return ONE_FILE
    return SHARDED if sharded > _one_file_step(path) else ONE_FILE


def resume_source(path: Path) -> str | None:
    """Where a resume reads from, for the log line; None when there is nothing to resume."""
    kind = resume_kind(path)
    return None if kind is None else str(sharded_root(path) if kind == SHARDED else path)


def drop_checkpoints(path: Path) -> None:
    """Delete both kinds (a finished task needs only its best weights); rank 0 only."""
    Path(path).unlink(missing_ok=True)
    shutil.rmtree(sharded_root(path), ignore_errors=True)


def trainer_extra(stream: Resumable, state: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint holds besides model and optimizer: stream, RNG and run state."""
    return {"stream": stream.state_dict(), "torch_rng": torch.get_rng_state(), "state": state}


def _restore_extra(extra: dict[str, Any], stream: Resumable) -> dict[str, Any]:
    stream.load_state_dict(extra["stream"])
    torch.set_rng_state(extra["torch_rng"])
    return dict(extra["state"])


def save_one_file(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, stream: Resumable,
                  state: dict[str, Any], ctx: DistContext) -> None:
    """Rank 0 writes the one-file checkpoint (and drops a sharded one); every rank must call it."""
    if ctx.is_main:
        atomic_torch_save(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                 **trainer_extra(stream, state)})
        shutil.rmtree(sharded_root(path), ignore_errors=True)
    barrier(ctx)


def load_one_file(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                  stream: Resumable) -> dict[str, Any]:
    """Restore model, optimizer, stream and RNG from a one-file checkpoint; returns the run state."""
    ckpt = read_one_file(path)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return _restore_extra(ckpt, stream)


def save_sharded(path: Path, wrapped: nn.Module, optimizer: torch.optim.Optimizer, stream: Resumable,
                 state: dict[str, Any], ctx: DistContext) -> None:
    """Every rank saves its shards at `state["step"]`; rank 0 then drops a one-file checkpoint."""
    extra = trainer_extra(stream, state) if ctx.is_main else None
    save_checkpoint(wrapped, optimizer, int(state["step"]), sharded_root(path), ctx, extra=extra)
    if ctx.is_main:
        Path(path).unlink(missing_ok=True)
    barrier(ctx)


def load_sharded(path: Path, wrapped: nn.Module, optimizer: torch.optim.Optimizer, stream: Resumable,
                 ctx: DistContext) -> dict[str, Any]:
    """Load the newest complete sharded step into a `wrap_model` result (FSDP, DDP or one process)."""
    root = sharded_root(path)
    step = load_checkpoint(wrapped, optimizer, root, ctx)
    return _restore_extra(load_extra(root, step), stream)
