"""Choose the fp32 linear kernel per GEMM shape class for a model on one batch: measured per GEMM, kept only
where it is also faster in situ (real decoding steps) and the outputs stay exact. Shared by `t5eval bench` and
`t5eval run` (docs/bench.md, "fp32 linear kernels per CPU").

1. `kernels.measure` times MKL and oneDNN on the batch's three classes (`class_shapes`).
2. `auto`: the class's faster kernel (by `kernels.SWITCH_MARGIN`) is the candidate; `onednn`: every class.
3. In situ: a few real decoding steps (`decode_steps`) are timed under MKL and under the candidate, alternated
   (MKL first in even rounds, the candidate first in odd ones), after one untimed warm-up round each; the
   candidate stays only where its best time beats MKL's by `IN_SITU_MARGIN`. An isolated GEMM that is faster
   can be slower inside a step (cache, the `TorchFunctionMode`'s per-call cost): the per-GEMM probe is
   necessary, not sufficient.
4. Exact: the candidate's outputs on the batch (`KernelProbe.outputs`) against MKL's; if they differ, each
   class is checked alone, the classes that change nothing are kept and timed in situ again.

`mkl` measures and routes nothing. Every step is recorded (`record`), so a run can print and store it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from t5eval.model.kernels import SHAPE_CLASSES, SWITCH_MARGIN, LinearKernels, fastest, measure

MODES = ("auto", "mkl", "onednn")
IN_SITU_MARGIN = SWITCH_MARGIN  # the candidate's best in-situ time must be this much below MKL's
IN_SITU_ROUNDS = 3  # timed rounds per kernel setting, after one warm-up round
IN_SITU_STEPS = 4  # decoding steps per timed unit
ENCODER_TOKENS = 1024  # at most this many input tokens go through the timed encoder (tall class)
TALL_MAX_ROWS = 4096  # rows of the probe's tall and head GEMMs at most: the rates have levelled off by then, and
HEAD_MAX_ROWS = 512  # a run's first batch (up to --batch-tokens rows) would make the probe slow and large

InSituTimer = Callable[[dict[str, str]], float]  # seconds of one in-situ unit under a kernel choice


def class_shapes(model_cfg: Any, batch: int, input_len: int, beam: int) -> dict[str, tuple[int, int, int]]:
    """(M, K, N) of the three GEMM shape classes of decoding a (batch, input_len) batch with `beam` beams:
    tall (B·S rows → d_ff), decode (B·K rows → d_ff), head (B rows → vocabulary); rows capped (TALL_MAX_ROWS,
    HEAD_MAX_ROWS) so that the probe stays about a second whatever the batch."""
    d, ff, vocab = model_cfg.d_model, model_cfg.d_ff, model_cfg.vocab_size
    return {"tall": (min(max(batch * input_len, 256), TALL_MAX_ROWS), d, ff),
            "decode": (min(batch * beam, 255), d, ff), "head": (min(batch, HEAD_MAX_ROWS), d, max(vocab, 8192))}


@dataclass
class KernelProbe:
    """What the choice needs of the model and its batch.

    outputs(kernels): the outputs to keep exact, computed under `kernels` (None: MKL).
    differences(ref, out): what `out` changes against `ref` ([] when nothing).
    unit(): the in-situ work (decoding steps), run under whatever kernels are active.
    """

    shapes: dict[str, tuple[int, int, int]]
    outputs: Callable[[LinearKernels | None], Any]
    differences: Callable[[Any, Any], list[str]]
    unit: Callable[[], Any]


def mkl_choice() -> dict[str, str]:
    """Every class on MKL (torch's default)."""
    return dict.fromkeys(SHAPE_CLASSES, "mkl")


def _routed(choice: dict[str, str]) -> bool:
    return "onednn" in choice.values()


def choose(probe: KernelProbe, mode: str = "auto", in_situ: InSituTimer | None = None,
           rounds: int = IN_SITU_ROUNDS) -> tuple[dict[str, str], dict[str, Any]]:
    """(kernel per class, the record: mode, measured_gflops, candidate, in_situ, rejected, chosen)."""
    if mode not in MODES:
        raise ValueError(f"kernel mode {mode!r} is not one of {MODES}")
    measured = measure(probe.shapes)
    if mode == "mkl":
        return mkl_choice(), {"mode": mode, "measured_gflops": measured, "chosen": mkl_choice()}
    candidate = fastest(measured) if mode == "auto" else dict.fromkeys(SHAPE_CLASSES, "onednn")
    record: dict[str, Any] = {"mode": mode, "measured_gflops": measured, "candidate": candidate,
                              "in_situ": [], "rejected": {}}
    if mode == "onednn" or not _routed(candidate):  # forced, or nothing to check
        record["chosen"] = candidate
        return candidate, record
    timer = in_situ or unit_timer(probe.unit)
    chosen = _faster_in_situ(candidate, timer, rounds, record)
    if _routed(chosen):
        chosen = _exact(probe, chosen, record)
        if _routed(chosen) and chosen != candidate:  # fewer classes than were timed: time them again
            chosen = _faster_in_situ(chosen, timer, rounds, record)
    record["chosen"] = chosen
    return chosen, record


def unit_timer(unit: Callable[[], Any]) -> InSituTimer:
    """Seconds of one `unit()` under a kernel choice (packed oneDNN weights are kept between calls of a choice,
    as one evaluation keeps them)."""
    modes: dict[tuple[str, ...], LinearKernels] = {}

    def seconds(choice: dict[str, str]) -> float:
        key = tuple(choice[c] for c in SHAPE_CLASSES)
        kernels = modes.setdefault(key, LinearKernels(choice))
        with torch.inference_mode(), kernels:
            start = time.perf_counter()
            unit()
            return time.perf_counter() - start

    return seconds


def time_in_situ(choice: dict[str, str], timer: InSituTimer, rounds: int = IN_SITU_ROUNDS) -> dict[str, Any]:
    """MKL and `choice` timed alternately: one warm-up each, then `rounds` rounds; speedup of best over best."""
    settings = {"mkl": mkl_choice(), "candidate": choice}
    timer(settings["mkl"])  # warm-up: first calls, weight packing
    timer(settings["candidate"])
    seconds: dict[str, list[float]] = {"mkl": [], "candidate": []}
    for round_ in range(rounds):
        for name in ("mkl", "candidate") if round_ % 2 == 0 else ("candidate", "mkl"):
            seconds[name].append(timer(settings[name]))
    speedup = min(seconds["mkl"]) / max(min(seconds["candidate"]), 1e-12)
    return {"choice": dict(choice), "mkl_s": [round(s, 6) for s in seconds["mkl"]],
            "candidate_s": [round(s, 6) for s in seconds["candidate"]], "speedup": round(speedup, 4)}


def _faster_in_situ(choice: dict[str, str], timer: InSituTimer, rounds: int,
                    record: dict[str, Any]) -> dict[str, str]:
    trial = time_in_situ(choice, timer, rounds)
    trial["kept"] = trial["speedup"] > IN_SITU_MARGIN
    record["in_situ"].append(trial)
    if trial["kept"]:
        return choice
    for name in (c for c in SHAPE_CLASSES if choice[c] == "onednn"):
        record["rejected"][name] = f"not faster in situ: {trial['speedup']:.3f}× MKL (needs > {IN_SITU_MARGIN:g}×)"
    return mkl_choice()


def _exact(probe: KernelProbe, choice: dict[str, str], record: dict[str, Any]) -> dict[str, str]:
    """`choice` if its outputs equal MKL's; else the classes that change nothing alone (checked together)."""
    ref = probe.outputs(None)
    if not probe.differences(ref, probe.outputs(LinearKernels(choice))):
        return choice
    kept = mkl_choice()
    for name in (c for c in SHAPE_CLASSES if choice[c] == "onednn"):
        diffs = probe.differences(ref, probe.outputs(LinearKernels({name: "onednn"})))
        if diffs:
            record["rejected"][name] = "; ".join(diffs)
        else:
            kept[name] = "onednn"
    if sum(k == "onednn" for k in kept.values()) > 1:
        diffs = probe.differences(ref, probe.outputs(LinearKernels(kept)))
        if diffs:
            record["rejected"]["together"] = "; ".join(diffs)
            return mkl_choice()
    return kept


def decode_steps(model: Any, ids: torch.Tensor, mask: torch.Tensor, rows: tuple[int, ...], steps: int = IN_SITU_STEPS,
                 encoder: bool = True) -> Callable[[], None]:
    """The in-situ unit of an encoder-decoder T5 on a (B, S) batch: the encoder on up to ENCODER_TOKENS of its
    input tokens (with `encoder`), then, per count in `rows`, `steps` greedy decoding steps of that many rows
    (B: greedy; B·K: a beam step) over the batch's encoder output, LM head included."""
    batch, width = ids.shape
    few = max(1, min(batch, ENCODER_TOKENS // max(width, 1)))
    encoded: list[torch.Tensor] = []  # the encoder output (few, S, D) of the last encoder call

    def unit() -> None:
        if encoder or not encoded:
            encoded[:] = [model.encode(ids[:few], mask[:few])]
        memory = encoded[0]
        for n in rows:
            pick = torch.arange(n, device=ids.device) % few
            cache = model.start_cache(memory[pick], mask[pick], steps)
            tokens = torch.full((n,), model.config.decoder_start_token_id, dtype=torch.long, device=ids.device)
            for t in range(steps):
                tokens = model.step(tokens, t, cache).argmax(-1)  # (n,)

    return unit


def rows_differences(ref: list[list[int]], out: list[list[int]]) -> list[str]:
    """The generated rows of `out` that differ from `ref`'s, as one line ([] when all are identical)."""
    differ = [i for i, (a, b) in enumerate(zip(ref, out, strict=True)) if a != b]
    return [f"{len(differ)} of {len(ref)} rows differ (first: row {differ[0]})"] if differ else []


def record_line(rec: dict[str, Any]) -> str:
    """One line of a choice record: per class the chosen kernel and both measured GFLOP/s, each in-situ timing,
    the rejections."""
    if "measured_gflops" not in rec:
        return f"linear kernels ({rec['mode']}): {rec.get('note', 'not measured')}"
    parts = [f"{name} {rec['chosen'][name]} (MKL {m['mkl']:.0f} / oneDNN {m['onednn']:.0f} GFLOP/s at "
             f"{'×'.join(map(str, m['shape']))})" for name, m in rec["measured_gflops"].items()]
    for trial in rec.get("in_situ", []):
        onednn = "+".join(c for c, k in trial["choice"].items() if k == "onednn")
        parts.append(f"in situ (decoding steps, {onednn} on oneDNN): best {min(trial['candidate_s']):.3f} s vs "
                     f"MKL {min(trial['mkl_s']):.3f} s, {trial['speedup']:.2f}× "
                     f"({'kept' if trial['kept'] else 'dropped'})")
    rejected = "".join(f"; {name} kept on MKL: {why}" for name, why in rec.get("rejected", {}).items())
    return f"linear kernels ({rec['mode']}): " + ", ".join(parts) + rejected
