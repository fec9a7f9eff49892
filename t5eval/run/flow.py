"""Per-task and mixture flows of `t5eval run`: training data, fine-tuning with validation, final evaluation.

Each function takes the run's `RunContext`; finished work lands on disk (result.json, best weights,
decode cache), so a restarted run skips it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch

from t5eval.batching import in_precision
from t5eval.distributed.context import barrier
from t5eval.errors import T5evalError
from t5eval.eval.cache import MemoryCache
from t5eval.eval.predictor import predictor_for
from t5eval.eval.sharded import credit_prefill, prefill_decode_cache
from t5eval.eval.task import EvalTask, Evaluation, evaluate, prepare_eval_task
from t5eval.io import atomic_dir, atomic_write_bytes, atomic_write_json
from t5eval.results import is_subset, task_entry_from_json, write_metrics, write_predictions
from t5eval.run.context import RunContext, next_model
from t5eval.run.kernels import decoding_kernels
from t5eval.run.mixing import apply_mixing
from t5eval.run.options import eval_split, train_split
from t5eval.run.plan import TextToTextPlan
from t5eval.run.progress import TrainPlan
from t5eval.run.record import CHECKPOINT_ORIGIN, task_record, text_train_block
from t5eval.tasks import ExampleSet, TaskSpec
from t5eval.train.checkpoint import drop_checkpoints, resume_source
from t5eval.train.loop import TrainState, finetune
from t5eval.train.stream import TrainSource, TrainStream
from t5eval.train.text_step import Snapshot
from t5eval.trust import read_json_object


def finished_tasks(run_dir: Path, specs: list[TaskSpec], log: Callable[[str], None],
                   is_main: bool = True) -> dict[str, dict[str, Any]]:
    """{task: its run.json entry} of the tasks a restarted run finished already (their result.json), every family."""
    done = {s.name: task_entry_from_json(read_json_object(p, f"delete it to score {s.name} again"))
            for s in specs if (p := run_dir / s.name / "result.json").exists()}
    for name in done:
        log(f"{name}: already finished in {run_dir}, reusing it")
        if is_main:  # a kill between its result.json and dropping its checkpoints left them
            drop_checkpoints(run_dir / name / "checkpoint.pt")
    return done


def run_tasks(ctx: RunContext, specs: list[TaskSpec]) -> dict[str, dict[str, Any]]:
    """Run every task (per task, or as one mixture) and return {task: run.json task entry}."""
    done = finished_tasks(ctx.run_dir, specs, ctx.log, ctx.dist.is_main)
    todo = [s for s in specs if s.name not in done]
    if not todo and ctx.dist.is_main:
        shutil.rmtree(ctx.run_dir / "_mixture", ignore_errors=True)  # a kill after the mixture's last task
    if ctx.opts.mixture and todo:
        done.update(run_mixture(ctx, specs, set(done)))
    else:
        for spec in todo:
            done[spec.name] = run_one_task(ctx, spec)
    return {s.name: done[s.name] for s in specs}


def eval_task(ctx: RunContext, spec: TaskSpec) -> EvalTask:
    split = eval_split(spec, ctx.opts.split)
    example_set = load_task_examples(ctx, spec, split, ctx.opts.limit)
    predictor = predictor_for(spec, ctx.tokenizer, ctx.model_info["loaded"].model, ctx.opts.scoring)  # the model family
    task = prepare_eval_task(spec, split, example_set, ctx.tokenizer, ctx.run_dir / spec.name, predictor)
    if not ctx.dist.is_main:  # rank 0 alone writes the decode cache; it broadcasts what it holds
        task.cache.close()
        task.cache = MemoryCache()
    return task


def evaluate_task(ctx: RunContext, task: EvalTask, model: torch.nn.Module, advance: Callable[[int], None] | None,
                  sha: str | None = None) -> Evaluation:
    """`evaluate`, with the decoding sharded over the ranks first under torchrun (same outputs)."""
    from t5eval.model.checkpoint import state_dict_sha256

    sha = sha or state_dict_sha256(model)
    with decoding_kernels(ctx, task, model):  # --kernels (t5eval.run.kernels): chosen at the first call
        if not ctx.dist.is_distributed:
            return evaluate(task, model, ctx.tokenizer, protocol=ctx.opts.protocol, batch_tokens=ctx.opts.batch_tokens,
                            advance=advance, weights_sha256=sha, dtype=ctx.opts.dtype)
        return _evaluate_sharded(ctx, task, model, sha, advance)


def _evaluate_sharded(ctx: RunContext, task: EvalTask, model: torch.nn.Module, sha: str,
                      advance: Callable[[int], None] | None) -> Evaluation:
    """Each rank decodes its share into the cache first, then `evaluate` reads every output from it."""
    from t5eval.model import generate

    pre = prefill_decode_cache(model, task.input_ids, task.decode_config, task.cache, ctx.dist,
                               batch_tokens=ctx.opts.batch_tokens, weights_sha256=sha,
                               generate=in_precision(generate, ctx.dist.device, ctx.opts.dtype), advance=advance)
    result = evaluate(task, model, ctx.tokenizer, protocol=ctx.opts.protocol, batch_tokens=ctx.opts.batch_tokens,
                      weights_sha256=sha, dtype=ctx.opts.dtype)  # every output is cached now: no decoding here
    credit_prefill(task.stats, pre)
    return result


def load_task_examples(ctx: RunContext, spec: TaskSpec, split: str, limit: int | None) -> ExampleSet:
    from t5eval.tasks import load_examples

    return load_examples(spec, split, data_dir=ctx.opts.data_dir, limit=limit, protocol=ctx.opts.protocol)


def train_source(ctx: RunContext, spec: TaskSpec, weight: float = 1.0, mixture: bool = False) -> TrainSource | None:
    """`spec`'s training data (its `train_task`'s, e.g. MNLI for MNLI-m), or None with a plain message
    when the data has no train split (a `mixture` member: the mixture trains without it). Never falls
    back to validation data.

    Training lengths: inputs and targets cut with `append_eos_after_trim` to the task's train_lengths
    (spec §0); inputs also to --max-input-len.
    """
    train_spec = ctx.registry.get(spec.train_task) if spec.train_task else spec
    split = train_split(train_spec, ctx.opts.data_dir)
    if split is None:
        where = ctx.opts.data_dir or "the data source"
        what = spec.name if train_spec is spec else f"{train_spec.name} (the train task of {spec.name})"
        outcome = "the mixture trains without it" if mixture else "evaluating without fine-tuning"
        ctx.log(f"no train split for {what} in {where}: {outcome}")
        return None
    examples = load_task_examples(ctx, train_spec, split, None).examples
    in_len = min(train_spec.train_lengths["inputs"], ctx.opts.max_input_len or 10**9)
    tgt_len = train_spec.train_lengths["targets"]
    inputs = [ctx.tokenizer.encode(ex.inputs, max_len=in_len) for ex in examples]
    targets = [ctx.tokenizer.encode(ex.targets, max_len=tgt_len) for ex in examples]
    check_batch_holds_an_example(ctx.train_cfg.batch_tokens, train_spec.name, inputs, targets,
                                 ctx.train_cfg.pack_length is not None)
    return TrainSource(train_spec.name, inputs, targets, weight)


def check_batch_holds_an_example(batch_tokens: int, name: str, inputs: list[list[int]], targets: list[list[int]],
                                 packed: bool) -> None:
    """--batch-tokens must hold the longest training example (else a batch is bigger than the plan says):
    inputs + targets padded, or a packed row's longer side.

    Raises:
        T5evalError: naming the task, the longest example and the smallest --batch-tokens that works.
    """
    sizes = [max(len(i), len(t)) if packed else len(i) + len(t) for i, t in zip(inputs, targets, strict=True)]
    longest = max(sizes, default=0)
    if batch_tokens < longest:
        what = "its longer side (packed rows)" if packed else "inputs + targets"
        raise T5evalError(f"--batch-tokens {batch_tokens} cannot hold one training example of {name} (the longest "
                          f"is {longest} tokens, {what}); use --batch-tokens {longest} or more")


def mixture_extras(ctx: RunContext) -> list[TaskSpec]:
    """Training-only mixture members (`mixture_extra` in benchmarks.yaml) of the benchmarks named in the
    target: `super_glue` adds dpr_v001_simple (T5's super_glue_v102_proportional, spec §2)."""
    names = [n.strip() for n in ctx.opts.target.split(",")]
    benches = [ctx.registry.benchmarks[n] for n in names if n in ctx.registry.benchmarks]
    return [ctx.registry.get(extra) for bench in benches for extra in bench.mixture_extra]


def mixture_train_specs(ctx: RunContext, specs: list[TaskSpec]) -> list[TaskSpec]:
    """Training members of T5's proportional mixture: tasks with weight > 0, the `train_task` of
    weight-0 eval-only tasks (MNLI for MNLI-m/mm, wsc_simple_train for WSC), and the named benchmarks'
    training-only members (DPR for super_glue), each once."""
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.mixture_weight > 0:
            out.setdefault(spec.name, spec)
            continue
        train = ctx.registry.get(spec.train_task) if spec.train_task else None
        if train is not None and train.mixture_weight > 0:
            out.setdefault(train.name, train)
        else:
            ctx.log(f"{spec.name}: mixture weight 0, evaluated only (as in T5's mixtures)")
    for extra in mixture_extras(ctx):
        if extra.name not in out:
            ctx.log(f"{extra.name}: trained on in the mixture (weight {extra.mixture_weight:g}), not evaluated")
            out[extra.name] = extra
    return list(out.values())


def validator(ctx: RunContext, model: torch.nn.Module, tasks: list[EvalTask], snap: Snapshot) -> Callable[[int], dict]:
    """The `evaluate(step)` callback of `finetune`: scores the current weights on every task (FSDP: `model`
    is whole while it runs, the hash comes from `snap`)."""

    def validate(step: int) -> dict[str, dict[str, float]]:
        from t5eval.model.checkpoint import state_dict_sha256

        sha = snap.sha256 or state_dict_sha256(model)
        out = {}
        for task in tasks:
            with ctx.progress.decoding(f"{task.name} @ step {step}", len(task.input_ids)) as advance:
                result = evaluate_task(ctx, task, model, advance, sha)
            ctx.log(f"{task.name} step {step}: {fmt_metrics(result.metrics)}")
            out[task.name] = result.metrics
        return out

    return validate


def best_saver(ctx: RunContext, model: torch.nn.Module, snap: Snapshot) -> Callable[[str, int], None]:
    """The `on_best(task, step)` callback: keep that task's best weights in `<task>/best/` (FSDP: rank 0's
    plain copy in `snap`), with the run's `spiece.model` beside them, so `--model <task>/best` needs no --vocab."""
    from t5eval.model import T5, save_model

    def on_best(task: str, step: int) -> None:
        if not ctx.dist.is_main or _has_best(ctx.run_dir / task / "best", step):  # a resume asks again: skip
            return
        with atomic_dir(ctx.run_dir / task / "best") as best:  # best.tmp/, fsync'd, then swapped in as one unit
            save_model(cast(T5, snap.plain or model), best)
            atomic_write_bytes(best / "spiece.model", ctx.tokenizer.path.read_bytes())
            atomic_write_json(best / CHECKPOINT_ORIGIN, {
                "kind": "finetuned", "run_id": ctx.run_dir.name, "task": task, "step": step,
                "base_model": ctx.opts.model, "base_init": ctx.opts.init, "seed": ctx.opts.seed,
            } | ({"transfer": ctx.opts.transfer} if ctx.opts.transfer != "all" else {}))  # fmt: skip

    return on_best


def _has_best(best: Path, step: int) -> bool:
    """Whether `best/` already holds the weights of `step` (its origin record says so and the weights are there)."""
    try:
        origin = read_json_object(best / CHECKPOINT_ORIGIN, "")
    except T5evalError:
        return False
    return origin.get("step") == step and (best / "model.safetensors").is_file()


def finetune_tasks(ctx: RunContext, model: torch.nn.Module, sources: list[TrainSource], tasks: list[EvalTask],
              ckpt: Path, label: str) -> TrainState:
    stream = TrainStream(sources, ctx.train_cfg.batch_tokens, ctx.train_cfg.seed,
                         pack_length=ctx.train_cfg.pack_length)
    if (source := resume_source(ckpt)) is not None:
        ctx.log(f"{label}: resuming fine-tuning from {source}")
    cfg = ctx.train_cfg
    plan = TrainPlan(label, cfg.steps, cfg.batch_tokens * cfg.grad_accum, ctx.opts.device)
    advance, snap = ctx.progress.training(plan), Snapshot()
    state = finetune(model, stream, ctx.train_cfg, ckpt, validator(ctx, model, tasks, snap),
                     best_saver(ctx, model, snap), progress=advance, dist=ctx.dist, snapshot=snap)
    ctx.progress.done_training()
    ctx.log(f"{label}: {state.trainable_parameters:,} trainable parameters at the first step, "
            f"{state.trainable_parameters_last:,} at the last (--transfer {ctx.opts.transfer})")
    if state.resumed_from:
        ctx.log(f"{label}: fine-tuning resumed at step(s) {state.resumed_from}, not redone")
    return state


def run_one_task(ctx: RunContext, spec: TaskSpec) -> dict[str, Any]:
    """Fine-tune on one task (unless --no-finetune or no train split), then evaluate its best weights."""
    task = eval_task(ctx, spec)
    model = next_model(ctx).model
    source = train_source(ctx, spec) if ctx.opts.finetune else None
    state = None
    if source is not None:
        state = finetune_tasks(ctx, model, [source], [task], ctx.run_dir / spec.name / "checkpoint.pt", spec.name)
    return finish_task(ctx, task, model, state)


def run_mixture(ctx: RunContext, specs: list[TaskSpec], finished: set[str]) -> dict[str, dict[str, Any]]:
    """T5's proportional mixture: one model trained on all tasks with weight > 0; best step per task.

    Weight-0 tasks (e.g. MNLI-m/mm, which train through MNLI) are evaluated only. Tasks in `finished`
    (a restart after a crash in the final evaluations) still validate during training, for the same
    checkpoint, but are not finished again.
    """
    tasks = [eval_task(ctx, s) for s in specs]
    model = next_model(ctx).model
    state = None
    if ctx.opts.finetune:
        members = mixture_train_specs(ctx, specs)
        sources = [s for m in members if (s := train_source(ctx, m, m.mixture_weight, mixture=True)) is not None]
        if sources:
            apply_mixing(ctx, sources)  # --mixing (t5eval.run.mixing)
            ckpt = ctx.run_dir / "_mixture" / "checkpoint.pt"
            state = finetune_tasks(ctx, model, sources, tasks, ckpt, "mixture")
        else:
            ctx.log("no task of the mixture has a train split with weight > 0: evaluating without fine-tuning")
    out = {t.name: finish_task(ctx, t, model, state) for t in tasks if t.name not in finished}
    for task in tasks:
        task.cache.close()  # the finished ones were only validated
    if ctx.dist.is_main:
        shutil.rmtree(ctx.run_dir / "_mixture", ignore_errors=True)
    return out


def finish_task(ctx: RunContext, task: EvalTask, model: torch.nn.Module, state: TrainState | None) -> dict:
    """Evaluate the task's best weights (decodes come from the cache), write its result files."""
    from t5eval.model import load_model

    best_dir = ctx.run_dir / task.name / "best"
    best = model.to(ctx.opts.device) if state is None else model  # --fsdp loaded it on CPU
    if state is not None and task.name in state.best:
        barrier(ctx.dist)  # rank 0 has written the best weights
        best = load_model(str(best_dir), init="pretrained", device=ctx.opts.device).model
    with ctx.progress.decoding(f"{task.name} (final)", len(task.input_ids)) as advance:
        result = evaluate_task(ctx, task, best, advance)
    task_dir = ctx.run_dir / task.name
    plan = ctx.plan or TextToTextPlan(ctx.opts, ctx.train_cfg)
    entry = task_record(task, result, state, ctx.opts.protocol, text_train_block(state, task.spec, plan))
    task.cache.close()
    if not ctx.dist.is_main:
        return entry
    write_predictions(task_dir / "predictions.jsonl", result.rows)
    write_metrics(task_dir / "metrics.json", task.name, task.split, len(task.examples), result.metrics)
    atomic_write_json(task_dir / "result.json", entry)
    drop_checkpoints(task_dir / "checkpoint.pt")  # a finished task needs only its best weights
    subset = f"; subset: first {ctx.opts.limit} (--limit)" if is_subset(len(task.examples), ctx.opts.limit) else ""
    ctx.log(f"{task.name}: {fmt_metrics(result.metrics)} (n={len(task.examples)}, {task.split}{subset})")
    return entry


def fmt_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
