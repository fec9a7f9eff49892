"""run.json for task-head runs: the schema of docs/ARCHITECTURE.md, with the head and recipe recorded."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from t5eval.eval.heads import HeadTask
from t5eval.eval.task import Evaluation
from t5eval.model import BERT_PRESETS, BertConfig, LoadedModel
from t5eval.results import SCHEMA_VERSION, now_iso
from t5eval.run.options import RunOptions
from t5eval.run.record import benchmarks_record, env_block, metric_settings, model_record
from t5eval.tasks import TaskRegistry
from t5eval.tokenizer.pairs import PairTokenizer
from t5eval.train.heads import HeadRecipe, HeadTraining


def head_task_record(task: HeadTask, result: Evaluation, training: HeadTraining | None,
                     opts: RunOptions) -> dict[str, Any]:
    """A task's run.json entry (same keys as text-to-text tasks; `decode` describes the head instead)."""
    spec, recipe = task.spec, opts.recipe or HeadRecipe()
    best = training.best if training else None
    seconds = training.train_seconds if training else 0.0
    return {
        "split": task.split, "n": len(task.examples), "metrics": result.metrics,
        "best_step": best["step"] if best else None, "finetuned": training is not None,
        "weights_sha256": result.weights_sha256,
        "task_def": {"name": spec.name, "t5_name": spec.t5_name, "version": spec.version, "sha256": spec.sha256,
                     "path": spec.path},
        "data_files": task.files, "data_source": task.source,
        "decode": {"head": {"kind": task.head.kind, "a": list(task.head.a), "b": list(task.head.b),
                            "choices": list(task.head.choices), "outputs": task.head.num_outputs,
                            "candidates": task.head.candidates, "referent": task.head.referent,
                            "train_preprocessor_args": dict(task.head.train_preprocessor_args)},
                   "max_len": recipe.max_len, "eval_inputs_truncated": True},
        "metric_settings": metric_settings(spec, opts.protocol),
        "train": None if training is None else {
            "steps": training.steps, "train_tokens": training.train_tokens,
            "train_seconds": round(training.train_seconds, 2), "recipe": recipe.record(), "seed": opts.seed,
            "transfer": recipe.transfer, "trainable_parameters": training.trainable_parameters,
            "trainable_parameters_last": training.trainable_parameters_last,
            "best_epoch": best["epoch"] if best else None, "selection": recipe.record()["selection"]},
        "history": training.history if training else [],
        "throughput": {"train_tokens_per_s": round(training.train_tokens / seconds, 1) if training and seconds else 0.0,
                       "decode_tokens_per_s": 0.0, "decoded_examples": len(task.examples), "cached_examples": 0},
    }  # fmt: skip


def head_model_record(loaded: LoadedModel[Any], init: str) -> dict[str, Any]:
    """The `model` block: family, size (preset whose shape matches), weights hash, config."""
    cfg = loaded.config
    if not isinstance(cfg, BertConfig):  # T5 with --head classify
        out = model_record(loaded, init)
        return out | {"family": "t5", "architecture": "T5 encoder (mean-pooled) + task head"}
    shape = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    size = next((n for n, p in BERT_PRESETS.items() if all(getattr(p, k) == getattr(cfg, k) for k in shape)), None)
    return {"source": str(loaded.source), "init": init, "size": size, "variant": None, "family": "bert",
            "architecture": "encoder + task head", "weights_sha256": loaded.weights_sha256, "config": cfg.to_hf()}


def head_run_record(opts: RunOptions, run_dir: Path, loaded: LoadedModel[Any], tokenizer: PairTokenizer,
                    records: dict[str, dict[str, Any]], registry: TaskRegistry, start: float,
                    skipped: list[str]) -> dict[str, Any]:
    """run.json (schema 1) of a task-head run."""
    recipe = opts.recipe or HeadRecipe()
    finetune: dict[str, Any] = {"enabled": opts.finetune}
    if opts.finetune:
        finetune |= asdict(recipe) | recipe.record()
    return {
        "schema": SCHEMA_VERSION, "run_id": run_dir.name, "status": "complete", "command": list(opts.command),
        "created": now_iso(), "wall_time_s": round(time.perf_counter() - start, 2),
        "model": head_model_record(loaded, opts.init), "vocab": tokenizer.settings(),
        "settings": {"seed": opts.seed, "finetune": finetune, "protocol": opts.protocol, "limit": opts.limit,
                     "split": opts.split or "each task's eval split", "device": opts.device, "dtype": opts.dtype,
                     "threads": opts.threads, "data_dir": opts.resolved_data_dir()},
        "env": env_block(opts), "tasks": records, "benchmarks": benchmarks_record(registry, records),
        "skipped_tasks": skipped,
    }  # fmt: skip
