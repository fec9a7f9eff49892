"""Native int8 decoding with fbgemm-packed against oneDNN-packed weights, in one process, alternated.

Same random t5-small (or `--preset`), same synthetic batch as `t5eval bench` (B rows of S tokens, N forced
new tokens); `quantize_int8(model, engine)` for each engine; per round: encoder, greedy and beam K of each
engine in turn. Reports medians, engine ratios and each engine's agreement with native fp32 (rows identical).

    PYTHONPATH=$PWD python scripts/int8_engine_ab.py --rounds 3 --threads 1
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

from t5eval.bench.measures import Shape, synthetic_batch
from t5eval.model import DecodeConfig, generate, load_model
from t5eval.model.quant import quantize_int8

ENGINES = ("fbgemm", "onednn")


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def decode_parser(doc: str) -> argparse.ArgumentParser:
    """Options shared by the decode scripts: model preset, `t5eval bench`'s synthetic shape, threads."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--preset", default="t5-small")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    return ap


def main() -> None:
    ap = decode_parser(__doc__)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.preset, init="random", seed=0).model.eval()
    shape = Shape(args.batch, args.input_len, args.new_tokens, args.beam)
    ids, mask = synthetic_batch(shape, model.config.vocab_size, 0, "cpu")
    decodes = {"greedy": DecodeConfig(beam_size=1, max_decode_len=shape.new_tokens, min_decode_len=shape.new_tokens),
               f"beam{shape.beam}": DecodeConfig(beam_size=shape.beam, max_decode_len=shape.new_tokens,
                                                 min_decode_len=shape.new_tokens)}
    fp32 = {name: generate(model, ids, mask, dec) for name, dec in decodes.items()}
    models = {engine: quantize_int8(model, engine) for engine in ENGINES}
    calls: dict[str, Any] = {}
    for engine, quantized in models.items():
        calls[f"encoder/{engine}"] = lambda q=quantized: q.encode(ids, mask)
        for name, dec in decodes.items():
            calls[f"{name}/{engine}"] = lambda q=quantized, d=dec: generate(q, ids, mask, d)
    with torch.inference_mode():
        outputs = {key: fn() for key, fn in calls.items()}  # warm-up
        times: dict[str, list[float]] = {key: [] for key in calls}
        for _ in range(args.rounds):
            for key, fn in calls.items():
                times[key].append(timed(fn)[0])
    report: dict[str, Any] = {"preset": args.preset, "shape": vars(shape), "rounds": args.rounds,
                              "threads": args.threads, "load_average": list(os.getloadavg()),
                              "median_s": {k: statistics.median(v) for k, v in times.items()}, "seconds": times}
    for name in ("encoder", *decodes):
        report[f"{name}_onednn_over_fbgemm_speed"] = (report["median_s"][f"{name}/fbgemm"]
                                                      / report["median_s"][f"{name}/onednn"])
    report["rows_identical_to_fp32"] = {f"{name}/{engine}": sum(a == b for a, b in zip(
        fp32[name], outputs[f"{name}/{engine}"], strict=True)) for name in decodes for engine in ENGINES}
    print(json.dumps({k: v for k, v in report.items() if k != "seconds"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
