"""`t5eval run`: fine-tune (optional) and evaluate on tasks, recording results anyone can recompute.

One pipeline for every family: options → `run.plan.plan_run` (a validated plan: text-to-text, or task
heads) → tasks, tokenizer, model → the run folder (`run.folder`: new / resume / reuse / refuse) → per task
(`run.flow` for text-to-text, per task or one T5 mixture; `run.head_flow` for task heads): fine-tune with
`train.loop.finetune` (checkpoints, resume, Ctrl-C, validation, best step), evaluate the best weights with
the family's predictor → `run.record.build_run_record` → run.json. Every piece of finished work is on
disk (checkpoints, decode cache, per-task result files), so a restarted run skips it. In-process entry
point: `run(RunOptions(...))`.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from t5eval.distributed.context import DistContext, barrier, init_distributed, run_on_main
from t5eval.distributed.parallel import plan_batches
from t5eval.errors import T5evalError
from t5eval.eval.predictor import predictor_for
from t5eval.model import T5
from t5eval.model.cost import cost_line
from t5eval.results import code_change_note, pin_git_commit, write_run
from t5eval.run.context import Log, RunContext, fresh_model
from t5eval.run.flow import finished_tasks, run_tasks
from t5eval.run.folder import prepare_run_dir, run_settings
from t5eval.run.kernels import kernels_record
from t5eval.run.options import RunOptions, check_device, check_dtype, check_eval_data
from t5eval.run.plan import HeadPlan, RunPlan, TextToTextPlan, is_bert, plan_run, with_device
from t5eval.run.progress import RunProgress
from t5eval.run.record import build_run_record, model_record
from t5eval.tasks import TaskSpec
from t5eval.train.transfer import check_text_transfer


class RunInterrupted(Exception):
    """Ctrl-C: finished work is saved; rerunning the same command resumes in `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def run(opts: RunOptions, progress: RunProgress | None = None, log: Log = print) -> dict[str, Any]:
    """Run `opts` end to end and return the run record (also written to `<run_dir>/run.json`).

    Raises:
        T5evalError: bad input (unknown task, model, vocab, data, a run dir with other settings, OOM).
        RunInterrupted: on Ctrl-C, after saving what is done.
    """
    start = time.perf_counter()
    pin_git_commit()  # run.json names the code loaded now, not the checkout at the end
    threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        return _run(opts, progress, log, start)
    finally:
        torch.set_num_threads(threads)


def _run(opts: RunOptions, progress: RunProgress | None, log: Log, start: float) -> dict[str, Any]:
    check_device(opts.device)
    check_dtype(opts.dtype)
    plan = plan_run(opts)  # options -> a validated plan of one family, before anything loads
    try:
        if isinstance(plan, HeadPlan):
            return _run_heads(plan, progress or RunProgress(None), log, start)
        return _run_text_to_text(plan, progress, log, start)
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if isinstance(err, torch.OutOfMemoryError) or "can't allocate memory" in str(err) or (
            "out of memory" in str(err)
        ):
            raise T5evalError(
                f"out of memory with --batch-tokens {opts.batch_tokens}; lower --batch-tokens "
                "(and raise --grad-accum to keep the batch), then rerun the same command to resume"
            ) from None
        raise


def _tasks(opts: RunOptions, log: Log) -> tuple[Any, list[TaskSpec], list[str]]:
    """(registry, the tasks to run, the tasks --skip-missing left out)."""
    from t5eval.tasks import TaskRegistry

    registry = TaskRegistry.default()
    asked_specs = registry.resolve(opts.target)
    specs = check_eval_data(asked_specs, opts.data_dir, opts.split, opts.skip_missing)
    skipped = [s.name for s in asked_specs if s not in specs]
    if skipped:
        log(f"--skip-missing: no eval data for {', '.join(skipped)}; left out (benchmark averages say so)")
    return registry, specs, skipped


def _open_folder(plan: RunPlan, settings: dict[str, Any], log: Log,
                 dist: DistContext) -> tuple[Path, dict[str, Any] | None]:
    """The run folder (new / resume / reuse / refuse, rank 0), and the finished record when it is reused."""
    run_dir, previous = run_on_main(lambda: prepare_run_dir(plan.opts, settings, log), dist)
    if previous is not None:
        log(f"{run_dir} already holds this finished run (same settings){code_change_note(previous)}; "
            "pass --overwrite to redo it")
    return run_dir, previous


def _run_text_to_text(plan: TextToTextPlan, progress: RunProgress | None, log: Log, start: float) -> dict[str, Any]:
    from t5eval.model.load import source_family
    from t5eval.tokenizer import find_tokenizer

    opts = plan.opts
    dist = init_distributed(device=opts.device)  # under torchrun, --device cuda means cuda:LOCAL_RANK
    if not dist.is_main:  # only rank 0 prints, draws progress bars and writes files
        progress, log = None, _silent
    _check_fsdp(opts, dist)
    if dist.is_distributed and opts.finetune:
        plan_batches(opts.grad_accum, dist.world_size)  # --grad-accum must split evenly over the ranks
    registry, specs, skipped = _tasks(opts, log)
    model_dir = Path(opts.model) if Path(opts.model).is_dir() else None
    tokenizer = find_tokenizer(source_family(opts.model), model_dir, opts.vocab)
    first = fresh_model(_on_device(opts, dist))  # before any file is written: a bad model source fails cleanly
    encoder_decoder = isinstance(first.model, T5)  # packed rows by default (T5 fine-tuned on them)
    asked = plan_run(opts.with_packing(encoder_decoder))  # --device as asked (`cuda`) in the fingerprint
    assert isinstance(asked, TextToTextPlan)
    plan = with_device(asked, _on_device(opts, dist).device)  # type: ignore[assignment]
    tokenizer.check_fits(first.config.vocab_size)
    for spec in specs:  # a task the model family cannot run (e.g. no prompt for GPT-2) is refused up front
        predictor_for(spec, tokenizer, first.model, opts.scoring)
    check_text_transfer(first.model, opts.transfer, opts.steps, opts.finetune, dist.is_distributed)
    run_dir, previous = _open_folder(plan, run_settings(asked, specs, tokenizer, first.weights_sha256), log, dist)
    if previous is not None:
        return previous
    ctx = RunContext(plan.opts, run_dir, tokenizer, registry, progress or RunProgress(None), log, plan.train,
                     model_info={"loaded": first}, spare=first, dist=dist, plan=plan)
    try:
        with ctx.progress:
            records = run_tasks(ctx, specs)
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir) from None
    record = build_run_record(plan, run_dir, model_record(first, opts.init), tokenizer, records, registry, start,
                              skipped, ctx.model_info.get("mixture"))
    record["env"]["linear_kernels"] = kernels_record(ctx)  # --kernels (t5eval.run.kernels)
    if dist.is_distributed:
        record["env"]["distributed"] = {"world_size": dist.world_size, "backend": dist.backend}
        if opts.fsdp:
            record["env"]["distributed"]["fsdp"] = True
    if dist.is_main:
        write_run(run_dir, record)
        if "cost" in record["model"]:
            log(cost_line(record["model"]["cost"]))  # Table 2's P and M (run.json: model.cost)
    barrier(dist)
    return record


def _run_heads(plan: HeadPlan, progress: RunProgress, log: Log, start: float) -> dict[str, Any]:
    """Task heads: the same plan, folder, task reuse and record as text-to-text; per task `run.head_flow`."""
    from t5eval.run.head_flow import HeadRun, body_blocks, head_tokenizer, load_body
    from t5eval.run.plan import head_steps
    from t5eval.tasks.head_specs import HeadRegistry

    opts, dist = plan.opts, init_distributed(device=plan.opts.device)
    if dist.is_distributed:
        raise T5evalError("task heads fine-tune in one process; run without torchrun")
    registry, specs, skipped = _tasks(opts, log)
    heads = HeadRegistry.default()
    task_heads = {s.name: heads.get(s) for s in specs}  # every task needs a head, before anything is written
    tokenizer = head_tokenizer(plan)
    loaded = load_body(plan, tokenizer)
    if plan.steps is not None and opts.finetune:
        head_steps(plan, 1, body_blocks(loaded))  # gradual unfreezing needs a step per block
    run_dir, previous = _open_folder(plan, run_settings(plan, specs, tokenizer, loaded.weights_sha256), log, dist)
    if previous is not None:
        return previous
    hr = HeadRun(plan, registry, tokenizer, loaded, run_dir, progress, log)
    records = finished_tasks(run_dir, specs, log)
    try:
        with progress:
            for spec in specs:
                if spec.name not in records:
                    records[spec.name] = _head_task(hr, spec, task_heads[spec.name])
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir) from None
    architecture = None if is_bert(opts.model) else "T5 encoder (mean-pooled) + task head"
    record = build_run_record(plan, run_dir, model_record(loaded, opts.init, architecture), tokenizer,
                              {s.name: records[s.name] for s in specs}, registry, start, skipped)
    write_run(run_dir, record)
    return record


def _head_task(hr: Any, spec: TaskSpec, head: Any) -> dict[str, Any]:
    """One task of a head run: BERT's SQuAD span head (`run.span`) or a pooled head (`run.head_flow`), once,
    or once per learning rate of --lr-grid (`run.lr_grid`)."""
    from dataclasses import replace as with_field

    from t5eval.run.head_flow import run_head_task
    from t5eval.run.lr_grid import run_lr_grid
    from t5eval.run.span import run_span_task

    run_task = run_span_task if head.kind == "span" else run_head_task

    def cell(hp: Any, task_dir: Path) -> dict[str, Any]:
        return run_task(with_field(hr, plan=with_field(hr.plan, hp=hp)), spec, head, task_dir)

    if hr.plan.hp.lr_grid:
        return run_lr_grid(hr.plan.hp, spec, hr.run_dir, hr.log, cell)
    return cell(hr.plan.hp, hr.run_dir / spec.name)


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
