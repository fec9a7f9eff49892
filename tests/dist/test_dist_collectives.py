"""Two gloo processes: gathering by index, reductions, and a hung rank turning into a clear error."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dist_workers import spawn

from t5eval.distributed import (
    CollectiveError,
    all_reduce_sum,
    barrier,
    broadcast_object,
    gather_by_index,
    init_distributed,
    shard_indices,
    shutdown,
)


def _gather_worker(out: Path) -> dict[str, Any]:
    ctx = init_distributed(device="cpu")
    mine = {i: f"pred-{i}" for i in shard_indices(7, ctx, strided=True)}
    merged = gather_by_index(mine, ctx, expected=7)
    total = all_reduce_sum(float(len(mine)), ctx)
    run_id = broadcast_object(f"run-of-rank-{ctx.rank}", ctx)
    shutdown(ctx)
    return {"rank": ctx.rank, "mine": sorted(mine), "merged": list(merged.items()), "total": total, "id": run_id}


def test_gather_merges_all_ranks_in_index_order(tmp_path: Path) -> None:
    results = spawn(_gather_worker, 2, tmp_path)
    assert [r["mine"] for r in results] == [[0, 2, 4, 6], [1, 3, 5]]
    want = [(i, f"pred-{i}") for i in range(7)]
    assert all(r["merged"] == want for r in results)  # same merged dict on every rank
    assert [r["total"] for r in results] == [7.0, 7.0]
    assert [r["id"] for r in results] == ["run-of-rank-0", "run-of-rank-0"]


def _hung_peer_worker(out: Path) -> str:
    ctx = init_distributed(device="cpu", timeout_s=1.5)
    if ctx.rank == 1:
        time.sleep(4)  # never joins the barrier in time
        return "slept"
    start = time.perf_counter()
    try:
        barrier(ctx)
    except CollectiveError as err:
        return f"{time.perf_counter() - start:.1f}|{err}"
    return "no error"


def test_a_hung_rank_fails_the_collective_with_a_clear_error(tmp_path: Path) -> None:
    rank0, rank1 = spawn(_hung_peer_worker, 2, tmp_path)
    waited, message = rank0.split("|", 1)
    assert rank1 == "slept"
    assert float(waited) < 4  # the timeout fired, not the peer's return
    assert message.startswith("rank 0/2: barrier failed")
    assert "T5EVAL_DIST_TIMEOUT_S" in message and "\n" not in message
