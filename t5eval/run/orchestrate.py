"""`t5eval run`: fine-tune (optional) and evaluate T5 on tasks, recording results anyone can recompute.

The flow reads like docs/ARCHITECTURE.md: resolve tasks → load model + tokenizer → per task (or one
T5 proportional mixture): fine-tune with validation every N steps, keep the best step per task
(`metric_group_max`) → decode the eval split with the best weights → postprocess → metrics → results.
Every piece of finished work is on disk (checkpoints, decode cache, per-task result files), so a
restarted run skips it. Helpers for run dirs and records live in `t5eval.run.options`.
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
from t5eval.eval.recipe import recipe_for
from t5eval.model import T5
from t5eval.model.cost import cost_line
from t5eval.results import code_change_note, pin_git_commit, write_run
from t5eval.run.context import Log, RunContext, fresh_model
from t5eval.run.flow import run_tasks
from t5eval.run.folder import prepare_run_dir, run_settings
from t5eval.run.options import RunOptions, check_device, check_dtype, check_eval_data
from t5eval.run.progress import RunProgress
from t5eval.run.record import build_run_record
from t5eval.train.loop import TrainConfig
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
    from t5eval.model.load import source_family
    from t5eval.run.heads import run_heads, uses_heads
    from t5eval.tasks import TaskRegistry
    from t5eval.tokenizer import find_tokenizer

    check_device(opts.device)
    check_dtype(opts.dtype)
    if uses_heads(opts):  # encoder-only (BERT): task heads, BERT's recipe (t5eval.run.heads)
        return run_heads(opts, progress, log, start)
    if opts.recipe is not None:
        raise T5evalError("--lr/--lr-grid/--epochs/--batch-size/--max-len/--warmup/--dropout/--bert-recipe set the task-head recipe of "
                          "encoder-only models (BERT); T5 text-to-text runs use --steps and --batch-tokens")
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
    tokenizer = find_tokenizer(source_family(opts.model), model_dir, opts.vocab)
    asked, opts = opts, _on_device(opts, dist)
    first = fresh_model(opts)  # before any file is written: a bad model source fails cleanly
    encoder_decoder = isinstance(first.model, T5)  # packed rows by default (T5 fine-tuned on them)
    asked, opts = asked.with_packing(encoder_decoder), opts.with_packing(encoder_decoder)
    tokenizer.check_fits(first.config.vocab_size)
    for spec in specs:  # a task the model family cannot run (e.g. no prompt for GPT-2) is refused up front
        recipe_for(spec, tokenizer, first.model, opts.scoring)
    check_text_transfer(first.model, opts.transfer, opts.steps, opts.finetune, dist.is_distributed)
    settings = run_settings(asked, specs, tokenizer, first.weights_sha256)  # --device as asked (`cuda`)
    run_dir, previous = run_on_main(lambda: prepare_run_dir(opts, settings, log), dist)
    if previous is not None:
        log(f"{run_dir} already holds this finished run (same settings){code_change_note(previous)}; "
            "pass --overwrite to redo it")
        return previous
    train_cfg = TrainConfig(opts.steps, opts.eval_every, opts.batch_tokens, opts.grad_accum, seed=opts.seed,
                            dtype=opts.dtype, fsdp=opts.fsdp, pack_length=opts.pack_length if opts.pack else None,
                            transfer=opts.transfer)
    ctx = RunContext(opts, run_dir, tokenizer, registry, progress or RunProgress(None), log, train_cfg,
                     model_info={"loaded": first}, spare=first, dist=dist)
    try:
        with ctx.progress:
            records = run_tasks(ctx, specs)
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
        if "cost" in record["model"]:
            log(cost_line(record["model"]["cost"]))  # Table 2's P and M (run.json: model.cost)
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
