"""`t5eval bench`: native T5 against transformers' T5 on identical weights, in one run.

Flow: build the native model (random seeded weights of a preset, or a local checkpoint) → load
transformers' T5 from the same weights → measure the fp32 matmul peak → for each measure, warm
both up, time them alternately (native, transformers, native, …) and compare their outputs →
one JSON-ready dict (`run_bench`) that `bench_table.render` prints.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from t5eval.bench.ct2 import CT2_BF16, CT2_INT8
from t5eval.bench.e2e import E2EConfig, measure_e2e
from t5eval.bench.impls import BF16, INT8, HFImpl, Impl, NativeImpl, hf_twin
from t5eval.bench.kernel_choice import MODES as KERNEL_MODES
from t5eval.bench.kernel_choice import choose_kernels
from t5eval.bench.measures import (
    CT2_SIDES,
    VARIANTS,
    Shape,
    measure_decode,
    measure_encoder,
    measure_pretrain,
    measure_train,
    synthetic_batch,
)
from t5eval.bench.table import kernels_line
from t5eval.bench.timing import load_average
from t5eval.errors import T5evalError, did_you_mean
from t5eval.model.throughput import matmul_peak_gflops, mfu
from t5eval.results import cpu_model

MEASURES = ("encoder", "greedy", "beam", "train", "pretrain", "e2e")
AGAINST = ("transformers", "ctranslate2")
DTYPES = ("float32", "bfloat16")
SCHEMA = 1


@dataclass(frozen=True)
class BenchConfig:
    """Every knob of one bench run; the defaults are the issue's setting (t5-small, B=32, S=128, N=32)."""

    preset: str = "t5-small"
    model: Path | None = None  # a local HF-format checkpoint instead of random preset weights
    batch_size: int = 32
    input_len: int = 128
    new_tokens: int = 32
    beam_size: int = 4
    threads: int | None = None
    device: str = "cpu"
    repeats: int = 3
    seed: int = 0
    skip: tuple[str, ...] = ()
    task: str = "glue_rte_v002"
    limit: int | None = 64
    e2e_max_decode_len: int | None = None
    e2e_repeats: int = 1
    data_dir: Path | None = None
    vocab: Path | None = None
    matmul_size: int = 2048
    pretrain_inputs: int = 512  # pre-training rows: the paper's 512 span-corrupted inputs → 114 targets
    pretrain_targets: int = 114
    int8: bool = False  # also time native with int8 dynamic quantization (CPU; reported apart, outputs compared)
    dtype: str = "float32"  # "bfloat16": also native bf16 rows (and CTranslate2's bf16 with --against ctranslate2)
    kernels: str = "auto"  # fp32 linear kernels: auto (measured, kept where exact), mkl, onednn (CPU)
    against: str = "transformers"  # "ctranslate2": CTranslate2 joins as a third implementation (fp32; int8 too)
    extra: dict[str, Any] = field(default_factory=dict)

    def measures(self) -> list[str]:
        """The measures to run, after checking `skip` names (typos are user errors)."""
        for name in self.skip:
            if name not in MEASURES:
                raise T5evalError(f"--skip {name}: unknown measure{did_you_mean(name, MEASURES)}; "
                                  f"choose from {', '.join(MEASURES)}")
        return [m for m in MEASURES if m not in self.skip]


def _check_device(cfg: BenchConfig) -> None:
    """Reject a CUDA device on a machine without one, and int8 off the CPU, with the fix."""
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise T5evalError(f"--device {cfg.device}: CUDA is not available here; use --device cpu")
    if cfg.int8 and cfg.device != "cpu":
        raise T5evalError(f"--int8 uses CPU kernels (fbgemm); drop it or use --device cpu (got {cfg.device})")
    if cfg.dtype not in DTYPES:
        raise T5evalError(f"--dtype {cfg.dtype}: unknown{did_you_mean(cfg.dtype, DTYPES)}; choose from {', '.join(DTYPES)}")
    if cfg.kernels not in KERNEL_MODES:
        raise T5evalError(f"--kernels {cfg.kernels}: unknown{did_you_mean(cfg.kernels, KERNEL_MODES)}; "
                          f"choose from {', '.join(KERNEL_MODES)}")
    if cfg.against not in AGAINST:
        raise T5evalError(f"--against {cfg.against}: unknown implementation{did_you_mean(cfg.against, AGAINST)}; "
                          f"choose from {', '.join(AGAINST)}")
    if cfg.against == "ctranslate2" and cfg.device != "cpu":
        raise T5evalError(f"--against ctranslate2 is measured on the CPU only; use --device cpu (got {cfg.device})")


