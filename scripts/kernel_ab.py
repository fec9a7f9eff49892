"""Native fp32 decoding on MKL everywhere against a `LinearKernels` choice, in one process, alternated.

Same random t5-small (or `--preset`) and synthetic batch as `t5eval bench` (B rows of S tokens, N forced new
tokens); per round greedy and beam K under each setting in turn (the first round is a warm-up). Reports medians,
the speedup of the choice over MKL and whether its rows equal MKL's: the in-situ check of what
`t5eval bench --kernels auto` picks from its per-GEMM timings.

    PYTHONPATH=$PWD python scripts/kernel_ab.py --rounds 4 --threads 1 --head onednn
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from t5eval.bench.measures import Shape, synthetic_batch
from t5eval.model import DecodeConfig, generate, load_model
from t5eval.model.kernels import SHAPE_CLASSES, LinearKernels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="t5-small")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--beam", type=int, default=4)
    for name in SHAPE_CLASSES:
        ap.add_argument(f"--{name}", default="mkl", choices=("mkl", "onednn"), help=f"kernel of the {name} class")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.preset, init="random", seed=0, device="cpu").model.eval()
    shape = Shape(args.batch, args.input_len, args.new_tokens, args.beam)
    ids, mask = synthetic_batch(shape, model.config.vocab_size, 0, "cpu")
    choice = {name: getattr(args, name) for name in SHAPE_CLASSES}
    print(f"choice {choice}; load {os.getloadavg()}")
    for beam in (1, args.beam):
        decode = DecodeConfig(beam_size=beam, alpha=0.6, max_decode_len=args.new_tokens,
                              min_decode_len=args.new_tokens)
        times: dict[str, list[float]] = {"mkl": [], "choice": []}
        rows: dict[str, list[list[int]]] = {}
        for round_ in range(args.rounds):
            for name in times:
                kernels = LinearKernels(choice if name == "choice" else {})
                with torch.inference_mode(), kernels:
                    start = time.perf_counter()
                    rows[name] = generate(model, ids, mask, decode)
                    seconds = time.perf_counter() - start
                if round_:
                    times[name].append(seconds)
        med = {name: statistics.median(t) for name, t in times.items()}
        print(f"beam {beam}: median s mkl {med['mkl']:.2f}, choice {med['choice']:.2f}; "
              f"speedup {med['mkl'] / med['choice']:.3f}; rows identical {rows['mkl'] == rows['choice']}")
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
