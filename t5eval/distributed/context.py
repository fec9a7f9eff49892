"""Data parallelism under `torchrun`: process groups, sharded evaluation, DDP/FSDP training.

`torchrun --nproc-per-node N -m t5eval run …` starts N copies of the same command. Each copy calls
`init_distributed()`, which reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT) and joins the process group: NCCL when the run is on CUDA, gloo on CPU. Without those
variables it returns a one-process context and creates no process group, so a plain `t5eval run`
behaves exactly as before.

Equivalence with a single process (what the tests in `tests/dist/` check):
- evaluation: every rank decodes whole single-process batches (`shard_batches`), so each row sees the
  same padding and batch shape as in one process; `gather_by_index` merges by example index.
- training: one optimizer step takes `grad_accum` micro-batches, as in one process; rank r trains on
  micro-batches r, r+N, … with the loss scaled by N / grad_accum (`dist_train.BatchPlan`), so the
  averaged gradient is the one-process gradient. Every rank draws the same stream from the run seed,
  and dropout masks come from a seed per micro-batch (`dist_train.micro_batch_seed`), so runs on
  any number of ranks agree to float rounding.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import torch
import torch.distributed as dist

from t5eval.errors import T5evalError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_ENV = "T5EVAL_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 1800.0
CPU = torch.device("cpu")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class CollectiveError(T5evalError):
    """A collective failed: another rank died, or a rank waited longer than the timeout.

    Subclasses `T5evalError` so the CLI prints one line (`error: rank 0: …`) and exits 2 instead of
    a traceback per rank; torchrun then stops the other ranks (or restarts all, with --max-restarts).
    """


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the run. `world_size == 1` and `backend is None`: no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = CPU
    backend: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes results, logs and progress bars."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when a process group exists (launched by torchrun)."""
        return self.backend is not None


def is_main_process(env: Mapping[str, str] | None = None) -> bool:
    """True unless torchrun started this process as a rank other than 0 (for printing in the CLI)."""
    return (os.environ if env is None else env).get("RANK", "0") == "0"


def _timeout_s(timeout_s: float | None, env: Mapping[str, str]) -> float:
    """The collective timeout: the argument, else $T5EVAL_DIST_TIMEOUT_S, else 30 minutes."""
    if timeout_s is not None:
        return float(timeout_s)
    raw = env.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        return float(raw)
    except ValueError:
        raise T5evalError(f"${TIMEOUT_ENV}={raw!r} is not a number of seconds; set e.g. 600") from None


def _pick_device(device: str | None, local_rank: int) -> tuple[torch.device, str]:
    """CUDA (device cuda:LOCAL_RANK, NCCL) when asked for or available, else CPU with gloo."""
    want_cuda = device.startswith("cuda") if device else torch.cuda.is_available()
    if want_cuda:
        if not torch.cuda.is_available():
            raise T5evalError(f"--device {device} but CUDA is not available; use --device cpu")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank), "nccl"
    return torch.device("cpu"), "gloo"


