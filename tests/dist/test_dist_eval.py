"""Sharded evaluation on 2 gloo ranks equals one process, example by example (real RTE inputs, tiny T5).

Reference: one process decodes every batch with `t5eval.model.generate`. The ranks decode the same
length-sorted batches split by `shard_batches` and merge with `gather_by_index`; under FSDP they
decode inside `full_params`. The same session also checks the small collectives.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from t5eval.batching import length_sorted_batches, pad_ids
from t5eval.eval.cache import MemoryCache, cache_key, decode_all
from t5eval.eval.sharded import prefill_decode_cache
from t5eval.distributed.parallel import full_params, wrap_model
from t5eval.distributed.context import (
    DistContext,
    all_reduce_sum,
    broadcast_object,
    gather_by_index,
    init_distributed,
    run_on_main,
    shard_indices,
    sharded_map,
    shutdown,
)
from t5eval.errors import T5evalError
from t5eval.model import T5, DecodeConfig, generate, load_model
from t5eval.tasks import TaskRegistry, load_examples
from t5eval.tokenizer import T5Tokenizer

N = 20
DECODE = DecodeConfig(beam_size=1, max_decode_len=12)
Rows = list[tuple[int, list[int]]]  # (example index, input ids)


def _model() -> T5:
    """The `tiny` preset with T5's random initialisation (seeded), in eval mode (no dropout)."""
    return load_model("tiny", init="random", seed=0).model.eval()


def _batches(data_dir: Path, vocab: Path) -> list[Rows]:
    """20 real RTE validation inputs, tokenized and grouped as the runner does (by length)."""
    spec = TaskRegistry.default().get("rte")
    examples = load_examples(spec, "validation", data_dir=data_dir, limit=N).examples
    tok = T5Tokenizer(vocab)
    ids = [tok.encode(ex.inputs) for ex in examples]
    groups = length_sorted_batches([len(i) for i in ids], batch_tokens=300)
    return [[(examples[i].index, ids[i]) for i in group] for group in groups]


def _decoder(model: T5, vocab: Path) -> Any:
    tok = T5Tokenizer(vocab)

    def decode(rows: Rows) -> dict[int, tuple[list[int], str]]:
        """One batch -> {example index: (generated ids, decoded text)}."""
        input_ids, mask = pad_ids([ids for _, ids in rows])  # (B, S)
        out = generate(model, input_ids, mask, DECODE)
        return {index: (ids, tok.decode(ids)) for (index, _), ids in zip(rows, out, strict=True)}

    return decode


def _main_error(ctx: DistContext) -> str:
    """A user error raised on rank 0 inside `run_on_main` reaches every rank."""

    def refuse() -> str:
        raise T5evalError(f"results/x exists (raised on rank {ctx.rank}); choose another --out")

    try:
        run_on_main(refuse, ctx)
    except T5evalError as err:
        return str(err)
    return "no error"


def eval_part(out: Path, data_dir: Path, vocab: Path) -> dict[str, Any]:
    """On each rank: sharded decoding (plain, FSDP, decode-cache prefill) and small collectives."""
    ctx = init_distributed(device="cpu")
    batches = _batches(data_dir, vocab)
    plain = sharded_map(_decoder(_model(), vocab), batches, ctx, expected=N)
    wrapped = wrap_model(_model(), ctx, fsdp=True)
    with full_params(wrapped) as model:
        sharded = sharded_map(_decoder(model, vocab), batches, ctx, expected=N)
    cache = MemoryCache()
    inputs = [ids for batch in batches for _, ids in batch]
    pre = prefill_decode_cache(_model(), inputs, DECODE, cache, ctx, batch_tokens=300,
                               weights_sha256="w", generate=generate)
    keys = [cache_key("w", dataclasses.asdict(DECODE), ids) for ids in inputs]
    mine = {i: f"pred-{i}" for i in shard_indices(7, ctx, strided=True)}
    result = {
        "n_batches": len(batches),
        "plain": list(plain.items()),
        "fsdp": list(sharded.items()),
        "prefill": (pre.decoded, [cache.get(k) for k in keys]),
        "mine": sorted(mine),
        "merged": list(gather_by_index(mine, ctx, expected=7).items()),
        "total": all_reduce_sum(float(len(mine)), ctx),
        "run_id": broadcast_object(f"run-of-rank-{ctx.rank}", ctx),
        "on_main": run_on_main(lambda: f"picked-by-rank-{ctx.rank}", ctx),
        "on_main_error": _main_error(ctx),
    }
    shutdown(ctx)
    return result


@pytest.fixture(scope="module")
def ranks(dist_session: tuple[Path, dict[str, list]]) -> list[dict[str, Any]]:
    return dist_session[1]["eval"]


@pytest.fixture(scope="module")
def single(data_dir: Path, vocab_path: Path) -> list[tuple[int, tuple[list[int], str]]]:
    decode = _decoder(_model(), vocab_path)
    preds: dict[int, tuple[list[int], str]] = {}
    for batch in _batches(data_dir, vocab_path):
        preds.update(decode(batch))
    return sorted(preds.items())


def test_sharded_eval_equals_single_process_example_by_example(ranks: list, single: list) -> None:
    assert ranks[0]["n_batches"] >= 4  # both ranks really got several batches
    assert [i for i, _ in single] == list(range(N))
    assert len({tuple(ids) for _, (ids, _) in single}) > 1  # not one constant output for every input
    for rank in ranks:  # every rank ends with the full, index-ordered merge
        assert rank["plain"] == single


def test_fsdp_sharded_eval_equals_single_process(ranks: list, single: list) -> None:
    for rank in ranks:
        assert rank["fsdp"] == single


def test_prefill_fills_every_rank_cache_as_decode_all_would(ranks: list, data_dir: Path, vocab_path: Path) -> None:
    """The runner's path: ranks fill their caches; one process's `decode_all` gives the same ids."""
    inputs = [ids for batch in _batches(data_dir, vocab_path) for _, ids in batch]
    want, _ = decode_all(_model(), inputs, DECODE, generate, batch_tokens=300, weights_sha256="w")
    for rank in ranks:
        assert rank["prefill"] == (N, want)


def test_collectives_merge_reduce_and_broadcast(ranks: list) -> None:
    assert [r["mine"] for r in ranks] == [[0, 2, 4, 6], [1, 3, 5]]
    assert all(r["merged"] == [(i, f"pred-{i}") for i in range(7)] for r in ranks)
    assert [r["total"] for r in ranks] == [7.0, 7.0]
    assert [r["run_id"] for r in ranks] == ["run-of-rank-0", "run-of-rank-0"]
    assert [r["on_main"] for r in ranks] == ["picked-by-rank-0", "picked-by-rank-0"]
    want = "results/x exists (raised on rank 0); choose another --out"
    assert [r["on_main_error"] for r in ranks] == [want, want]
