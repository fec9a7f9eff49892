"""run.json (schema in docs/ARCHITECTURE.md): the model, task, benchmark, settings and env blocks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.eval.task import EvalTask, Evaluation
from t5eval.io import read_json
from t5eval.model import LoadedModel
from t5eval.results import (
    SCHEMA_VERSION,
    env_record,
    now_iso,
    with_undefined,
)
from t5eval.run.options import RunOptions
from t5eval.tasks import TaskRegistry, TaskSpec
from t5eval.tokenizer import Tokenizer
from t5eval.train.loop import TrainState

CHECKPOINT_ORIGIN = "t5eval_checkpoint.json"  # written beside the weights of a run's <task>/best/


def checkpoint_origin(source: str) -> dict[str, Any] | None:
    """What a local checkpoint written by `t5eval run` is: its `t5eval_checkpoint.json`, or for an older
    `<run>/<task>/best/` without one, what the run.json beside it says; None for anything else."""
    folder = Path(source)
    if (folder / CHECKPOINT_ORIGIN).is_file():
        return dict(read_json(folder / CHECKPOINT_ORIGIN))
    run_json = folder.parent.parent / "run.json"
    if folder.name != "best" or not run_json.is_file():
        return None
    record = read_json(run_json)
    task = (record.get("tasks") or {}).get(folder.parent.name) or {}
    if not task.get("finetuned"):
        return None
    model = record.get("model") or {}
    return {"kind": "finetuned", "run_id": record.get("run_id"), "task": folder.parent.name,
            "step": task.get("best_step"), "base_model": model.get("source"), "base_init": model.get("init")}


def model_record(loaded: LoadedModel, init: str) -> dict[str, Any]:
    """The `model` block: source, init, size/variant (from the config's shape), weights hash, config.

    A checkpoint fine-tuned by `t5eval run` (its `<task>/best/`) is labelled init `finetuned`, with
    `finetuned_from` saying which run, task and step it is.
    """
    from t5eval.model import PRESETS
    from t5eval.model.cost import model_cost

    cfg = loaded.config
    family = cfg.to_hf().get("model_type", "t5")
    architecture = {"t5": "encoder-decoder", "gpt2": "decoder-only"}.get(family) or getattr(cfg, "architecture", None)
    if getattr(cfg, "shared_encoder_decoder", False):
        architecture = "encoder-decoder, shared"
    members = getattr(loaded.model, "members", None)  # an --ensemble (t5eval.model.ensemble)
    if family != "t5":  # decoder-only families: the preset of the same config names the size
        variant = None
        size = next((n for n, p in loaded_presets(family).items() if p == cfg), None)
    else:
        shape = ("d_model", "d_ff", "num_layers", "num_heads", "d_kv", "feed_forward_proj")
        variant = cfg.variant
        size = next((n.split("-")[-1] for n, p in PRESETS.items() if not n.endswith(("-shared", "-half"))
                     and all(getattr(p, k) == getattr(cfg, k) for k in shape)), None)
    origin = checkpoint_origin(str(loaded.source)) if init == "pretrained" else None
    block = {
        "source": str(loaded.source), "init": init if origin is None else "finetuned", "family": family,
        "architecture": architecture, "size": size, "variant": variant,
        "weights_sha256": loaded.weights_sha256, "config": cfg.to_hf(), "cost": model_cost(loaded.model),
    }  # fmt: skip
    if members is not None:
        block["ensemble"] = {"members": str(loaded.source).removeprefix("ensemble:").split(","),
                             "reduce": getattr(loaded.model, "reduce", None), "size": len(members)}
    return block if origin is None else {**block, "finetuned_from": origin}


def loaded_presets(family: str) -> dict[str, Any]:
    from t5eval.model.load import FAMILIES

    return dict(FAMILIES[family].presets)


def task_record(task: EvalTask, result: Evaluation, state: TrainState | None, opts: RunOptions,
                optimizer: dict[str, Any] | None) -> dict[str, Any]:
    """A task's entry in run.json (schema in docs/ARCHITECTURE.md)."""
    spec = task.spec
    history = state.history.get(task.name, []) if state else []
    best = state.best.get(task.name) if state else None
    return with_undefined({
        "split": task.split, "n": len(task.examples), "metrics": result.metrics,
        "best_step": best["step"] if best else None, "finetuned": state is not None,
        "weights_sha256": result.weights_sha256,
        "task_def": {"name": spec.name, "t5_name": spec.t5_name, "version": spec.version,
                     "sha256": spec.sha256, "path": spec.path},
        "data_files": task.files, "data_source": task.source,
        "decode": task.recipe.decode_record(),
        "metric_settings": metric_settings(spec, opts.protocol),
        "train": train_block(state, spec, opts, optimizer),
        "history": history,
        "throughput": {
            "train_tokens_per_s": round(state.tokens_per_s, 1) if state else 0.0,
            "decode_tokens_per_s": round(task.stats.tokens_per_s, 1),
            "decoded_examples": task.stats.decoded, "cached_examples": task.stats.cached,
        },
    }, result.metrics)  # fmt: skip


def train_block(state: TrainState | None, spec: TaskSpec, opts: RunOptions, optimizer: dict[str, Any] | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "steps": state.step, "train_tokens": state.train_tokens, "train_seconds": round(state.train_seconds, 2),
        "train_lengths": dict(spec.train_lengths), "max_input_len": opts.max_input_len,
        "batch_tokens": opts.batch_tokens, "grad_accum": opts.grad_accum, "eval_every": opts.eval_every,
        "mixture": opts.mixture, "mixing": opts.mixing if opts.mixture else None, "optimizer": optimizer, "dropout": 0.1, "seed": opts.seed, **opts.packing_settings(),
        "resumed_from_steps": list(state.resumed_from), "transfer": opts.transfer, "transfer_detail": state.transfer,
        "trainable_parameters": state.trainable_parameters,
        "trainable_parameters_last": state.trainable_parameters_last,
        "selection": "metric_group_max (mean of the task's metrics; ties keep the earlier step)",
    }  # fmt: skip


def metric_settings(spec: TaskSpec, protocol: str) -> dict[str, Any]:
    """How the metrics were computed: names, protocol, and each metric's definition/options/signature."""
    from t5eval.metrics import metric_settings as settings_of

    names = list(spec.metrics_for(protocol))
    return {"protocol": protocol, "metrics": names, "settings": {n: settings_of(n) for n in names}}


def benchmarks_record(registry: TaskRegistry, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Benchmark averages (T5's rules, spec §3) for every benchmark the run touched."""
    from t5eval.tasks import benchmark_average

    metrics = {name: rec["metrics"] for name, rec in records.items()}
    out: dict[str, Any] = {}
    for bench in sorted({registry.get(name).benchmark for name in records}):
        try:
            avg = benchmark_average(bench, metrics, registry=registry)
        except T5evalError as err:
            out[bench] = {"average": None, "complete": False, "note": str(err)}
            continue
        out[bench] = dict(avg)
    return out


def build_run_record(
    opts: RunOptions, run_dir: Path, model_info: dict[str, Any], tokenizer: Tokenizer,
    records: dict[str, dict[str, Any]], registry: TaskRegistry, start: float,
) -> dict[str, Any]:  # fmt: skip
    """Assemble run.json (schema 1)."""
    loaded = model_info.get("loaded")
    model = model_record(loaded, opts.init) if loaded else {"source": opts.model, "init": opts.init}
    return {
        "schema": SCHEMA_VERSION, "run_id": run_dir.name, "status": "complete",
        "command": list(opts.command), "created": now_iso(),
        "wall_time_s": round(time.perf_counter() - start, 2),
        "model": model,
        "vocab": {"path": str(tokenizer.path), "sha256": tokenizer.sha256},
        "settings": settings_block(opts),
        "env": env_block(opts),
        "tasks": records,
        "benchmarks": benchmarks_record(registry, records),
        **({"mixture": model_info["mixture"]} if "mixture" in model_info else {}),
    }  # fmt: skip


def env_block(opts: RunOptions) -> dict[str, Any]:
    """`env_record` plus the device and dtype the run used (GPU name from torch.cuda.get_device_name)."""
    env = env_record(opts.device, opts.threads)
    if opts.device.startswith("mps"):
        env["device_name"] = "Apple GPU (MPS)"
    env.update(device=opts.device, dtype=opts.dtype)
    return env


def settings_block(opts: RunOptions) -> dict[str, Any]:
    finetune: dict[str, Any] = {"enabled": opts.finetune}
    if opts.finetune:
        finetune.update(steps=opts.steps, eval_every=opts.eval_every, batch_tokens=opts.batch_tokens,
                        grad_accum=opts.grad_accum, max_input_len=opts.max_input_len, lr=1e-3,
                        schedule="constant", dropout=0.1, optimizer="torch.optim.Adafactor",
                        mixture=opts.mixture, mixing=opts.mixing if opts.mixture else None, transfer=opts.transfer,
                        **opts.packing_settings())
    return {
        "seed": opts.seed, "finetune": finetune, "protocol": opts.protocol, "limit": opts.limit,
        "split": opts.split or "each task's eval split", "device": opts.device, "dtype": opts.dtype, "threads": opts.threads,
        "decode_batch_tokens": opts.batch_tokens, "data_dir": opts.resolved_data_dir(), "scoring": opts.scoring,
    }  # fmt: skip