def init_distributed(
    device: str | None = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> DistContext:
    """Join torchrun's process group, or return a one-process context when not under torchrun.

    Args:
        device: "cpu", "cuda" or None (CUDA when available). Under torchrun each rank uses
            cuda:LOCAL_RANK with NCCL, or the CPU with gloo.
        timeout_s: how long a collective may wait for the other ranks before failing
            (default $T5EVAL_DIST_TIMEOUT_S, else 1800 s).
        env: the environment to read (default `os.environ`).

    Raises:
        T5evalError: only some of torchrun's variables are set, or they are not integers.
    """
    env = os.environ if env is None else env
    present = [k for k in TORCHRUN_ENV if k in env]
    timeout = _timeout_s(timeout_s, env)
    if not present:
        return DistContext(device=torch.device(device or "cpu"), timeout_s=timeout)
    missing = [k for k in TORCHRUN_ENV if k not in env]
    if missing:
        raise T5evalError(
            f"torchrun environment incomplete: {', '.join(missing)} not set (found {', '.join(present)}); "
            "launch with torchrun, or unset these variables for a single-process run"
        )
    try:
        rank, world, local = (int(env[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise T5evalError("RANK, WORLD_SIZE and LOCAL_RANK must be integers; launch with torchrun") from None
    dev, backend = _pick_device(device, local)
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            store=_attempt_store(env, rank, world, timeout),
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=timeout),
            device_id=dev if backend == "nccl" else None,
        )
    return DistContext(rank, world, local, dev, backend, timeout)


def _attempt_store(env: Mapping[str, str], rank: int, world: int, timeout: float) -> dist.Store:
    """The rendezvous store, with keys under this torchrun attempt (TORCHELASTIC_RESTART_COUNT).

    Seen with torch 2.13: after a rank dies inside a collective, the ranks torchrun restarts
    (--max-restarts) find the dead attempt's gloo addresses under the same keys and fail with
    "connectFullMesh failed … Connection refused". A per-attempt key prefix avoids that.
    """
    agent_store = env.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # torchrun hosts the store
    store = dist.TCPStore(
        env["MASTER_ADDR"], int(env["MASTER_PORT"]), world, is_master=rank == 0 and not agent_store,
        timeout=datetime.timedelta(seconds=timeout),
    )
    return dist.PrefixStore(f"t5eval/attempt_{env.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (a no-op for a single process)."""
    if ctx.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def _collective(name: str, ctx: DistContext) -> Iterator[None]:
    """Turn a backend failure inside a collective into one clear line naming the rank and the fix."""
    try:
        yield
    except (RuntimeError, OSError) as err:  # DistBackendError is a RuntimeError
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CollectiveError(
            f"rank {ctx.rank}/{ctx.world_size}: {name} failed ({first[:200]}); another rank died or "
            f"waited over {ctx.timeout_s:g} s (${TIMEOUT_ENV}); see torchrun's log for the failed rank, "
            "then rerun (or use torchrun --max-restarts): training resumes from the last checkpoint"
        ) from err


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (a no-op for a single process)."""
    if ctx.is_distributed:
        with _collective("barrier", ctx):
            dist.barrier()


def all_reduce_sum(value: float, ctx: DistContext) -> float:
    """Sum a number over ranks (token counts, losses for logging)."""
    if not ctx.is_distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    with _collective("all_reduce", ctx):
        dist.all_reduce(t)
    return float(t.item())


def broadcast_object(obj: T, ctx: DistContext) -> T:
    """Rank 0's value on every rank (a run id, a resume step)."""
    if not ctx.is_distributed:
        return obj
    box = [obj]
    with _collective("broadcast_object", ctx):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def run_on_main(fn: Callable[[], T], ctx: DistContext) -> T:
    """Run `fn` on rank 0 only and hand its result to every rank (e.g. picking the run folder).

    A `T5evalError` raised on rank 0 is raised on every rank too, so no rank waits for a result
    that will never come.
    """
    if not ctx.is_distributed:
        return fn()
    outcome: tuple[str, Any] = ("ok", None)
    if ctx.is_main:
        try:
            outcome = ("ok", fn())
        except T5evalError as err:
            outcome = ("error", str(err))
    kind, value = broadcast_object(outcome, ctx)
    if kind == "error":
        raise T5evalError(value)
    return value


# --- sharded evaluation ------------------------------------------------------------------------


def shard_indices(n: int, ctx: DistContext, strided: bool = False) -> list[int]:
    """This rank's positions among `n` items: contiguous blocks (sizes differ by at most 1), or strided.

    Every position is owned by exactly one rank; the split depends only on (n, rank, world_size).
    """
    if strided:
        return list(range(ctx.rank, n, ctx.world_size))
    base, extra = divmod(n, ctx.world_size)
    start = ctx.rank * base + min(ctx.rank, extra)
    return list(range(start, start + base + (1 if ctx.rank < extra else 0)))


def shard_batches(batches: Sequence[T], ctx: DistContext) -> list[T]:
    """Whole single-process batches for this rank, strided (rank r takes batches r, r+N, …).

    Sharding by batch rather than by row keeps each row's padding and batch shape as in a one-process
    run, so greedy/beam outputs are bit-identical; strided keeps the length-sorted batches balanced.
    """
    return [batches[i] for i in shard_indices(len(batches), ctx, strided=True)]


def gather_by_index(local: Mapping[int, T], ctx: DistContext, expected: int | None = None) -> dict[int, T]:
    """Merge every rank's {example index: value} into one dict ordered by index (on all ranks).

    Raises:
        RuntimeError: two ranks produced the same index, or the total is not `expected`.
    """
    parts: list[Mapping[int, T]] = [local]
    if ctx.is_distributed:
        parts = [{} for _ in range(ctx.world_size)]
        with _collective("all_gather_object", ctx):
            dist.all_gather_object(parts, dict(local))
    merged: dict[int, T] = {}
    for part in parts:
        clash = merged.keys() & part.keys()
        if clash:
            raise RuntimeError(f"example indices decoded on two ranks: {sorted(clash)[:5]}")
        merged.update(part)
    if expected is not None and len(merged) != expected:
        raise RuntimeError(f"gathered {len(merged)} predictions, expected {expected}")
    return dict(sorted(merged.items()))


def sharded_map(
    fn: Callable[[T], Mapping[int, R]], batches: Sequence[T], ctx: DistContext, expected: int | None = None
) -> dict[int, R]:
    """Run `fn` (one batch -> {index: value}) on this rank's batches and gather all ranks' results."""
    local: dict[int, R] = {}
    for batch in shard_batches(batches, ctx):
        local.update(fn(batch))
    return gather_by_index(local, ctx, expected)
