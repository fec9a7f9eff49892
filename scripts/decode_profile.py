"""Where a native generate spends its time: torch.profiler over one greedy and one beam generate.

t5-small random weights (or `--preset`), the synthetic batch of `t5eval bench` (B rows of S tokens, N
forced new tokens); one warm-up generate, then one profiled; top ops by self CPU time, grouped by shape.

    PYTHONPATH=$PWD python scripts/decode_profile.py --threads 1
"""

from __future__ import annotations

import time

import torch
from int8_engine_ab import decode_parser  # scripts/ is on sys.path when this script runs

from t5eval.bench.measures import Shape, synthetic_batch
from t5eval.model import DecodeConfig, generate, load_model


def main() -> None:
    ap = decode_parser(__doc__)
    ap.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--top", type=int, default=14)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.preset, init="random", seed=0).model.eval()
    ids, mask = synthetic_batch(Shape(args.batch, args.input_len, args.new_tokens, 1), model.config.vocab_size, 0,
                                "cpu")
    for beam in args.beams:
        decode = DecodeConfig(beam_size=beam, max_decode_len=args.new_tokens, min_decode_len=args.new_tokens)
        generate(model, ids, mask, decode)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
            start = time.perf_counter()
            generate(model, ids, mask, decode)
            wall = time.perf_counter() - start
        events = prof.key_averages(group_by_input_shape=True)
        total = sum(e.self_cpu_time_total for e in events)
        print(f"== beam {beam}: {wall:.2f} s wall")
        for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:args.top]:
            print(f"{e.self_cpu_time_total / total:6.1%} {e.count:6d} {e.key:30s} {str(e.input_shapes)[:100]}")


if __name__ == "__main__":
    main()
