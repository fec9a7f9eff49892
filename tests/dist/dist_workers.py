"""Launch helpers for the distributed tests: N CPU processes on gloo, joined through torchrun's env vars.

Workers are module-level functions so `torch.multiprocessing.spawn` can pickle them; each writes its
result to `<out>/rank<r>.pt` (spawn returns nothing).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp


def free_ports(n: int) -> list[int]:
    """`n` distinct free localhost TCP ports for rendezvous (all held open while picking)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """A free localhost TCP port for the rendezvous."""
    return free_ports(1)[0]


def _entry(rank: int, world: int, port: int, fn: Callable[..., Any], out: Path, args: tuple) -> None:
    """Set torchrun's variables for `rank`, then run `fn(out, *args)` and save what it returns."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)  # 2 processes on a 2-core machine
    result = fn(out, *args)
    torch.save(result, out / f"rank{rank}.pt")


def spawn(fn: Callable[..., Any], world: int, out: Path, *args: Any, timeout_s: float = 400) -> list[Any]:
    """Run `fn(out, *args)` on `world` processes; return each rank's result, rank order.

    Fails (and kills the ranks) after `timeout_s` instead of hanging the test session.
    """
    procs = mp.start_processes(_entry, args=(world, free_port(), fn, out, args), nprocs=world,
                               join=False, start_method="spawn")
    deadline = time.monotonic() + timeout_s
    while not procs.join(timeout=2):
        if time.monotonic() > deadline:
            for p in procs.processes:
                p.kill()
            raise TimeoutError(f"ranks still running after {timeout_s:g} s (a collective hung?)")
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world)]


def _use_port(port: int) -> None:
    """A fresh rendezvous port for the next process group (reusing one races with the old store)."""
    os.environ["MASTER_PORT"] = str(port)  # torch's env:// rendezvous reads os.environ


def session_worker(out: Path, data_dir: Path, vocab: Path, ports: list[int]) -> dict[str, Any]:
    """Everything the 2-rank tests need, in one spawn (process start-up is most of the cost).

    Each part sets up and tears down its own process group on its own port; the hung-rank part goes
    last because it leaves rank 0's group broken.
    """
    from . import test_dist_collectives, test_dist_eval, test_dist_fsdp_run, test_dist_train

    _use_port(ports[0])
    result = {"eval": test_dist_eval.eval_part(out, data_dir, vocab)}
    _use_port(ports[1])
    result["train"] = test_dist_train.train_part(out)
    _use_port(ports[2])
    result["fsdp_run"] = test_dist_fsdp_run.fsdp_run_part(out)
    _use_port(ports[3])
    result["hang"] = test_dist_collectives.hang_part(out)
    return result
