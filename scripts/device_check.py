"""GPU readiness check (issue 15 §4): every CUDA path of t5eval timed and checked once, one JSON.

Steps (each recorded as {"ok": bool, "seconds": …, …} so one failure does not hide the others):
  bench_fp32      `t5eval bench --device cuda` (encoder, greedy, beam, train; native vs transformers)
  bench_bf16      native greedy in bf16 weights vs fp32 on the GPU: tokens/s, ids kept
  parity_bf16     native vs transformers, both bf16: max |Δ logits| and identical greedy rows
  run_bf16        a short `t5eval run --device cuda --dtype bfloat16` fine-tune + eval (tiny, RTE)
  compile_step    native greedy with `torch.compile` on the decoder step: tokens/s, ids vs eager
  hf_static_cache transformers' generate with cache_implementation="static" (and compiled forward)

Without CUDA it writes {"cuda_available": false, …} and exits 2 with a one-line error. Usage:
    scripts/device_check.sh [OUT.json]      (wraps: PYTHONPATH=. python scripts/device_check.py --out OUT)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _step(name: str, fn: Callable[[], dict[str, Any]], report: dict[str, Any]) -> None:
    """Run one check; record its result or its error, never stop the others."""
    print(f"[device_check] {name} …", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        out = {"ok": True, **fn()}
    except Exception as err:  # a readiness report records every failure, then goes on
        out = {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-2000:]}
    out["seconds"] = round(time.perf_counter() - start, 1)
    report["steps"][name] = out


def _timed(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Median wall seconds of `fn` after one warm-up (CUDA synchronised), and its last result."""
    fn()
    times, out = [], None
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], out


def _inputs(vocab: int, batch: int = 32, length: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, min(vocab, 32000), (batch, length), generator=gen)
    ids[:, -1] = 1
    return ids.cuda(), torch.ones_like(ids).cuda()


def bench_fp32() -> dict[str, Any]:
    from t5eval.bench.suite import BenchConfig, run_bench

    report = run_bench(BenchConfig(device="cuda", skip=("e2e",), repeats=3))  # train and pretrain included
    return {"ratios": {k: m.get("ratio") for k, m in report["measures"].items()},
            "rates": {k: {s: m[s]["rate_median"] for s in ("native", "transformers")}
                      for k, m in report["measures"].items()},
            "mfu": {k: {s: m[s]["share_of_peak"] for s in ("native", "transformers")}
                    for k, m in report["measures"].items()},
            "outputs_identical": report["outputs_identical"], "report": report}


def bench_dtype_bf16() -> dict[str, Any]:
    """`t5eval bench --dtype bfloat16` rows (native bf16 copy vs transformers fp32, agreement with fp32)."""
    from t5eval.bench.suite import BenchConfig, run_bench

    report = run_bench(BenchConfig(device="cuda", dtype="bfloat16", skip=("e2e", "train", "pretrain"), repeats=3))
    return {"ratios_bf16": {k: m.get("ratio_bf16") for k, m in report["measures"].items()},
            "bf16_vs_fp32": {k: m.get("bf16_vs_fp32") for k, m in report["measures"].items()}, "report": report}


def _greedy(model: Any, ids: torch.Tensor, mask: torch.Tensor, n: int = 32) -> list[list[int]]:
    from t5eval.model import DecodeConfig, generate

    return generate(model, ids, mask, DecodeConfig(max_decode_len=n, min_decode_len=n))


def bench_bf16() -> dict[str, Any]:
    from t5eval.model import load_model

    fp32 = load_model("t5-small", init="random", seed=0, device="cuda").model.eval()
    bf16 = load_model("t5-small", init="random", seed=0, device="cuda", dtype=torch.bfloat16).model.eval()
    ids, mask = _inputs(fp32.config.vocab_size)
    t32, out32 = _timed(lambda: _greedy(fp32, ids, mask))
    t16, out16 = _timed(lambda: _greedy(bf16, ids, mask))
    tokens = ids.shape[0] * 32
    return {"greedy_tokens_per_s": {"float32": tokens / t32, "bfloat16": tokens / t16},
            "bf16_rows_identical_to_fp32": sum(a == b for a, b in zip(out32, out16, strict=True)), "rows": len(out32)}


