"""Training checkpoints that work in one process, under DDP and under FSDP, and across world sizes.

Layout: `<root>/step_<N>/` holds a torch.distributed.checkpoint (DCP) directory with the model and
optimizer state, each rank writing its own shards, plus an optional small `extra.pt` that rank 0
writes (the trainer's stream, RNG and run state); `<root>/step_<N>/done.json` is written atomically
by rank 0 last, after every rank has finished, so an interrupted save is never resumed from. After
a complete save the other step folders are deleted (only the newest complete step is kept). DCP
reshards on load, so a run saved by 2 FSDP ranks resumes in 1 process, under DDP or on 4 ranks, and
a restarted torchrun job (`--max-restarts`) picks up the newest complete step.

Trust: torch's own reader unpickles a DCP folder's `.metadata` with no restriction, and its byte items
with `torch.load` outside weights-only mode, so a crafted folder could run code on resume. Here `done.json`,
written last by rank 0, holds the sha256 of every file of the step; a load first checks every file
against it and refuses (one line) a step without it, with a file it does not list, or with a file that
differs. Then `.metadata` is read by an unpickler that only builds DCP's own metadata records, paths
and torch sizes/dtypes (`_MetadataUnpickler`), and byte items with `weights_only=True`, so a folder
whose manifest was forged as well still runs no code.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.filesystem import FileSystemReader
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.planner import ReadItem
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from t5eval.distributed.context import DistContext, barrier
from t5eval.errors import T5evalError
from t5eval.io import atomic_torch_save, atomic_write_json, sha256_file
from t5eval.trust import load_torch_state, read_json_object

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
        atomic_write_json(out / DONE, {"step": step, "world_size": ctx.world_size, "files": _manifest(out)})
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
    verify_step(step_dir(root, step))
    model_sd, optim_sd = get_state_dict(wrapped, optimizer)
    state: dict[str, Any] = {"model": model_sd, "optim": optim_sd}
    with _quiet():
        reader = _SafeReader(step_dir(root, step), read_metadata(step_dir(root, step)))
        dcp.load(state, storage_reader=reader, planner=_SafePlanner(), no_dist=_no_dist(ctx))
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
    verify_step(path.parent)
    return load_torch_state(path, _fix(Path(root)))


def _fix(root: Path) -> str:
    return f"delete {root} to restart this training from its first step, or rerun with --overwrite"


def _manifest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file of a step folder but done.json (rank 0, after every rank saved)."""
    return {p.relative_to(folder).as_posix(): sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != DONE}


def verify_step(folder: Path) -> None:
    """Check every file of a step folder against the sha256 manifest of its done.json.

    Raises:
        T5evalError: no manifest (not saved by this t5eval), a file missing, added or changed.
    """
    root = Path(folder).parent
    done = read_json_object(Path(folder) / DONE, _fix(root))
    expected = done.get("files")
    if not isinstance(expected, dict) or not expected:
        raise T5evalError(f"{Path(folder) / DONE} lists no sha256 of the step's files (saved by an older t5eval, or "
                          f"not by t5eval), so {folder} is not loaded; {_fix(root)}")
    found = _manifest(Path(folder))
    bad = sorted(n for n in set(found) | set(expected) if found.get(n) != expected.get(n))
    if bad:
        what = "missing" if bad[0] not in found else "not listed" if bad[0] not in expected else "changed"
        raise T5evalError(f"{Path(folder) / bad[0]} is {what} since t5eval saved step {done.get('step')} "
                          f"(sha256 in {DONE}), so {folder} is not loaded; {_fix(root)}")


class _MetadataUnpickler(pickle.Unpickler):
    """Unpickles a DCP `.metadata`, building only DCP's metadata records and the plain torch/path types in
    them; any other global (a function that would run code) is refused."""

    _MODULES: ClassVar[dict[str, set[str]]] = {"torch.distributed.checkpoint.metadata": {
        "Metadata", "TensorStorageMetadata", "TensorProperties", "ChunkStorageMetadata", "BytesStorageMetadata",
        "MetadataIndex", "StorageMeta", "_MEM_FORMAT_ENCODING"},
        "torch.distributed.checkpoint.filesystem": {"_StorageInfo"},
        "torch.serialization": {"_get_layout"}, "pathlib": {"PosixPath", "WindowsPath", "PurePosixPath"},
        "collections": {"OrderedDict"}}

    def find_class(self, module: str, name: str) -> Any:
        allowed = self._MODULES.get(module, set())
        if module == "torch" and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)):
            allowed = {name}
        if name not in allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a checkpoint's metadata")
        return super().find_class(module, name)


def read_metadata(folder: Path) -> Metadata:
    """A step folder's DCP `.metadata`, built by `_MetadataUnpickler` (no code from the file runs).

    Raises:
        T5evalError: the file names anything but DCP's metadata records, or is damaged.
    """
    path = Path(folder) / ".metadata"
    fix = _fix(Path(folder).parent)
    try:
        metadata = _MetadataUnpickler(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, OSError) as err:
        raise T5evalError(f"{path} is not checkpoint metadata t5eval can read ({err}); {fix}") from err
    if not isinstance(metadata, Metadata):
        raise T5evalError(f"{path} holds a {type(metadata).__name__}, not checkpoint metadata; {fix}")
    return metadata


class _SafeReader(FileSystemReader):
    """`FileSystemReader` that hands DCP metadata already read by `read_metadata` (torch's own reader
    would unpickle the file with no restriction)."""

    def __init__(self, path: Path, metadata: Metadata) -> None:
        super().__init__(path)
        self._metadata = metadata

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        metadata = self._metadata
        if metadata.storage_meta is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class _SafePlanner(DefaultLoadPlanner):
    """`DefaultLoadPlanner` that reads byte items (non-tensor state) with `weights_only=True`."""

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        loaded = torch.load(value, weights_only=True)
        fqn = read_item.dest_index.fqn
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[fqn], loaded)
        else:
            self.state_dict[fqn] = loaded


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
