"""Two gloo processes: a hung rank turns into a clear one-line error (gathering: test_dist_eval.py)."""

from __future__ import annotations

import time
from pathlib import Path

from t5eval.distributed.context import CollectiveError, barrier, init_distributed


def hang_part(out: Path) -> str:
    """On each rank, in a fresh process group: rank 1 hangs, rank 0's barrier must time out."""
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


def test_a_hung_rank_fails_the_collective_with_a_clear_error(dist_session: tuple[Path, dict[str, list]]) -> None:
    rank0, rank1 = dist_session[1]["hang"]
    waited, message = rank0.split("|", 1)
    assert rank1 == "slept"
    assert float(waited) < 4  # the timeout fired, not the peer's return
    assert message.startswith("rank 0/2: barrier failed")
    assert "T5EVAL_DIST_TIMEOUT_S" in message and "\n" not in message
