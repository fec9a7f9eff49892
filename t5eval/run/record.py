"""run.json (schema in docs/ARCHITECTURE.md), one builder for every family: the model, vocab, task, benchmark,
settings and env blocks, built from the plan's config objects (`TrainConfig`, `HeadHyperparameters`)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.eval.head_predictor import HeadTask
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
from t5eval.run.plan import HeadPlan, RunPlan, TextToTextPlan
from t5eval.tasks import TaskRegistry, TaskSpec
from t5eval.train.loop import TrainState, optimizer_record

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


def model_record(loaded: LoadedModel, init: str, architecture: str | None = None) -> dict[str, Any]:
    """The `model` block: source, init, size/variant (from the config's shape), weights hash, config.

    A checkpoint fine-tuned by `t5eval run` (its `<task>/best/`) is labelled init `finetuned`, with
    `finetuned_from` saying which run, task and step it is. `architecture` overrides the family's (task heads).
    """
    from t5eval.model import PRESETS
    from t5eval.model.cost import model_cost

    cfg = loaded.config
    family = cfg.to_hf().get("model_type", "t5")
    architecture = architecture or {"t5": "encoder-decoder", "gpt2": "decoder-only"}.get(family) or getattr(
        cfg, "architecture", None)
    if getattr(cfg, "shared_encoder_decoder", False):
        architecture = "encoder-decoder, shared"
    members = getattr(loaded.model, "members", None)  # an --ensemble (t5eval.model.ensemble)
    if family == "bert":  # the preset of the same shape (a random init resizes the vocabulary)
        variant, architecture = None, architecture or "encoder + task head"
        shape_of = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        size = next((n for n, p in loaded_presets(family).items()
                     if all(getattr(p, k) == getattr(cfg, k) for k in shape_of)), None)
    elif family != "t5":  # decoder-only families: the preset of the same config names the size
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


def task_record(task: EvalTask | HeadTask, result: Evaluation, state: TrainState | None, protocol: str,
                train: dict[str, Any] | None) -> dict[str, Any]:
    """A task's entry in run.json (schema in docs/ARCHITECTURE.md); `train` is the family's train block."""
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
        "decode": task.predictor.decode_record(),
        "metric_settings": metric_settings(spec, protocol),
        "train": train,
        "history": history,
        "throughput": {
            "train_tokens_per_s": round(state.tokens_per_s, 1) if state else 0.0,
            "decode_tokens_per_s": round(task.stats.tokens_per_s, 1),
            "decoded_examples": task.stats.decoded, "cached_examples": task.stats.cached,
        },
    }, result.metrics)  # fmt: skip


def _common_train(state: TrainState) -> dict[str, Any]:
    """The train-block fields every family records."""
    return {
        "steps": state.step, "train_tokens": state.train_tokens, "train_seconds": round(state.train_seconds, 2),
        "resumed_from_steps": list(state.resumed_from), "transfer_detail": state.transfer,
        "trainable_parameters": state.trainable_parameters,
        "trainable_parameters_last": state.trainable_parameters_last,
        "selection": "metric_group_max (mean of the task's metrics; ties keep the earlier step)",
    }


def text_train_block(state: TrainState | None, spec: TaskSpec, plan: TextToTextPlan) -> dict[str, Any] | None:
    """A text-to-text task's `train` block, from the `TrainConfig` the run trained with."""
    if state is None:
        return None
    cfg, opts = plan.train, plan.opts
    return _common_train(state) | {
        "train_lengths": dict(spec.train_lengths), "max_input_len": opts.max_input_len,
        "batch_tokens": cfg.batch_tokens, "grad_accum": cfg.grad_accum, "eval_every": cfg.eval_every,
        "mixture": opts.mixture, "mixing": opts.mixing if opts.mixture else None, "optimizer": optimizer_record(cfg),
        "dropout": cfg.dropout, "seed": cfg.seed,
        **opts.packing_settings(), "transfer": cfg.transfer,
    }  # fmt: skip


def head_train_block(state: TrainState | None, plan: HeadPlan, eval_every: int) -> dict[str, Any] | None:
    """A task-head task's `train` block, from the `HeadHyperparameters` the run trained with."""
    if state is None:
        return None
    return _common_train(state) | {"hyperparameters": plan.hp.record(), "eval_every": eval_every,
                                   "seed": plan.opts.seed, "transfer": plan.transfer}


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


def vocab_record(tokenizer: Any) -> dict[str, Any]:
    """The `vocab` block: path and sha256, and what the tokenizer says of itself (kind, size, casing)."""
    settings = tokenizer.settings() if hasattr(tokenizer, "settings") else {}
    return {"path": str(tokenizer.path), "sha256": tokenizer.sha256, **settings}


def build_run_record(plan: RunPlan, run_dir: Path, model: dict[str, Any], tokenizer: Any,
                     records: dict[str, dict[str, Any]], registry: TaskRegistry, start: float,
                     skipped: list[str], mixture: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble run.json (schema 1), for every family."""
    opts = plan.opts
    return {
        "schema": SCHEMA_VERSION, "run_id": run_dir.name, "status": "complete",
        "command": list(opts.command), "created": now_iso(),
        "wall_time_s": round(time.perf_counter() - start, 2),
        "model": model, "vocab": vocab_record(tokenizer), "settings": settings_block(plan),
        "env": env_block(opts), "tasks": records, "benchmarks": benchmarks_record(registry, records),
        "skipped_tasks": skipped,  # --skip-missing: asked for, but no eval data found
        **({"mixture": mixture} if mixture is not None else {}),  # --mixing's rates (t5eval.run.mixing)
    }  # fmt: skip


def env_block(opts: RunOptions) -> dict[str, Any]:
    """`env_record` plus the device and dtype the run used (GPU name from torch.cuda.get_device_name)."""
    env = env_record(opts.device, opts.threads)
    if opts.device.startswith("mps"):
        env["device_name"] = "Apple GPU (MPS)"
    env.update(device=opts.device, dtype=opts.dtype)
    return env


def settings_block(plan: RunPlan) -> dict[str, Any]:
    """`settings`: the options that shaped the run, `finetune` from the plan's config objects."""
    opts = plan.opts
    finetune: dict[str, Any] = {"enabled": opts.finetune}
    if opts.finetune and isinstance(plan, TextToTextPlan):
        finetune |= asdict(plan.train) | {
            "max_input_len": opts.max_input_len, "schedule": "constant", "optimizer": optimizer_record(plan.train)["name"],
            "mixture": opts.mixture, "mixing": opts.mixing if opts.mixture else None, **opts.packing_settings()}
    elif opts.finetune:
        finetune |= plan.finetune_settings() or {}
    head = isinstance(plan, HeadPlan)
    return {
        "seed": opts.seed, "finetune": finetune, "protocol": opts.protocol, "limit": opts.limit,
        "split": opts.split or "each task's eval split", "device": opts.device, "dtype": opts.dtype,
        "threads": opts.threads, "decode_batch_tokens": None if head else opts.batch_tokens,
        "data_dir": opts.resolved_data_dir(), "scoring": "head" if head else opts.scoring,
    }  # fmt: skip
