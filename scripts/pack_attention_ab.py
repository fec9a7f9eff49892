"""Forward + backward on the same SST-2 examples: padded buckets, packed rows, and row-wide attention.

A fixed-work A/B (no stream, no optimizer) for the packed attention of `t5eval.model.segments`: the same
`--examples` SST-2 train examples are laid out as padded length buckets (`length_sorted_batches`, the
padded stream's layout), as packed rows of each `--pack-length` with per-example attention, and as packed
rows whose attention spans the whole row ("row-wide": every row one segment, i.e. the L² cost of a
segment mask over the row, as before per-example attention; its losses differ, only its time counts).
Each layout's micro-batches of `--batch-tokens` run `loss * n_targets` backward, in train mode (dropout
0.1); the layouts alternate, `--rounds` times after one warm-up round.

    PYTHONPATH=$PWD python scripts/pack_attention_ab.py --examples 256 --rounds 3 --threads 1 \
        --data-dir ../shared/data --vocab ../shared/vocab/t5_spiece.model
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from pack_throughput import sst2_source  # scripts/ is on sys.path when this script runs

from t5eval.batching import TrainBatch, length_sorted_batches, make_train_batch, pack_greedy, pack_rows
from t5eval.model import load_model
from t5eval.train.loop import set_dropout


def padded(inputs: list[list[int]], targets: list[list[int]], batch_tokens: int) -> list[TrainBatch]:
    lengths = [len(x) + len(y) for x, y in zip(inputs, targets, strict=True)]
    return [make_train_batch([inputs[i] for i in b], [targets[i] for i in b])
            for b in length_sorted_batches(lengths, batch_tokens)]


def packed(inputs: list[list[int]], targets: list[list[int]], length: int, batch_tokens: int,
           row_wide: bool) -> list[TrainBatch]:
    rows = pack_greedy([(len(x), len(y)) for x, y in zip(inputs, targets, strict=True)], length)
    per_batch = max(1, batch_tokens // (2 * length))  # rows of `length` inputs + `length` targets
    out = []
    for at in range(0, len(rows), per_batch):
        batch = pack_rows([[(inputs[i], targets[i]) for i in row] for row in rows[at:at + per_batch]])
        if row_wide and batch.packing is not None:
            seg_in, seg_tgt, positions = batch.packing
            batch.packing = ((seg_in > 0).long(), (seg_tgt > 0).long(), positions)
        out.append(batch)
    return out


def run_layout(model: Any, batches: list[TrainBatch]) -> float:
    """Seconds for forward + backward of every micro-batch (gradients dropped)."""
    start = time.perf_counter()
    for batch in batches:
        loss = model.loss(batch.input_ids, batch.attention_mask, batch.labels, batch.packing)
        (loss * batch.n_target_tokens).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="t5-small")
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--pack-length", type=int, nargs="+", default=[512, 128])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--vocab", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    source = sst2_source(args.data_dir, args.vocab, args.examples)
    inputs, targets = [list(x) for x in source.inputs], [list(y) for y in source.targets]
    layouts = {"padded": padded(inputs, targets, args.batch_tokens)}
    for n in args.pack_length:
        layouts[f"packed_{n}"] = packed(inputs, targets, n, args.batch_tokens, row_wide=False)
        layouts[f"packed_{n}_row_wide"] = packed(inputs, targets, n, args.batch_tokens, row_wide=True)
    model = load_model(args.preset, init="random", seed=0).model.train()
    set_dropout(model, 0.1)
    useful = sum(len(x) + len(y) for x, y in zip(inputs, targets, strict=True))
    times: dict[str, list[float]] = {name: [] for name in layouts}
    for round_ in range(args.rounds + 1):  # round 0: warm-up
        for name, batches in layouts.items():
            seconds = run_layout(model, batches)
            if round_:
                times[name].append(seconds)
    report: dict[str, Any] = {"preset": args.preset, "examples": len(inputs), "useful_tokens": useful,
                              "batch_tokens": args.batch_tokens, "rounds": args.rounds, "threads": args.threads,
                              "load_average": list(os.getloadavg())}
    for name, batches in layouts.items():
        slots = sum(b.input_ids.numel() + b.labels.numel() for b in batches)
        report[name] = {"useful_tokens_per_s": useful / statistics.median(times[name]), "seconds": times[name],
                        "micro_batches": len(batches), "real_token_share": useful / slots}
    for name in layouts:
        if name != "padded":
            report[f"{name}_over_padded"] = report[name]["useful_tokens_per_s"] / report["padded"]["useful_tokens_per_s"]
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
