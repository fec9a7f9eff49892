"""Choose the fp32 linear kernel per GEMM shape class for `t5eval bench` (`--kernels auto`): measured, then
kept only where outputs stay exact.

1. `kernels.measure` times MKL and oneDNN on the run's three classes: tall (B·S rows × d_model → d_ff, the
   encoder), decode (B·K rows × d_model → d_ff, a beam step) and head (B rows × d_model → vocabulary).
2. The faster kernel per class is the candidate (`kernels.fastest`).
3. Each class whose candidate is oneDNN is checked on the bench inputs against the native model on MKL (which
   the measures hold equal to transformers): greedy and beam rows identical, encoder output and first-step
   logits within 1e-4 relative. A class that fails stays on MKL (`rejected` says why), then the survivors are
   checked together.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from t5eval.bench.measures import Shape
from t5eval.model import T5, DecodeConfig, generate
from t5eval.model.kernels import SHAPE_CLASSES, LinearKernels, fastest, measure

MODES = ("auto", "mkl", "onednn")
REL_TOL = 1e-4


def class_shapes(model_cfg: Any, shape: Shape) -> dict[str, tuple[int, int, int]]:
    """(M, K, N) of the three GEMM shape classes of this run."""
    d, ff, vocab = model_cfg.d_model, model_cfg.d_ff, model_cfg.vocab_size
    return {"tall": (max(shape.batch * shape.input_len, 256), d, ff),
            "decode": (min(shape.batch * shape.beam, 255), d, ff), "head": (shape.batch, d, max(vocab, 8192))}


def _outputs(model: T5, batch: Any, shape: Shape, kernels: LinearKernels | None) -> dict[str, Any]:
    """Greedy and beam ids, encoder output and first-step logits of `model` under `kernels` (None: MKL)."""
    ids, mask = batch
    greedy = DecodeConfig(beam_size=1, max_decode_len=shape.new_tokens, min_decode_len=shape.new_tokens)
    beam = DecodeConfig(beam_size=shape.beam, alpha=0.6, max_decode_len=shape.new_tokens,
                        min_decode_len=shape.new_tokens)
    with torch.inference_mode(), (kernels if kernels is not None else contextlib.nullcontext()):
        memory = model.encode(ids, mask)  # (B, S, D)
        cache = model.start_cache(memory, mask, 1)
        logits = model.step(torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device), 0, cache)  # (B, V)
        return {"greedy": generate(model, ids, mask, greedy), "beam": generate(model, ids, mask, beam),
                "encoder": memory.clone(), "logits": logits.clone()}


def _differences(ref: dict[str, Any], out: dict[str, Any]) -> list[str]:
    """What `out` changes against `ref`: differing decode rows, tensors beyond REL_TOL relative."""
    found = [f"{name} rows differ" for name in ("greedy", "beam") if out[name] != ref[name]]
    for name in ("encoder", "logits"):
        rel = float((out[name] - ref[name]).abs().max() / ref[name].abs().max().clamp_min(1e-30))
        if rel > REL_TOL:
            found.append(f"{name} relative difference {rel:.1e} > {REL_TOL:g}")
    return found


def choose_kernels(model: T5, model_cfg: Any, shape: Shape, batch: Any,
                   mode: str = "auto") -> tuple[LinearKernels | None, dict[str, Any]]:
    """The kernels to run native with and the record for the report's `env.linear_kernels`."""
    measured = measure(class_shapes(model_cfg, shape))
    if mode == "mkl":
        return None, {"mode": mode, "measured_gflops": measured, "chosen": dict.fromkeys(SHAPE_CLASSES, "mkl")}
    candidate = fastest(measured) if mode == "auto" else dict.fromkeys(SHAPE_CLASSES, "onednn")
    record: dict[str, Any] = {"mode": mode, "measured_gflops": measured, "candidate": candidate, "rejected": {}}
    if mode == "onednn" or all(k == "mkl" for k in candidate.values()):  # forced, or nothing to check
        record["chosen"] = candidate
        return (LinearKernels(candidate) if mode == "onednn" else None), record
    ref = _outputs(model, batch, shape, None)
    chosen = dict.fromkeys(SHAPE_CLASSES, "mkl")
    for name in (c for c in SHAPE_CLASSES if candidate[c] == "onednn"):
        diffs = _differences(ref, _outputs(model, batch, shape, LinearKernels({name: "onednn"})))
        if diffs:
            record["rejected"][name] = "; ".join(diffs)
        else:
            chosen[name] = "onednn"
    if sum(k == "onednn" for k in chosen.values()) > 1:
        diffs = _differences(ref, _outputs(model, batch, shape, LinearKernels(chosen)))
        if diffs:
            record["rejected"]["together"] = "; ".join(diffs)
            chosen = dict.fromkeys(SHAPE_CLASSES, "mkl")
    record["chosen"] = chosen
    return (LinearKernels(chosen) if "onednn" in chosen.values() else None), record