def parity_bf16() -> dict[str, Any]:
    from t5eval.bench.impls import hf_twin
    from t5eval.model import load_model

    native = load_model("t5-small", init="random", seed=0, device="cuda", dtype=torch.bfloat16).model.eval()
    hf = hf_twin(native, "cuda").to(torch.bfloat16)
    ids, mask = _inputs(native.config.vocab_size, batch=8, length=64)
    start = torch.zeros_like(ids[:, :8])
    with torch.inference_mode():
        a = native(ids, mask, start).float()
        b = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=start).logits.float()
        hf_ids = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=16, min_new_tokens=16,
                             do_sample=False, num_beams=1)[:, 1:].tolist()
    ours = _greedy(native, ids, mask, 16)
    return {"max_abs_logit_diff": float((a - b).abs().max()), "logit_scale": float(b.abs().max()),
            "greedy_rows_identical": sum(x == y for x, y in zip(ours, hf_ids, strict=True)), "rows": len(ours)}


def run_bf16() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "t5eval", "run", "glue_rte_v002", "--model", "tiny", "--init", "random",
               "--device", "cuda", "--dtype", "bfloat16", "--steps", "20", "--eval-every", "10",
               "--batch-tokens", "2048", "--limit", "32", "--out", f"{tmp}/run",
               "--data-dir", str(SHARED / "data"), "--vocab", str(SHARED / "vocab" / "t5_spiece.model")]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
        record = Path(tmp, "run", "run.json")
        summary = json.loads(record.read_text()) if record.exists() else None
    if done.returncode:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr[-1500:]}")
    return {"command": " ".join(cmd), "run_json_keys": sorted(summary or {}), "stderr_tail": done.stderr[-800:]}


def compile_step() -> dict[str, Any]:
    from t5eval.model import load_model

    model = load_model("t5-small", init="random", seed=0, device="cuda").model.eval()
    ids, mask = _inputs(model.config.vocab_size)
    t_eager, eager = _timed(lambda: _greedy(model, ids, mask))
    model.step = torch.compile(model.step, dynamic=True)  # type: ignore[method-assign]
    t_comp, compiled = _timed(lambda: _greedy(model, ids, mask))
    tokens = ids.shape[0] * 32
    return {"greedy_tokens_per_s": {"eager": tokens / t_eager, "compiled_step": tokens / t_comp},
            "rows_identical": sum(a == b for a, b in zip(eager, compiled, strict=True)), "rows": len(eager)}


def hf_static_cache() -> dict[str, Any]:
    from t5eval.bench.impls import hf_twin
    from t5eval.model import load_model

    native = load_model("t5-small", init="random", seed=0, device="cuda").model.eval()
    hf = hf_twin(native, "cuda")
    ids, mask = _inputs(native.config.vocab_size)
    kwargs = {"max_new_tokens": 32, "min_new_tokens": 32, "do_sample": False, "num_beams": 1}

    def gen(**extra: Any) -> list[list[int]]:
        with torch.inference_mode():
            return hf.generate(input_ids=ids, attention_mask=mask, **kwargs, **extra)[:, 1:].tolist()

    t_dyn, dyn = _timed(gen)
    t_static, static = _timed(lambda: gen(cache_implementation="static"))
    hf.forward = torch.compile(hf.forward, mode="reduce-overhead")
    t_comp, comp = _timed(lambda: gen(cache_implementation="static"))
    tokens = ids.shape[0] * 32
    return {"tokens_per_s": {"dynamic": tokens / t_dyn, "static": tokens / t_static, "static_compiled": tokens / t_comp},
            "static_rows_identical": sum(a == b for a, b in zip(dyn, static, strict=True)),
            "compiled_rows_identical": sum(a == b for a, b in zip(dyn, comp, strict=True)), "rows": len(dyn)}


STEPS = {"bench_fp32": bench_fp32, "bench_dtype_bf16": bench_dtype_bf16, "bench_bf16": bench_bf16, "parity_bf16": parity_bf16, "run_bf16": run_bf16,
         "compile_step": compile_step, "hf_static_cache": hf_static_cache}


def main() -> int:
    ap = argparse.ArgumentParser(description="GPU readiness check of t5eval (one JSON)")
    ap.add_argument("--out", type=Path, default=Path("device_check.json"))
    ap.add_argument("--only", nargs="*", choices=sorted(STEPS), help="run only these steps")
    args = ap.parse_args()
    report: dict[str, Any] = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(), "steps": {}}
    if not torch.cuda.is_available():
        report["ran"] = False
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"error: CUDA is not available here (torch {torch.__version__}); device_check needs a GPU "
              f"(wrote {args.out})", file=sys.stderr)
        return 2
    report.update(ran=True, gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    for name in args.only or STEPS:
        _step(name, STEPS[name], report)
        args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")  # partial results survive a kill
    failed = [n for n, s in report["steps"].items() if not s["ok"]]
    print(f"[device_check] wrote {args.out}; failed: {', '.join(failed) or 'none'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
