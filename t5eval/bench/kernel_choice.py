"""Choose the fp32 linear kernel per GEMM shape class for `t5eval bench` (`--kernels auto`): measured, faster in
situ, then kept only where outputs stay exact (`t5eval.model.kernel_probe`, shared with `t5eval run`).

1. `kernels.measure` times MKL and oneDNN on the run's three classes: tall (B·S rows × d_model → d_ff, the
   encoder), decode (B·K rows × d_model → d_ff, a beam step) and head (B rows × d_model → vocabulary).
2. The faster kernel per class is the candidate (`kernels.fastest`).
3. In situ: the encoder on up to 1,024 of the bench's input tokens, then 4 greedy steps at B rows and 4 at B·K
   rows, timed under MKL and under the candidate, alternated; the candidate must be > 5% faster.
4. Exact, on the bench inputs against the native model on MKL (which the measures hold equal to
   transformers): greedy and beam rows identical, encoder output and first-step logits within 1e-4 relative.
   A class that fails stays on MKL (`rejected` says why), the survivors are checked together.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from t5eval.bench.measures import Shape
from t5eval.model import T5, DecodeConfig, generate
from t5eval.model.kernel_probe import MODES, InSituTimer, KernelProbe, choose, decode_steps
from t5eval.model.kernel_probe import class_shapes as probe_shapes
from t5eval.model.kernels import LinearKernels

__all__ = ["MODES", "choose_kernels", "class_shapes"]
REL_TOL = 1e-4


def class_shapes(model_cfg: Any, shape: Shape) -> dict[str, tuple[int, int, int]]:
    """(M, K, N) of the three GEMM shape classes of this run."""
    return probe_shapes(model_cfg, shape.batch, shape.input_len, shape.beam)


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


def choose_kernels(model: T5, model_cfg: Any, shape: Shape, batch: Any, mode: str = "auto",
                   in_situ: InSituTimer | None = None) -> tuple[LinearKernels | None, dict[str, Any]]:
    """The kernels to run native with and the record for the report's `env.linear_kernels`; `in_situ`
    replaces the in-situ timer (seconds of one unit under a choice), for tests."""
    ids, mask = batch
    rows = tuple(dict.fromkeys((shape.batch, shape.batch * shape.beam)))
    probe = KernelProbe(shapes=class_shapes(model_cfg, shape),
                        outputs=lambda kernels: _outputs(model, batch, shape, kernels),
                        differences=lambda ref, out: _differences(ref, out),
                        unit=decode_steps(model, ids, mask, rows, min(4, shape.new_tokens)))
    choice, record = choose(probe, mode, in_situ)
    return (LinearKernels(choice) if "onednn" in choice.values() else None), record