def build_models(cfg: BenchConfig) -> list[Impl]:
    """The native model (preset + seeded random init, or `cfg.model`), its transformers twin,
    with `cfg.int8` an int8-quantized copy of the native model (`INT8`), and with
    `--against ctranslate2` CTranslate2 twins converted from the same weights (fp32, and int8 with `cfg.int8`)."""
    from t5eval.model import load_model

    if cfg.model is not None:
        loaded = load_model(str(cfg.model), device=cfg.device)
    else:
        loaded = load_model(cfg.preset, init="random", seed=cfg.seed, device=cfg.device)
    native = loaded.model.eval()
    impls: list[Impl] = [NativeImpl(native), HFImpl(hf_twin(native, cfg.device))]
    if cfg.int8:
        from t5eval.model.quant import quantize_int8

        impls.append(NativeImpl(quantize_int8(native), name=INT8))
    if cfg.dtype == "bfloat16":
        impls.append(NativeImpl(copy.deepcopy(native).to(torch.bfloat16), name=BF16))
    if cfg.against == "ctranslate2":
        from t5eval.bench.ct2 import ct2_impls

        impls.extend(ct2_impls(native, torch.get_num_threads(), cfg.int8, cfg.dtype == "bfloat16"))
    return impls


def _package_versions() -> dict[str, str]:
    """Versions of the packages that decide the figures."""
    out = {}
    for pkg in ("torch", "transformers", "numpy", "t5eval", "ctranslate2"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def environment(device: str) -> dict[str, Any]:
    """Where the figures come from: versions, thread counts, CPU/GPU name, load average."""
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "packages": _package_versions(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu": cpu_model(),
        "cpu_count": torch.multiprocessing.cpu_count(),
        "device": device,
        "cuda_available": torch.cuda.is_available(),
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def run_bench(cfg: BenchConfig, progress: Any = None) -> dict[str, Any]:
    """Run the selected measures and return the JSON-ready report (see docs/bench.md for keys)."""
    _check_device(cfg)
    measures = cfg.measures()
    threads_before = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _run_measures(cfg, measures, progress or (lambda msg: None))
    finally:
        torch.set_num_threads(threads_before)  # the bench may run inside a test process


def _run_measures(cfg: BenchConfig, measures: list[str], say: Any) -> dict[str, Any]:
    """Build the models, measure the peak, then each selected measure in turn."""
    report: dict[str, Any] = {"schema": SCHEMA, "config": _config_json(cfg), "env": environment(cfg.device),
                              "load_average_start": load_average()}
    torch.manual_seed(cfg.seed)
    say("building models")
    impls = build_models(cfg)
    ct2 = [impl.provenance for impl in impls if impl.name in CT2_SIDES]  # type: ignore[attr-defined]
    if ct2:
        report["ctranslate2"] = ct2
    if cfg.int8:
        from t5eval.model.quant import int8_engine

        report["int8_engine"] = int8_engine()  # the kernels native int8 ran on (fbgemm or onednn)
    model_cfg = impls[0].model.config  # type: ignore[attr-defined]
    report["model_config"] = {k: getattr(model_cfg, k) for k in ("d_model", "d_ff", "num_layers", "num_heads",
                                                                   "d_kv", "vocab_size") if hasattr(model_cfg, k)}
    say("measuring the fp32 matmul peak")
    report["matmul_peak"] = matmul_peak_gflops(cfg.device, cfg.matmul_size)
    peak = report["matmul_peak"]["gflops_best"]
    shape = Shape(cfg.batch_size, cfg.input_len, cfg.new_tokens, cfg.beam_size, cfg.pretrain_inputs,
                  cfg.pretrain_targets)
    batch = synthetic_batch(shape, model_cfg.vocab_size, cfg.seed, cfg.device)
    if cfg.device == "cpu":
        say(f"choosing the fp32 linear kernels ({cfg.kernels})")
        native = impls[0]
        native.kernels, report["env"]["linear_kernels"] = choose_kernels(  # type: ignore[attr-defined]
            native.model, model_cfg, shape, batch, cfg.kernels)  # type: ignore[attr-defined]
        say(kernels_line(report["env"]))
    results: dict[str, Any] = {}
    for name in measures:
        say(f"measuring {name}")
        results[name] = _measure(name, impls, model_cfg, shape, batch, cfg, peak)
    _add_decode_loop(results)
    say("measuring the fp32 matmul peak again")
    end_peak = matmul_peak_gflops(cfg.device, cfg.matmul_size)
    report["matmul_peak_end"] = end_peak
    _rescale_shares(results, max(peak, end_peak["gflops_best"]))
    report["measures"] = results
    report["outputs_identical"] = all(r.get("outputs_identical", True) for r in results.values())
    report["load_average_end"] = load_average()
    return report


def _measure(name: str, impls: list[Impl], model_cfg: Any, shape: Shape, batch: Any, cfg: BenchConfig,
             peak: float) -> dict[str, Any]:
    """Dispatch one measure by name; the int8 copies join the encoder and decode measures only, and
    CTranslate2 (fp32) every measure but training."""
    if name in ("train", "pretrain"):
        impls = [impl for impl in impls if impl.name not in (INT8, BF16, *CT2_SIDES)]
    if name == "e2e":
        impls = [impl for impl in impls if impl.name not in (INT8, BF16, CT2_INT8, CT2_BF16)]
    if name == "encoder":
        return measure_encoder(impls, model_cfg, shape, batch, cfg.repeats, cfg.device, peak)
    if name in ("greedy", "beam"):
        beam = 1 if name == "greedy" else cfg.beam_size
        return measure_decode(impls, model_cfg, shape, batch, cfg.repeats, cfg.device, peak, beam)
    if name == "train":
        return measure_train(impls, model_cfg, shape, batch, cfg.repeats, cfg.device, peak)
    if name == "pretrain":
        return measure_pretrain(impls, model_cfg, shape, cfg.seed, cfg.repeats, cfg.device, peak)
    e2e = E2EConfig(cfg.task, cfg.limit, cfg.batch_size, cfg.data_dir, cfg.vocab, cfg.e2e_max_decode_len, cfg.model)
    return measure_e2e(impls, e2e, cfg.device, cfg.e2e_repeats)


def _rescale_shares(results: dict[str, Any], peak: float) -> None:
    """Shares of the matmul peak against the best peak seen (start or end of the run): load on the
    shared cores can depress one probe, and a low peak would flatter every share."""
    for m in results.values():
        if "matrix_gflop" not in m:
            continue
        m["peak_gflops_used"] = peak
        for side in _sides(m):
            m[side]["share_of_peak"] = mfu(m["matrix_gflop"] * 1e9, m[side]["median_s"], peak)
        if "first_step" in m:
            _rescale_shares({"first_step": m["first_step"]}, peak)


def _sides(measure: dict[str, Any]) -> list[str]:
    """The implementations timed in one measure: native, transformers, native-int8, CTranslate2 (fp32/int8)."""
    return [name for name in ("native", "transformers", INT8, BF16, *CT2_SIDES) if name in measure]


def _add_decode_loop(results: dict[str, Any]) -> None:
    """Generated tokens/s of the decoder loop alone: generate time minus encoder time (medians).

    Both implementations run the same encoder once per batch (transformers expands beams after
    encoding), so this isolates what decoding itself costs; the end-to-end rate stays the headline.
    """
    if "encoder" not in results:
        return
    for name in ("greedy", "beam"):
        if name not in results:
            continue
        m, loop = results[name], {}
        for side in _sides(m):
            if side not in results["encoder"]:  # CTranslate2: no encoder-only timing to subtract
                continue
            seconds = m[side]["median_s"] - results["encoder"][side]["median_s"]
            loop[side] = m["work"] / seconds if seconds > 0 else float("nan")
        loop["ratio"] = loop["native"] / loop["transformers"]
        for variant, _, tag in VARIANTS:
            if variant in loop:
                loop[f"ratio_{tag}"] = loop[variant] / loop["transformers"]
        m["decode_loop_rate"] = loop


def _config_json(cfg: BenchConfig) -> dict[str, Any]:
    """The config with paths as strings."""
    out = dataclasses.asdict(cfg)
    for key, value in out.items():
        if isinstance(value, Path):
            out[key] = str(value)
    out["skip"] = list(cfg.skip)
    return out
