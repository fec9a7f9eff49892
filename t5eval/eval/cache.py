"""Cached, length-bucketed decoding: predictions keyed by (weights, input ids, decode settings).

A decoded example is appended to `<task>/decode_cache.jsonl` (fsync'd per batch) under the sha256 of
the weights' hash, the decode settings and the input ids, so a killed run restarted with the same
command decodes only what it had not finished. A torn last line is cut on open (`t5eval.io`).
Batches are formed by length (`length_sorted_batches`) and the outputs restored to input order.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from t5eval.batching import in_precision, length_sorted_batches, pad_ids
from t5eval.io import JsonlAppender, iter_jsonl


def cache_key(weights_sha256: str, decode: dict[str, Any], input_ids: Sequence[int]) -> str:
    """Key of one decoded example: sha256 of weights hash, decode settings and input ids."""
    settings = ",".join(f"{k}={decode[k]}" for k in sorted(decode))
    payload = f"{weights_sha256}|{settings}|{','.join(map(str, input_ids))}"
    return hashlib.sha256(payload.encode()).hexdigest()


class MemoryCache:
    """In-memory map from `cache_key` to generated ids; `hits`/`misses` count lookups.

    Ranks other than 0 use it as is under torchrun (only rank 0 writes files).
    """

    def __init__(self) -> None:
        self._entries: dict[str, list[int]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> list[int] | None:
        """Cached ids for `key`, counting a hit or a miss."""
        ids = self._entries.get(key)
        self.hits += ids is not None
        self.misses += ids is None
        return ids

    def put_many(self, items: Sequence[tuple[str, list[int]]]) -> None:
        """Store several entries."""
        self._entries.update(items)

    def close(self) -> None:
        """Nothing to close."""


class DecodeCache(MemoryCache):
    """`MemoryCache` backed by an append-only JSONL file that survives a killed run."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._appender = JsonlAppender(self.path)  # cuts a torn last line first
        self._entries = {row["key"]: row["ids"] for row in iter_jsonl(self.path)}

    def put_many(self, items: Sequence[tuple[str, list[int]]]) -> None:
        """Store and durably append (fsync) several entries at once."""
        self._appender.append_many({"key": k, "ids": ids} for k, ids in items)
        super().put_many(items)

    def close(self) -> None:
        """Close the underlying file."""
        self._appender.close()


GenerateFn = Callable[..., list[list[int]]]  # t5eval.model.generate(model, ids, mask, DecodeConfig)


@dataclass
class DecodeStats:
    """What one `decode_all` call did: examples decoded vs served from cache, tokens and time."""

    decoded: int = 0
    cached: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second of decoding (0 when nothing was decoded)."""
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0


def _cached_outputs(keys: list[str], cache: MemoryCache | None) -> list[list[int] | None]:
    """The cached output of each key, None where it must be decoded."""
    return [cache.get(key) if cache is not None else None for key in keys]


def decode_all(
    model: torch.nn.Module,
    inputs: Sequence[list[int]],
    decode_config: Any,
    generate: GenerateFn,
    *,
    batch_tokens: int,
    weights_sha256: str,
    cache: MemoryCache | None = None,
    advance: Callable[[int], None] | None = None,
    dtype: str = "float32",
) -> tuple[list[list[int]], DecodeStats]:
    """Decode every input (cached ones are skipped), in length-sorted batches; outputs in input order.

    Args:
        model: the T5 model (put in eval mode here).
        inputs: encoder id lists, not cut (T5 evaluates with full-length inputs).
        decode_config: a `DecodeConfig` (beam_size, alpha, max_decode_len).
        generate: `t5eval.model.generate`.
        batch_tokens: padded input-token budget per batch, divided by the beam size.
        weights_sha256: identifies the weights, for the cache key.
        cache: where finished predictions are stored; None decodes everything.
        advance: progress callback, called with the number of examples just finished.
        dtype: "float32", or "bfloat16" (autocast). Not in the cache key: a run dir holds one dtype
            (it is in the run's settings fingerprint), as the distributed prefill assumes too.
    Returns:
        Generated ids per input (as `generate` returns them) and the stats.
    """
    settings = _decode_settings(decode_config)
    keys = [cache_key(weights_sha256, settings, ids) for ids in inputs]
    outputs = _cached_outputs(keys, cache)
    stats = DecodeStats()
    todo = [i for i, out in enumerate(outputs) if out is None]
    stats.cached = len(inputs) - len(todo)
    if advance and stats.cached:
        advance(stats.cached)
    budget = max(1, batch_tokens // max(1, settings.get("beam_size", 1)))
    model.eval()
    device = next(model.parameters()).device
    generate = in_precision(generate, device, dtype)
    for group in length_sorted_batches([len(inputs[i]) for i in todo], budget):
        rows = [todo[g] for g in group]
        ids, mask = pad_ids([inputs[i] for i in rows])  # (B, S)
        start = time.perf_counter()
        with torch.inference_mode():
            generated = generate(model, ids.to(device), mask.to(device), decode_config)
        stats.seconds += time.perf_counter() - start
        for i, gen in zip(rows, generated, strict=True):
            outputs[i] = list(gen)
        stats.generated_tokens += sum(len(g) for g in generated)
        stats.decoded += len(rows)
        stats.batch_sizes.append(len(rows))
        if cache is not None:
            cache.put_many([(keys[i], outputs[i]) for i in rows])  # type: ignore[misc]
        if advance:
            advance(len(rows))
    return [o if o is not None else [] for o in outputs], stats


def _decode_settings(decode_config: Any) -> dict[str, Any]:
    """The decode settings as a plain dict (a dataclass or a dict)."""
    if isinstance(decode_config, dict):
        return dict(decode_config)
    from dataclasses import asdict, is_dataclass

    if is_dataclass(decode_config):
        return asdict(decode_config)  # type: ignore[arg-type]
    raise TypeError(f"decode config must be a dict or a dataclass, got {type(decode_config).__name__}")
