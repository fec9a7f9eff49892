"""Forward + backward on the same SST-2 examples: padded buckets, packed rows, and row-wide attention.

A fixed-work A/B (no stream, no optimizer) for the packed attention of `t5eval.model.segments`: the same
`--examples` SST-2 train examples are laid out as padded length buckets (`length_sorted_batches`, the
padded stream's layout), as packed rows of each `--pack-length` with per-example attention, and as packed
rows whose attention spans the whole row ("row-wide": every row one segment, i.e. the L² cost of a
segment mask over the row, as before per-example attention; its losses differ, only its time counts).
Each layout's micro-batches of `--batch-tokens` run `loss * n_targets` backward, in train mode (dropout
0.1); the layouts take turns micro-batch by micro-batch, `--rounds` times, and a layout's rate is its
useful tokens over the sum of each micro-batch's fastest run (robust to load spikes; medians reported too).

    PYTHONPATH=$PWD python scripts/pack_attention_ab.py --examples 256 --rounds 3 --pack-length 512 128 --threads 1 \
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


def run_batch(model: Any, batch: TrainBatch) -> float:
    """Seconds for forward + backward of one micro-batch (gradients dropped)."""
    start = time.perf_counter()
    loss = model.loss(batch.input_ids, batch.attention_mask, batch.labels, batch.packing)
    (loss * batch.n_target_tokens).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def interleaved_rounds(model: Any, layouts: dict[str, list[TrainBatch]], rounds: int) -> dict[str, list[list[float]]]:
    """seconds[layout][micro-batch] over `rounds`; the layouts take turns micro-batch by micro-batch, so a
    load change on the shared machine hits all of them."""
    seconds: dict[str, list[list[float]]] = {name: [[] for _ in batches] for name, batches in layouts.items()}
    for _ in range(rounds):
        for i in range(max(len(b) for b in layouts.values())):
            for name, batches in layouts.items():
                if i < len(batches):
                    seconds[name][i].append(run_batch(model, batches[i]))
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="t5-small")
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--pack-length", type=int, nargs="+", default=[512, 128])
    ap.add_argument("--row-wide", type=int, nargs="*", default=[512], help="pack lengths also timed row-wide")
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
        if n in args.row_wide:
            layouts[f"packed_{n}_row_wide"] = packed(inputs, targets, n, args.batch_tokens, row_wide=True)
    model = load_model(args.preset, init="random", seed=0).model.train()
    set_dropout(model, 0.1)
    useful = sum(len(x) + len(y) for x, y in zip(inputs, targets, strict=True))
    seconds = interleaved_rounds(model, layouts, args.rounds)
    report: dict[str, Any] = {"preset": args.preset, "examples": len(inputs), "useful_tokens": useful,
                              "batch_tokens": args.batch_tokens, "rounds": args.rounds, "threads": args.threads,
                              "load_average": list(os.getloadavg())}
    for name, batches in layouts.items():
        slots = sum(b.input_ids.numel() + b.labels.numel() for b in batches)
        best = sum(min(s) for s in seconds[name])  # each micro-batch's least disturbed run
        median = sum(statistics.median(s) for s in seconds[name])
        report[name] = {"useful_tokens_per_s": useful / best, "useful_tokens_per_s_median": useful / median,
                        "micro_batches": len(batches), "real_token_share": useful / slots}
    for name in layouts:
        if name != "padded":
            report[f"{name}_over_padded"] = report[name]["useful_tokens_per_s"] / report["padded"]["useful_tokens_per_s"]
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
