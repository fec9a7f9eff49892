"""Useful training tokens per second, packed rows (T5's fine-tuning) against padded length buckets.

Same model, same data (SST-2's train split tokenized as `t5eval run` does), same token budget per
micro-batch, same optimizer; the two streams are timed in alternation after one warm-up step each.
"Useful" tokens are real input + target tokens (`TrainBatch.n_tokens`), padding excluded.

    PYTHONPATH=$PWD python scripts/pack_throughput.py --preset t5-small --batch-tokens 4096 --steps 3 \
        --pack-length 512 128 --threads 2 --data-dir ../shared/data --vocab ../shared/vocab/t5_spiece.model --json pack.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from t5eval.distributed.context import DistContext
from t5eval.distributed.parallel import plan_batches, train_step, wrap_model
from t5eval.model import load_model
from t5eval.tasks import TaskRegistry, load_examples
from t5eval.tokenizer import T5Tokenizer
from t5eval.train.loop import set_dropout
from t5eval.train.stream import TrainSource, TrainStream
from t5eval.train.text_step import make_optimizer


def sst2_source(data_dir: Path, vocab: Path, limit: int) -> TrainSource:
    spec = TaskRegistry.default().get("sst2")
    examples = load_examples(spec, "train", data_dir=data_dir, limit=limit).examples
    tok = T5Tokenizer.find(None, vocab)
    inputs = [tok.encode(ex.inputs, max_len=spec.train_lengths["inputs"]) for ex in examples]
    targets = [tok.encode(ex.targets, max_len=spec.train_lengths["targets"]) for ex in examples]
    return TrainSource(spec.name, inputs, targets)


def padded_share(batch: Any) -> float:
    """Real tokens over the batch's tensor slots (inputs + targets)."""
    return batch.n_tokens / (batch.input_ids.numel() + batch.labels.numel())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="t5-small")
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--pack-length", type=int, nargs="+", default=[512], help="one packed mode per length")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=20000)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--vocab", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--profile", action="store_true", help="then profile one more step per stream (top ops)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    source = sst2_source(args.data_dir, args.vocab, args.limit)
    modes: dict[str, int | None] = {"padded": None, **{f"packed_{n}": n for n in args.pack_length}}
    runs: dict[str, dict[str, Any]] = {}
    for name, pack in modes.items():
        model = load_model(args.preset, init="random", seed=0).model
        set_dropout(model, 0.1)
        wrapped = wrap_model(model, DistContext())
        runs[name] = {"wrapped": wrapped, "opt": make_optimizer(model, 1e-3), "times": [], "tokens": [], "fill": [],
                      "stream": TrainStream([source], args.batch_tokens, seed=0, pack_length=pack)}
    plan = plan_batches(1, 1)
    for round_ in range(args.steps + 1):  # round 0: warm-up, not counted
        for run in runs.values():
            stream = run["stream"]
            start = time.perf_counter()
            _, tokens = train_step(run["wrapped"], run["opt"], _Recorder(stream, run["fill"]), plan, DistContext())
            seconds = time.perf_counter() - start
            if round_:
                run["times"].append(seconds)
                run["tokens"].append(tokens)
    report = {"preset": args.preset, "batch_tokens": args.batch_tokens, "pack_length": args.pack_length,
              "steps": args.steps, "threads": args.threads, "examples": len(source.inputs),
              "load_average": list(__import__("os").getloadavg())}
    for name, run in runs.items():
        report[name] = {"useful_tokens_per_s": sum(run["tokens"]) / sum(run["times"]),
                        "median_step_s": statistics.median(run["times"]), "useful_tokens_per_step":
                        statistics.mean(run["tokens"]), "real_token_share": statistics.mean(run["fill"][1:])}
    for name in modes:
        if name != "padded":
            report[f"{name}_over_padded"] = (report[name]["useful_tokens_per_s"]
                                             / report["padded"]["useful_tokens_per_s"])
    if args.profile:
        report["profile_self_cpu_share"] = {name: _profile(run, plan) for name, run in runs.items()}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


def _profile(run: dict[str, Any], plan: Any, top: int = 8) -> dict[str, float]:
    """One more step of a stream under torch.profiler: the `top` ops' shares of self CPU time."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        train_step(run["wrapped"], run["opt"], _Recorder(run["stream"], []), plan, DistContext())
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {e.key: round(e.self_cpu_time_total / total, 3) for e in ranked}


class _Recorder:
    """Hands the stream's batches to `train_step` and records each one's real-token share."""

    def __init__(self, stream: TrainStream, fill: list[float]) -> None:
        self.stream, self.fill = stream, fill

    def next_batch(self) -> Any:
        batch = self.stream.next_batch()
        self.fill.append(padded_share(batch))
        return batch


if __name__ == "__main__":
    main()
