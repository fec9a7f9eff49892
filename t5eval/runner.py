"""`t5eval run`: fine-tune (optional) and evaluate T5 on tasks, recording results anyone can recompute.

The flow reads like docs/ARCHITECTURE.md: resolve tasks → load model + tokenizer → per task (or one
T5 proportional mixture): fine-tune with validation every N steps, keep the best step per task
(`metric_group_max`) → decode the eval split with the best weights → postprocess → metrics → results.
Every piece of finished work is on disk (checkpoints, decode cache, per-task result files), so a
restarted run skips it. Helpers for run dirs and records live in `t5eval.run_setup`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import torch

from t5eval.batching import TrainSource, TrainStream, in_precision
from t5eval.decode_cache import MemoryCache
from t5eval.dist_eval import credit_prefill, prefill_decode_cache
from t5eval.dist_train import plan_batches
from t5eval.distributed import DistContext, barrier, init_distributed, run_on_main
from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json, read_json
from t5eval.results import code_change_note, write_metrics, write_predictions, write_run
from t5eval.run_setup import (
    RunOptions,
    build_run_record,
    check_device,
    check_dtype,
    check_eval_data,
    eval_split,
    model_slug,
    prepare_run_dir,
    run_settings,
    task_record,
    train_split,
)
from t5eval.run_setup import RunProgress as RunProgress
from t5eval.task_eval import EvalTask, evaluate, prepare_eval_task
from t5eval.train import Snapshot, TrainConfig, TrainState, finetune, optimizer_record
from t5eval.train_ckpt import describe, drop_checkpoints

Log = Callable[[str], None]


class RunInterrupted(Exception):
    """Ctrl-C: finished work is saved; rerunning the same command resumes in `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


@dataclass
class RunContext:
    """What every task of a run shares."""

    opts: RunOptions
    run_dir: Path
    tokenizer: Any
    registry: Any
    progress: RunProgress
    log: Log
    train_cfg: TrainConfig
    model_info: dict[str, Any] = field(default_factory=dict)
    spare: Any = None  # the starting model, loaded up front, not yet used by a task
    dist: DistContext = field(default_factory=DistContext)  # torchrun ranks (docs/distributed.md)


def run(opts: RunOptions, progress: RunProgress | None = None, log: Log = print) -> dict[str, Any]:
    """Run `opts` end to end and return the run record (also written to `<run_dir>/run.json`).

    Raises:
        T5evalError: bad input (unknown task, model, vocab, data, a run dir with other settings, OOM).
        RunInterrupted: on Ctrl-C, after saving what is done.
    """
    start = time.perf_counter()
    threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        return _run(opts, progress, log, start)
    finally:
        torch.set_num_threads(threads)


def _run(opts: RunOptions, progress: RunProgress | None, log: Log, start: float) -> dict[str, Any]:
    from t5eval.tasks import TaskRegistry
    from t5eval.tokenizer import T5Tokenizer

    check_device(opts.device)
    check_dtype(opts.dtype)
    dist = init_distributed(device=opts.device)  # under torchrun, --device cuda means cuda:LOCAL_RANK  # without torchrun's variables: one process, no group
    if not dist.is_main:  # only rank 0 prints, draws progress bars and writes files
        progress, log = None, _silent
    _check_fsdp(opts, dist)
    if dist.is_distributed and opts.finetune:
        plan_batches(opts.grad_accum, dist.world_size)  # --grad-accum must split evenly over the ranks
    registry = TaskRegistry.default()
    asked_specs = registry.resolve(opts.target)
    specs = check_eval_data(asked_specs, opts.data_dir, opts.split, opts.skip_missing)
    skipped = [s.name for s in asked_specs if s not in specs]
    if skipped:
        log(f"--skip-missing: no eval data for {', '.join(skipped)}; left out (benchmark averages say so)")
    model_dir = Path(opts.model) if Path(opts.model).is_dir() else None
    tokenizer = T5Tokenizer.find(model_dir, opts.vocab)
    asked, opts = opts, _on_device(opts, dist)
    first = _fresh_model(opts)  # before any file is written: a bad model source fails cleanly
    tokenizer.check_fits(first.config.vocab_size)
    settings = run_settings(asked, specs, tokenizer, first.weights_sha256)  # --device as asked (`cuda`)
    run_dir, previous = run_on_main(lambda: prepare_run_dir(opts, settings, log), dist)
    if previous is not None:
        log(f"{run_dir} already holds this finished run (same settings){code_change_note(previous)}; "
            "pass --overwrite to redo it")
        return previous
    train_cfg = TrainConfig(opts.steps, opts.eval_every, opts.batch_tokens, opts.grad_accum, seed=opts.seed,
                            dtype=opts.dtype, fsdp=opts.fsdp)
    ctx = RunContext(opts, run_dir, tokenizer, registry, progress or RunProgress(None), log, train_cfg,
                     model_info={"loaded": first}, spare=first, dist=dist)
    try:
        with ctx.progress:
            records = _run_tasks(ctx, specs)
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir) from None
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if isinstance(err, torch.OutOfMemoryError) or "can't allocate memory" in str(err) or (
            "out of memory" in str(err)
        ):
            raise T5evalError(
                f"out of memory with --batch-tokens {opts.batch_tokens}; lower --batch-tokens "
                "(and raise --grad-accum to keep the batch), then rerun the same command to resume"
            ) from None
        raise
    record = build_run_record(ctx.opts, ctx.run_dir, ctx.model_info, tokenizer, records, registry, start)
    record["skipped_tasks"] = skipped  # --skip-missing: asked for, but no eval data found
    if dist.is_distributed:
        record["env"]["distributed"] = {"world_size": dist.world_size, "backend": dist.backend}
        if opts.fsdp:
            record["env"]["distributed"]["fsdp"] = True
    if dist.is_main:
        write_run(run_dir, record)
    barrier(dist)
    return record


def _check_fsdp(opts: RunOptions, dist: DistContext) -> None:
    """--fsdp shards training over torchrun's ranks: refuse it where there is nothing to shard over."""
    if opts.fsdp and dist.world_size < 2:
        raise T5evalError(
            "--fsdp shards fine-tuning over torchrun's processes and needs at least 2; launch with "
            "`torchrun --nproc-per-node 2 (or more) -m t5eval run … --fsdp`, or drop --fsdp"
        )


def _on_device(opts: RunOptions, dist: DistContext) -> RunOptions:
    """`opts` with this rank's device under torchrun (`cuda` -> `cuda:LOCAL_RANK`); as is otherwise."""
    if not dist.is_distributed:
        return opts
    return replace(opts, device=str(dist.device))


def _silent(message: str) -> None:
    """The log of ranks other than 0."""


def _run_tasks(ctx: RunContext, specs: list[Any]) -> dict[str, dict[str, Any]]:
    """Run every task (per task, or as one mixture) and return {task: run.json task entry}."""
    done = {s.name: read_json(p) for s in specs if (p := ctx.run_dir / s.name / "result.json").exists()}
    for name in done:
        ctx.log(f"{name}: already finished in {ctx.run_dir}, reusing it")
    todo = [s for s in specs if s.name not in done]
    if ctx.opts.mixture and todo:
        done.update(_run_mixture(ctx, specs, set(done)))
    else:
        for spec in todo:
            done[spec.name] = _run_one_task(ctx, spec)
    return {s.name: done[s.name] for s in specs}


def _fresh_model(opts: RunOptions) -> Any:
    """The starting model as `--model`/`--init`/`--seed` define it (seeded when random).

    --fsdp loads it on CPU: FSDP2 moves it to the device unit by unit as it shards it.
    """
    from t5eval.model import PRESETS, load_model

    try:
        return load_model(opts.model, init=opts.init, seed=opts.seed, device="cpu" if opts.fsdp else opts.device)
    except T5evalError as err:
        if opts.init == "pretrained" and opts.model in PRESETS and not Path(opts.model).exists():
            raise T5evalError(f"{err}; or, for the preset {opts.model!r} with fresh seeded weights, "
                              "add --init random") from None
        raise


def _load_model(ctx: RunContext) -> Any:
    """A fresh copy of the starting model for the next task (the first one is loaded already)."""
    if ctx.spare is not None:
        loaded, ctx.spare = ctx.spare, None
        return loaded
    return _fresh_model(ctx.opts)


def _eval_task(ctx: RunContext, spec: Any) -> EvalTask:
    split = eval_split(spec, ctx.opts.split)
    example_set = _load_examples(ctx, spec, split, ctx.opts.limit)
    task = prepare_eval_task(spec, split, example_set, ctx.tokenizer, ctx.run_dir / spec.name)
    if not ctx.dist.is_main:  # rank 0 alone writes the decode cache; it broadcasts what it holds
        task.cache.close()
        task.cache = MemoryCache()
    return task


def _evaluate(ctx: RunContext, task: EvalTask, model: torch.nn.Module, advance: Any, sha: str | None = None) -> Any:
    """`evaluate`, with the decoding sharded over the ranks first under torchrun (same outputs)."""
    from t5eval.decode_cache import state_dict_sha256
    from t5eval.model import generate

    sha = sha or state_dict_sha256(model)
    if not ctx.dist.is_distributed:
        return evaluate(task, model, ctx.tokenizer, protocol=ctx.opts.protocol,
                        batch_tokens=ctx.opts.batch_tokens, advance=advance, weights_sha256=sha, dtype=ctx.opts.dtype)
    pre = prefill_decode_cache(model, task.input_ids, task.decode_config, task.cache, ctx.dist,
                               batch_tokens=ctx.opts.batch_tokens, weights_sha256=sha,
                               generate=in_precision(generate, ctx.dist.device, ctx.opts.dtype), advance=advance)
    result = evaluate(task, model, ctx.tokenizer, protocol=ctx.opts.protocol, batch_tokens=ctx.opts.batch_tokens,
                      weights_sha256=sha, dtype=ctx.opts.dtype)  # every output is cached now: no decoding here
    credit_prefill(task.stats, pre)
    return result


def _load_examples(ctx: RunContext, spec: Any, split: str, limit: int | None) -> Any:
    from t5eval.tasks import load_examples

    return load_examples(spec, split, data_dir=ctx.opts.data_dir, limit=limit, protocol=ctx.opts.protocol)


def _train_source(ctx: RunContext, spec: Any, weight: float = 1.0, mixture: bool = False) -> TrainSource | None:
    """`spec`'s training data (its `train_task`'s, e.g. MNLI for MNLI-m), or None with a plain message
    when the data has no train split (a `mixture` member: the mixture trains without it). Never falls
    back to validation data.

    Training lengths: inputs and targets cut with `append_eos_after_trim` to the task's train_lengths
    (spec §0); inputs also to --max-input-len.
    """
    train_spec = ctx.registry.get(spec.train_task) if getattr(spec, "train_task", None) else spec
    split = train_split(train_spec, ctx.opts.data_dir)
    if split is None:
        where = ctx.opts.data_dir or "the data source"
        what = spec.name if train_spec is spec else f"{train_spec.name} (the train task of {spec.name})"
        outcome = "the mixture trains without it" if mixture else "evaluating without fine-tuning"
        ctx.log(f"no train split for {what} in {where}: {outcome}")
        return None
    examples = _load_examples(ctx, train_spec, split, None).examples
    in_len = min(train_spec.train_lengths["inputs"], ctx.opts.max_input_len or 10**9)
    tgt_len = train_spec.train_lengths["targets"]
    inputs = [ctx.tokenizer.encode(ex.inputs, max_len=in_len) for ex in examples]
    targets = [ctx.tokenizer.encode(ex.targets, max_len=tgt_len) for ex in examples]
    return TrainSource(train_spec.name, inputs, targets, weight)


def _mixture_extras(ctx: RunContext) -> list[Any]:
    """Training-only mixture members (`mixture_extra` in benchmarks.yaml) of the benchmarks named in the
    target: `super_glue` adds dpr_v001_simple (T5's super_glue_v102_proportional, spec §2)."""
    names = [n.strip() for n in ctx.opts.target.split(",")]
    benches = [ctx.registry.benchmarks[n] for n in names if n in ctx.registry.benchmarks]
    return [ctx.registry.get(extra) for bench in benches for extra in bench.mixture_extra]


def _mixture_train_specs(ctx: RunContext, specs: list[Any]) -> list[Any]:
    """Training members of T5's proportional mixture: tasks with weight > 0, the `train_task` of
    weight-0 eval-only tasks (MNLI for MNLI-m/mm, wsc_simple_train for WSC), and the named benchmarks'
    training-only members (DPR for super_glue), each once."""
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.mixture_weight > 0:
            out.setdefault(spec.name, spec)
            continue
        train = ctx.registry.get(spec.train_task) if getattr(spec, "train_task", None) else None
        if train is not None and train.mixture_weight > 0:
            out.setdefault(train.name, train)
        else:
            ctx.log(f"{spec.name}: mixture weight 0, evaluated only (as in T5's mixtures)")
    for extra in _mixture_extras(ctx):
        if extra.name not in out:
            ctx.log(f"{extra.name}: trained on in the mixture (weight {extra.mixture_weight:g}), not evaluated")
            out[extra.name] = extra
    return list(out.values())


def _validator(ctx: RunContext, model: torch.nn.Module, tasks: list[EvalTask], snap: Snapshot) -> Callable[[int], dict]:
    """The `evaluate(step)` callback of `finetune`: scores the current weights on every task (FSDP: `model`
    is whole while it runs, the hash comes from `snap`)."""

    def validate(step: int) -> dict[str, dict[str, float]]:
        from t5eval.decode_cache import state_dict_sha256

        sha = snap.sha256 or state_dict_sha256(model)
        out = {}
        for task in tasks:
            with ctx.progress.decoding(f"{task.name} @ step {step}", len(task.input_ids)) as advance:
                result = _evaluate(ctx, task, model, advance, sha)
            ctx.log(f"{task.name} step {step}: {_fmt(result.metrics)}")
            out[task.name] = result.metrics
        return out

    return validate


def _saver(ctx: RunContext, model: torch.nn.Module, snap: Snapshot) -> Callable[[str, int], None]:
    """The `on_best(task, step)` callback: keep that task's best weights in `<task>/best/` (FSDP: rank 0's
    plain copy in `snap`)."""
    from t5eval.model import save_model

    def on_best(task: str, step: int) -> None:
        if ctx.dist.is_main:
            save_model(cast(Any, snap.plain or model), ctx.run_dir / task / "best")

    return on_best


def _finetune(ctx: RunContext, model: torch.nn.Module, sources: list[TrainSource], tasks: list[EvalTask],
              ckpt: Path, label: str) -> TrainState:
    stream = TrainStream(sources, ctx.train_cfg.batch_tokens, ctx.train_cfg.seed)
    if (source := describe(ckpt)) is not None:
        ctx.log(f"{label}: resuming fine-tuning from {source}")
    advance, snap = ctx.progress.training(label, ctx.train_cfg.steps), Snapshot()
    state = finetune(model, stream, ctx.train_cfg, ckpt, _validator(ctx, model, tasks, snap),
                     _saver(ctx, model, snap), progress=advance, dist=ctx.dist, snapshot=snap)
    ctx.progress.done_training()
    if state.resumed_from:
        ctx.log(f"{label}: fine-tuning resumed at step(s) {state.resumed_from}, not redone")
    return state


def _run_one_task(ctx: RunContext, spec: Any) -> dict[str, Any]:
    """Fine-tune on one task (unless --no-finetune or no train split), then evaluate its best weights."""
    task = _eval_task(ctx, spec)
    model = _load_model(ctx).model
    source = _train_source(ctx, spec) if ctx.opts.finetune else None
    state = None
    if source is not None:
        state = _finetune(ctx, model, [source], [task], ctx.run_dir / spec.name / "checkpoint.pt", spec.name)
    return _finish_task(ctx, task, model, state)


def _run_mixture(ctx: RunContext, specs: list[Any], finished: set[str]) -> dict[str, dict[str, Any]]:
    """T5's proportional mixture: one model trained on all tasks with weight > 0; best step per task.

    Weight-0 tasks (e.g. MNLI-m/mm, which train through MNLI) are evaluated only. Tasks in `finished`
    (a restart after a crash in the final evaluations) still validate during training, for the same
    checkpoint, but are not finished again.
    """
    tasks = [_eval_task(ctx, s) for s in specs]
    model = _load_model(ctx).model
    state = None
    if ctx.opts.finetune:
        members = _mixture_train_specs(ctx, specs)
        sources = [s for m in members if (s := _train_source(ctx, m, m.mixture_weight, mixture=True)) is not None]
        if sources:
            ckpt = ctx.run_dir / "_mixture" / "checkpoint.pt"
            state = _finetune(ctx, model, sources, tasks, ckpt, "mixture")
        else:
            ctx.log("no task of the mixture has a train split with weight > 0: evaluating without fine-tuning")
    out = {t.name: _finish_task(ctx, t, model, state) for t in tasks if t.name not in finished}
    for task in tasks:
        task.cache.close()  # the finished ones were only validated
    if ctx.dist.is_main:
        shutil.rmtree(ctx.run_dir / "_mixture", ignore_errors=True)
    return out


def _finish_task(ctx: RunContext, task: EvalTask, model: torch.nn.Module, state: TrainState | None) -> dict:
    """Evaluate the task's best weights (decodes come from the cache), write its result files."""
    from t5eval.model import load_model

    best_dir = ctx.run_dir / task.name / "best"
    best = model.to(ctx.opts.device) if state is None else model  # --fsdp loaded it on CPU
    if state is not None and task.name in state.best:
        barrier(ctx.dist)  # rank 0 has written the best weights
        best = load_model(str(best_dir), init="pretrained", device=ctx.opts.device).model
    with ctx.progress.decoding(f"{task.name} (final)", len(task.input_ids)) as advance:
        result = _evaluate(ctx, task, best, advance)
    task_dir = ctx.run_dir / task.name
    entry = task_record(task, result, state, ctx.opts, optimizer_record(ctx.train_cfg) if state else None)
    task.cache.close()
    if not ctx.dist.is_main:
        return entry
    write_predictions(task_dir / "predictions.jsonl", result.rows)
    write_metrics(task_dir / "metrics.json", task.name, task.split, len(task.examples), result.metrics)
    atomic_write_json(task_dir / "result.json", entry)
    drop_checkpoints(task_dir / "checkpoint.pt")  # a finished task needs only its best weights
    ctx.log(f"{task.name}: {_fmt(result.metrics)} (n={len(task.examples)}, {task.split})")
    return entry


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())


__all__ = ["RunInterrupted", "RunOptions", "RunProgress", "model_slug", "run"]
