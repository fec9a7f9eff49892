"""The synthetic measures of `t5eval bench`: encoder, greedy, beam, training step.

Each measure warms both implementations up once (recording peak memory then), times them in
alternation, checks their outputs against each other and reports rates, the native/transformers
ratio and the share of the measured fp32 matmul peak (matrix FLOPs counted from the config).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from t5eval.bench.ct2 import CT2, CT2_BF16, CT2_INT8
from t5eval.bench.impls import BF16, FINETUNE_LR, INT8, PRETRAIN_LR, Impl
from t5eval.bench.timing import alternate, time_call
from t5eval.model import DecodeConfig
from t5eval.model.throughput import TRAIN_FLOPS_FACTOR, mfu

# reduced-precision native copies, their CTranslate2 counterparts and the JSON suffix of their keys
VARIANTS = ((INT8, CT2_INT8, "int8"), (BF16, CT2_BF16, "bf16"))
CT2_SIDES = (CT2, CT2_INT8, CT2_BF16)

EOS_ID = 1


@dataclass(frozen=True)
class Shape:
    """Benchmark sizes: batch B, input length S, new tokens N, beam K; pre-training rows of
    `pretrain_inputs` inputs and `pretrain_targets` targets (the paper's span corruption: 512 → 114)."""

    batch: int
    input_len: int
    new_tokens: int
    beam: int
    pretrain_inputs: int = 512
    pretrain_targets: int = 114

    def pretrain_rows(self) -> int:
        """Pre-training rows per step: about the fine-tuning step's B·S input tokens, at least one row."""
        return max(1, self.batch * self.input_len // self.pretrain_inputs)


def _ffn_mats(cfg: Any) -> int:
    """2 matrices for v1.0's ReLU FFN, 3 for v1.1's gated GELU (wi_0, wi_1, wo)."""
    return 3 if "gated" in str(getattr(cfg, "feed_forward_proj", "relu")) else 2


def encoder_flops(cfg: Any, batch: int, seq: int) -> float:
    """Matrix FLOPs of one encoder forward: projections, FFN and attention scores/values."""
    inner = cfg.num_heads * cfg.d_kv
    per_token_layer = 2 * (4 * cfg.d_model * inner + _ffn_mats(cfg) * cfg.d_model * cfg.d_ff)
    attn = 2 * 2 * seq * inner  # QK^T and AV per query token
    return float(batch * seq * cfg.num_layers * (per_token_layer + attn))


def decoder_flops(cfg: Any, rows: int, seq: int, new: int) -> float:
    """Matrix FLOPs of `new` cached decoder steps for `rows` rows over an encoder of length `seq`.

    Counts the one-off cross-attention K/V projection of the encoder output, and per step the
    self/cross projections, FFN, attention over the cache and the encoder, and the LM head.
    """
    inner = cfg.num_heads * cfg.d_kv
    layers = getattr(cfg, "num_decoder_layers", None) or cfg.num_layers
    cross_kv = rows * seq * layers * 2 * 2 * cfg.d_model * inner
    per_tok_layer = 2 * (6 * cfg.d_model * inner + _ffn_mats(cfg) * cfg.d_model * cfg.d_ff)
    steps = 0.0
    for t in range(1, new + 1):
        steps += rows * (layers * (per_tok_layer + 2 * 2 * (t + seq) * inner) + 2 * cfg.d_model * cfg.vocab_size)
    return float(cross_kv + steps)


def synthetic_batch(shape: Shape, vocab: int, seed: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids (B, S) ending in EOS, as tokenized T5 inputs do, and an all-ones mask (B, S)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, min(vocab, 32000), (shape.batch, shape.input_len), generator=gen)
    ids[:, -1] = EOS_ID
    return ids.to(device), torch.ones_like(ids)


def _run(impls: list[Impl], fns: dict[str, Any], repeats: int, device: str) -> dict[str, Any]:
    """Warm up each callable once, then time them in alternation (memory sampled in the first round)."""
    warm = {name: time_call(fn, device)[1] for name, fn in fns.items()}
    timings, results, memory = alternate(fns, repeats, device)
    return {"timings": timings, "results": results, "warm": warm, "memory": memory}


def _report(run: dict[str, Any], work: float, flops: float, peak_gflops: float, unit: str) -> dict[str, Any]:
    """Per-implementation summaries plus ratio (native rate / transformers rate) and peak share."""
    out: dict[str, Any] = {"unit": unit, "work": work, "matrix_gflop": flops / 1e9}
    for name, timing in run["timings"].items():
        summary = timing.summary(work)
        summary["share_of_peak"] = mfu(flops, summary["median_s"], peak_gflops)
        summary["memory"] = run["memory"][name]
        out[name] = summary
    if "transformers" in out:
        out["ratio"] = out["native"]["rate_median"] / out["transformers"]["rate_median"]
        for side, _, tag in VARIANTS:
            if side in out:
                out[f"ratio_{tag}"] = out[side]["rate_median"] / out["transformers"]["rate_median"]
    if CT2 in out:  # native / CTranslate2, fp32 against fp32, int8 against int8, bf16 against bf16
        out["ratio_ct2"] = out["native"]["rate_median"] / out[CT2]["rate_median"]
        for side, ct2_side, tag in VARIANTS:
            if side in out and ct2_side in out:
                out[f"ratio_ct2_{tag}"] = out[side]["rate_median"] / out[ct2_side]["rate_median"]
    return out


def measure_encoder(impls: list[Impl], cfg: Any, shape: Shape, batch: Any, repeats: int, device: str,
                    peak: float) -> dict[str, Any]:
    """Encoder forward tokens/s; outputs compared with `allclose` (atol 1e-4 relative to scale)."""
    ids, mask = batch
    encoders = [impl for impl in impls if impl.name not in CT2_SIDES]
    fns = {impl.name: (lambda impl=impl: impl.encode(ids, mask)) for impl in encoders}
    run = _run(encoders, fns, repeats, device)
    out = _report(run, shape.batch * shape.input_len, encoder_flops(cfg, shape.batch, shape.input_len), peak,
                  "input tokens/s")
    a, b = run["results"]["native"], run["results"]["transformers"]
    out["max_abs_diff"] = float((a - b).abs().max())
    out["outputs_identical"] = bool(torch.allclose(a, b, atol=1e-4 * float(b.abs().max()), rtol=1e-4))
    for side, _, tag in VARIANTS:  # not held to the fp32 standard: how far int8/bf16 move the encoder output
        if side in run["results"]:
            q = run["results"][side].float()
            out[f"{tag}_vs_fp32"] = {"max_abs_diff": float((q - a).abs().max()),
                                     "rel_rms_diff": float((q - a).pow(2).mean().sqrt() / a.pow(2).mean().sqrt())}
    if any(impl.name == CT2 for impl in impls):
        out["first_step"] = measure_first_step(impls, cfg, shape, batch, repeats, device, peak)
    return out


def measure_first_step(impls: list[Impl], cfg: Any, shape: Shape, batch: Any, repeats: int, device: str,
                       peak: float) -> dict[str, Any]:
    """The encoder row against CTranslate2: its `Translator` has no encoder-only call (`encode` is not
    public; `forward_batch` belongs to its encoder-only `Encoder` class), so both sides generate exactly
    one token: encoder + cross-attention K/V + one decoder step, input tokens/s. Not against transformers."""
    ids, mask = batch
    decode = DecodeConfig(beam_size=1, max_decode_len=1)
    sides = [impl for impl in impls if impl.name in ("native", INT8, BF16, *CT2_SIDES)]
    fns = {impl.name: (lambda impl=impl: impl.generate(ids, mask, decode, True)) for impl in sides}
    run = _run(sides, fns, repeats, device)
    flops = encoder_flops(cfg, shape.batch, shape.input_len) + decoder_flops(cfg, shape.batch, shape.input_len, 1)
    out = _report(run, shape.batch * shape.input_len, flops, peak, "input tokens/s (encoder + first step)")
    out.update(_ct2_agreement(run["results"]))
    return out


def _ct2_agreement(results: dict[str, Any]) -> dict[str, Any]:
    """CTranslate2's outputs against native fp32: fp32 exactly (row by row), int8 as token agreement."""
    out: dict[str, Any] = {}
    if CT2 in results:
        out["ct2_vs_native"] = {**compare_outputs(results["native"], results[CT2]),
                                **token_agreement(results["native"], results[CT2])}
    for side, ct2_side, tag in VARIANTS:
        if ct2_side in results:
            out[f"ct2_{tag}_vs_fp32"] = token_agreement(results["native"], results[ct2_side])
            if side in results:
                out[f"{tag}_vs_fp32"] = token_agreement(results["native"], results[side])
    return out


def measure_decode(impls: list[Impl], cfg: Any, shape: Shape, batch: Any, repeats: int, device: str,
                   peak: float, beam: int) -> dict[str, Any]:
    """Generated tokens/s with exactly N new tokens per row (EOS suppressed before N in both).

    With every hypothesis of length N, T5's GNMT penalty and transformers' exponent rank beams
    alike (PITFALLS #5), so beam outputs are comparable too.
    """
    ids, mask = batch
    decode = DecodeConfig(beam_size=beam, alpha=0.6, max_decode_len=shape.new_tokens)
    fns = {impl.name: (lambda impl=impl: impl.generate(ids, mask, decode, True)) for impl in impls}
    run = _run(impls, fns, repeats, device)
    flops = encoder_flops(cfg, shape.batch, shape.input_len) + decoder_flops(
        cfg, shape.batch * beam, shape.input_len, shape.new_tokens)
    out = _report(run, shape.batch * shape.new_tokens, flops, peak, "generated tokens/s")
    out.update(compare_outputs(run["results"]["native"], run["results"]["transformers"]))
    for side, _, tag in VARIANTS:  # reported apart: not exact, so count what it keeps of fp32's output
        if side in run["results"]:
            out[f"{tag}_vs_fp32"] = token_agreement(run["results"]["native"], run["results"][side])
    out.update(_ct2_agreement(run["results"]))
    out["lengths_forced"] = all(len(r) == shape.new_tokens for r in run["results"]["native"])
    out["beam_size"] = beam
    return out


def compare_outputs(a: list[list[int]], b: list[list[int]]) -> dict[str, Any]:
    """Row-by-row equality of two id lists: the flag, the count, and the first differing row."""
    same = [x == y for x, y in zip(a, b, strict=True)]
    first = next((i for i, s in enumerate(same) if not s), None)
    return {"outputs_identical": all(same), "rows_identical": sum(same), "rows": len(same),
            "first_diff_row": first}


def token_agreement(reference: list[list[int]], other: list[list[int]]) -> dict[str, Any]:
    """How much of `reference` `other` reproduces: identical rows, and tokens equal position by position
    up to each row's first difference (after a differing token the continuations are not comparable)."""
    prefix = [next((i for i, (x, y) in enumerate(zip(r, o, strict=False)) if x != y), min(len(r), len(o)))
              for r, o in zip(reference, other, strict=True)]
    total = sum(len(r) for r in reference)
    return {"rows_identical": sum(r == o for r, o in zip(reference, other, strict=True)), "rows": len(reference),
            "tokens_before_first_diff": sum(prefix), "tokens": total,
            "token_agreement": sum(prefix) / total if total else 1.0}


def _labels(rows: int, length: int, vocab: int, device: str) -> torch.Tensor:
    """Seeded random target ids (rows, length) ending in EOS."""
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(3, min(vocab, 32000), (rows, length), generator=gen)
    labels[:, -1] = EOS_ID
    return labels.to(device)


def _measure_step(impls: list[Impl], cfg: Any, batch: Any, labels: torch.Tensor, lr: float, repeats: int,
                  device: str, peak: float) -> dict[str, Any]:
    """Forward + backward + Adafactor(lr) tokens/s (inputs + targets) and MFU (3 × forward matrix FLOPs)."""
    ids, mask = batch
    fns = {impl.name: (lambda impl=impl: impl.train_step(ids, mask, labels, lr)) for impl in impls}
    run = _run(impls, fns, repeats, device)
    rows, seq, new = ids.shape[0], ids.shape[1], labels.shape[1]
    fwd = encoder_flops(cfg, rows, seq) + decoder_flops(cfg, rows, seq, new)
    out = _report(run, rows * (seq + new), TRAIN_FLOPS_FACTOR * fwd, peak, "tokens/s")
    out["first_loss"] = {name: run["warm"][name] for name in fns}
    out["batch"] = {"rows": rows, "inputs": seq, "targets": new, "lr": lr}
    return out


def measure_train(impls: list[Impl], cfg: Any, shape: Shape, batch: Any, repeats: int, device: str,
                  peak: float) -> dict[str, Any]:
    """Fine-tuning step (forward + backward + Adafactor lr 1e-3) on B rows of S inputs and N targets.

    Both start from identical weights, but each updates its own copy; losses of the first
    (warm-up) step are compared, later ones drift apart with dropout and are not.
    """
    labels = _labels(shape.batch, shape.new_tokens, cfg.vocab_size, str(batch[0].device))
    return _measure_step(impls, cfg, batch, labels, FINETUNE_LR, repeats, device, peak)


def measure_pretrain(impls: list[Impl], cfg: Any, shape: Shape, seed: int, repeats: int, device: str,
                     peak: float) -> dict[str, Any]:
    """Pre-training step: the paper's span-corruption shape (rows of 512 inputs → 114 targets, as many
    rows as make about B·S input tokens), Adafactor at the schedule's first-10^4-steps rate 1e-2.

    Like `t5eval pretrain`, a padded batch (no packing); the ids are random (the step's cost does not
    depend on them). Same first-loss comparison as `measure_train`.
    """
    pre = Shape(shape.pretrain_rows(), shape.pretrain_inputs, shape.pretrain_targets, 1)
    batch = synthetic_batch(pre, cfg.vocab_size, seed, device)
    labels = _labels(pre.batch, pre.new_tokens, cfg.vocab_size, device)
    return _measure_step(impls, cfg, batch, labels, PRETRAIN_LR, repeats, device, peak)
