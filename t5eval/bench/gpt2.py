"""`t5eval bench --model GPT2DIR`: native GPT-2 greedy decoding against transformers' GPT2LMHeadModel.

Both load the same folder; a synthetic batch (B rows of S seeded random ids) is continued by exactly N
greedy tokens (EOS suppressed before N, as transformers' min_new_tokens), timed alternately after one
warm-up each; the report gives the median seconds, tokens/s, the speed ratio and whether every row's ids
agree. transformers is imported here only, lazily.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from t5eval.model import LMDecodeConfig, generate, load_model


def _native(model: Any, ids: torch.Tensor, new: int) -> list[list[int]]:
    mask = torch.ones_like(ids)
    return generate(model, ids, mask, LMDecodeConfig(max_new_tokens=new, min_new_tokens=new))


def _reference(model: Any, ids: torch.Tensor, new: int) -> list[list[int]]:
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=1,
                             max_new_tokens=new, min_new_tokens=new, pad_token_id=model.config.eos_token_id)
    return [row[ids.shape[1]:].tolist() for row in out]


def run_gpt2_bench(model_dir: Path, batch_size: int = 8, input_len: int = 128, new_tokens: int = 32,
                   repeats: int = 3, seed: int = 0, threads: int | None = None) -> dict[str, Any]:
    """Time greedy decoding of both implementations on identical weights; outputs compared row by row."""
    from transformers import GPT2LMHeadModel

    if threads:
        torch.set_num_threads(threads)
    native = load_model(model_dir).model
    reference = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, native.config.vocab_size - 1, (batch_size, input_len), generator=gen)
    runs: dict[str, list[float]] = {"native": [], "transformers": []}
    outputs: dict[str, list[list[int]]] = {}
    impls = {"native": _native, "transformers": _reference}
    model_of = {"native": native, "transformers": reference}
    for name, fn in impls.items():  # warm-up
        outputs[name] = fn(model_of[name], ids, new_tokens)
    for _ in range(repeats):
        for name, fn in impls.items():
            start = time.perf_counter()
            fn(model_of[name], ids, new_tokens)
            runs[name].append(time.perf_counter() - start)
    median = {name: statistics.median(times) for name, times in runs.items()}
    same = sum(a == b for a, b in zip(outputs["native"], outputs["transformers"], strict=True))
    return {
        "model": str(model_dir), "model_type": "gpt2", "measure": "greedy", "batch_size": batch_size,
        "input_len": input_len, "new_tokens": new_tokens, "repeats": repeats, "threads": torch.get_num_threads(),
        "seconds": median, "times": runs,
        "tokens_per_s": {n: batch_size * new_tokens / s for n, s in median.items()},
        "speedup_vs_transformers": median["transformers"] / median["native"],
        "identical_rows": same, "rows": batch_size,
    }
