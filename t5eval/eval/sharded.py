"""Sharded decoding for `t5eval run` under torchrun: fill every rank's decode cache, then score as usual.

`prefill_decode_cache` splits the inputs the decode cache does not hold yet into the very batches a
single process would form (`length_sorted_batches` with the same budget), gives whole batches to
ranks (`shard_batches`), and gathers the generated ids by example index. Every rank then holds every
prediction, so the runner's ordinary `evaluate` (cache hits only) computes the same metrics on all
ranks, which keeps the best-step bookkeeping identical, and rank 0 alone writes files.

Only rank 0's cache is on disk (`<task>/decode_cache.jsonl`); other ranks keep a `MemoryCache`, and
rank 0 broadcasts what it already had, so a restarted run decodes only what is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

import torch

from t5eval.batching import length_sorted_batches, pad_ids
from t5eval.distributed.context import DistContext, broadcast_object, sharded_map
from t5eval.eval.cache import cache_key

GenerateFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, Any], list[list[int]]]


@dataclass
class Prefill:
    """What one prefill decoded across all ranks (for the run's throughput record)."""

    decoded: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0


def _settings(decode_config: Any) -> dict[str, Any]:
    if is_dataclass(decode_config) and not isinstance(decode_config, type):
        return asdict(decode_config)
    return dict(decode_config)


def _known(cache: Any, keys: list[str], ctx: DistContext) -> dict[int, list[int]]:
    """Rank 0's cached outputs for these keys, on every rank (rank 0's cache is the one on disk)."""
    known = {i: ids for i, key in enumerate(keys) if (ids := cache.get(key)) is not None} if ctx.is_main else {}
    return broadcast_object(known, ctx)


def prefill_decode_cache(
    model: torch.nn.Module,
    inputs: Sequence[list[int]],
    decode_config: Any,
    cache: Any,
    ctx: DistContext,
    *,
    batch_tokens: int,
    weights_sha256: str,
    generate: GenerateFn,
    advance: Callable[[int], None] | None = None,
) -> Prefill:
    """Decode the uncached `inputs` across ranks and put every output into each rank's `cache`.

    Batches are formed exactly as `decode_cache.decode_all` forms them in one process (length-sorted,
    `batch_tokens // beam_size` padded tokens), so each row's output equals the one-process output.
    """
    settings = _settings(decode_config)
    keys = [cache_key(weights_sha256, settings, ids) for ids in inputs]
    known = _known(cache, keys, ctx)
    todo = [i for i in range(len(inputs)) if i not in known]
    budget = max(1, batch_tokens // max(1, settings.get("beam_size", 1)))
    batches = [[todo[g] for g in group] for group in length_sorted_batches([len(inputs[i]) for i in todo], budget)]
    model.eval()
    device = next(model.parameters()).device
    done_here = [0]

    def run_batch(rows: list[int]) -> dict[int, list[int]]:
        ids, mask = pad_ids([inputs[i] for i in rows])  # (B, S)
        with torch.inference_mode():
            out = generate(model, ids.to(device), mask.to(device), decode_config)
        done_here[0] += len(rows)
        if advance is not None:
            advance(len(rows))
        return {i: list(g) for i, g in zip(rows, out, strict=True)}

    start = time.perf_counter()
    new = sharded_map(run_batch, batches, ctx, expected=len(todo))
    seconds = time.perf_counter() - start
    if advance is not None and len(new) > done_here[0]:
        advance(len(new) - done_here[0])  # the other ranks' rows, once gathered
    fresh = new if ctx.is_main else {**known, **new}  # rank 0 already holds `known`
    cache.put_many([(keys[i], ids) for i, ids in sorted(fresh.items())])
    return Prefill(len(new), sum(len(g) for g in new.values()), seconds if new else 0.0)


def credit_prefill(stats: Any, pre: Prefill) -> None:
    """Move prefilled examples from `cached` to `decoded` in a task's `DecodeStats` after `evaluate`."""
    stats.cached -= pre.decoded
    stats.decoded += pre.decoded
    stats.generated_tokens += pre.generated_tokens
    stats.seconds += pre.seconds
