"""Run under `torchrun --max-restarts 1`: rank 1 dies inside a collective on the first attempt.

The restarted attempt must re-form the process group (see `distributed._attempt_store`) and finish.
"""

from __future__ import annotations

import os
import signal
import time

from t5eval.distributed.context import CollectiveError, barrier, broadcast_object, init_distributed

attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
ctx = init_distributed(device="cpu", timeout_s=30)
broadcast_object("warm-up", ctx)
if attempt == 0 and ctx.rank == 1:
    time.sleep(1)
    os.kill(os.getpid(), signal.SIGKILL)
try:
    barrier(ctx)
except CollectiveError as err:
    print(f"attempt {attempt} rank {ctx.rank}: {str(err)[:40]}", flush=True)
    raise SystemExit(1) from None
print(f"attempt {attempt} rank {ctx.rank}: done", flush=True)
