"""`t5eval run` for encoder-only models (BERT): task heads instead of text-to-text, same results layout.

The flow: resolve tasks → their heads (task_defs/heads.yaml) → WordPiece vocab + model → per task:
encode [CLS] A [SEP] B [SEP] → fine-tune with BERT's recipe, validating after each epoch → score the best
epoch's weights → predictions as T5 label words, T5 postprocessing and metrics → run.json. Reached from
`run.orchestrate.run` when the model is a BERT checkpoint or preset (`uses_heads`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import torch

from t5eval.errors import T5evalError, did_you_mean
from t5eval.eval.heads import HeadTask, encode_items, evaluate_head, head_outputs, prepare_head_task
from t5eval.io import atomic_dir, atomic_torch_save, atomic_write_json, read_json
from t5eval.model import BERT_PRESETS, Bert, LoadedModel
from t5eval.model.heads import HeadModel, T5EncoderBody
from t5eval.model.load import model_type
from t5eval.results import code_change_note, write_metrics, write_predictions, write_run
from t5eval.run.context import Log
from t5eval.run.folder import prepare_run_dir, run_settings
from t5eval.run.heads_record import head_run_record, head_task_record
from t5eval.run.lr_grid import run_lr_grid
from t5eval.run.options import RunOptions, check_eval_data, eval_split, train_split
from t5eval.run.progress import RunProgress, TrainPlan
from t5eval.run.span import run_span_task
from t5eval.tasks import TaskRegistry, TaskSpec
from t5eval.tasks.data import load_examples_with_rows
from t5eval.tasks.heads import HeadRegistry, HeadSpec
from t5eval.tokenizer import T5Tokenizer, WordPieceTokenizer
from t5eval.tokenizer.pairs import PairTokenizer
from t5eval.train.heads import HeadRecipe, HeadTraining, finetune_head, head_loss
from t5eval.train.loop import set_dropout

HEADS = ("classify",)


def is_bert(opts: RunOptions) -> bool:
    """BERT presets and checkpoints (config.json model_type "bert")."""
    return opts.model in BERT_PRESETS or (Path(opts.model).is_dir() and model_type(Path(opts.model)) == "bert")


def uses_heads(opts: RunOptions) -> bool:
    """Task heads: every BERT model, and T5 with `--head classify`."""
    return opts.head is not None or is_bert(opts)


def head_tokenizer(opts: RunOptions) -> PairTokenizer:
    """WordPiece for BERT (vocab.txt), SentencePiece for T5's encoder (spiece.model)."""
    model_dir = Path(opts.model) if Path(opts.model).is_dir() else None
    if is_bert(opts):
        return WordPieceTokenizer.find(model_dir, opts.vocab)
    return T5Tokenizer.find(model_dir, opts.vocab)


def body_of(loaded: LoadedModel[Any]) -> tuple[torch.nn.Module, int, float]:
    """(encoder body, its width, init std for the head): BERT as is; T5's encoder stack (decoder left out)."""
    if isinstance(loaded.model, Bert):
        return loaded.model, loaded.config.hidden_size, loaded.config.initializer_range
    return T5EncoderBody(loaded.model), loaded.config.d_model, 0.02


def load_body(opts: RunOptions, tokenizer: PairTokenizer) -> LoadedModel[Any]:
    """The encoder: pretrained (its vocab_size must fit the vocab) or, for BERT, a random preset sized to the vocab."""
    from t5eval.model import load_model
    from t5eval.model.bert.weights import random_bert

    loaded = load_model(opts.model, init=opts.init, seed=opts.seed, device=opts.device)
    if not isinstance(loaded.model, Bert):  # T5 with --head classify: relative positions, no length limit
        tokenizer.check_fits(loaded.config.vocab_size)
        return loaded
    if opts.init == "random" and loaded.config.vocab_size != tokenizer.vocab_size:  # fresh weights: fit the vocab
        cfg = replace(loaded.config, vocab_size=tokenizer.vocab_size)
        loaded = random_bert(cfg, opts.seed, torch.float32, opts.device, opts.model)
    tokenizer.check_fits(loaded.config.vocab_size)
    if (opts.recipe or HeadRecipe()).max_len > loaded.config.max_position_embeddings:
        raise T5evalError(f"--max-len {(opts.recipe or HeadRecipe()).max_len} exceeds the model's position table "
                          f"({loaded.config.max_position_embeddings}); pass --max-len "
                          f"{loaded.config.max_position_embeddings} or less")
    return loaded


def run_heads(opts: RunOptions, progress: RunProgress | None, log: Log, start: float) -> dict[str, Any]:
    """Run `opts` with task heads end to end; returns the run record (also written to run.json)."""
    if opts.mixture or opts.fsdp or opts.pack:
        raise T5evalError("--mixture, --fsdp and --pack are text-to-text (T5) features; task heads train each task "
                          "alone, in batches of --batch-size examples")
    if opts.head not in (None, *HEADS):
        raise T5evalError(f"--head {opts.head!r} is not one of {', '.join(HEADS)}{did_you_mean(opts.head, HEADS)}")
    recipe = opts.recipe or HeadRecipe()
    opts = replace(opts, recipe=recipe if opts.transfer == "all" else replace(recipe, transfer=opts.transfer))
    registry, heads = TaskRegistry.default(), HeadRegistry.default()
    asked = registry.resolve(opts.target)
    specs = check_eval_data(asked, opts.data_dir, opts.split, opts.skip_missing)
    task_heads = {s.name: heads.get(s) for s in specs}  # every task needs a head, before anything is written
    tokenizer = head_tokenizer(opts)
    loaded = load_body(opts, tokenizer)
    settings = run_settings(opts, specs, cast(Any, tokenizer), loaded.weights_sha256)
    settings["finetune"] = opts.recipe.record() if opts.finetune and opts.recipe else None
    run_dir, previous = prepare_run_dir(opts, settings, log)
    if previous is not None:
        log(f"{run_dir} already holds this finished run{code_change_note(previous)}; pass --overwrite to redo it")
        return previous
    records: dict[str, dict[str, Any]] = {}
    with progress or RunProgress(None) as bars:
        for spec in specs:
            done = run_dir / spec.name / "result.json"
            run_task = run_span_task if task_heads[spec.name].kind == "span" else run_head_task  # SQuAD: run.span
            one = functools.partial(run_task, registry=registry, spec=spec, head=task_heads[spec.name],
                                    tokenizer=tokenizer, loaded=loaded, run_dir=run_dir, bars=bars, log=log)
            records[spec.name] = read_json(done) if done.exists() else (  # --lr-grid: one cell per lr (run.lr_grid)
                run_lr_grid(opts, spec, run_dir, log, one) if recipe.lr_grid else one(opts))
    skipped = [s.name for s in asked if s not in specs]
    record = head_run_record(opts, run_dir, loaded, tokenizer, records, registry, start, skipped)
    write_run(run_dir, record)
    return record


def train_items(opts: RunOptions, registry: TaskRegistry, spec: TaskSpec, head: HeadSpec,
                tokenizer: PairTokenizer, log: Log) -> tuple[list[Any], list[int | float]] | None:
    """Encoded training inputs and gold labels of the task's train split (its train_task's), or None."""
    train_spec = registry.get(spec.train_task) if spec.train_task else spec
    split = train_split(train_spec, opts.data_dir)
    if split is None or not opts.finetune:
        if opts.finetune:
            log(f"no train split for {train_spec.name}: evaluating {spec.name} with an untrained head")
        return None
    recipe = opts.recipe or HeadRecipe()
    if head.train_preprocessor_args:  # e.g. WSC: every labelled row, not only T5's label=True ones
        train_spec = replace(train_spec, preprocessor_args={**train_spec.preprocessor_args,
                                                            **dict(head.train_preprocessor_args)})
    example_set, rows = load_examples_with_rows(train_spec, split, opts.data_dir, recipe.train_limit, opts.protocol)
    golds = [head.gold(ex, row) for ex, row in zip(example_set.examples, rows, strict=True)]
    kept = [i for i, g in enumerate(golds) if g is not None]  # ReCoRD: an answer that is no entity is left out
    if len(kept) < len(golds):
        log(f"{train_spec.name}: {len(golds) - len(kept)} training examples left out (answer not among the candidates)")
    items = encode_items(head, [rows[i] for i in kept], tokenizer, recipe.max_len)
    return items, [g for g in golds if g is not None]


def run_head_task(opts: RunOptions, registry: TaskRegistry, spec: TaskSpec, head: HeadSpec,
                  tokenizer: PairTokenizer, loaded: LoadedModel[Any], run_dir: Path, bars: RunProgress,
                  log: Log, task_dir: Path | None = None) -> dict[str, Any]:
    """Fine-tune a fresh head (and the body) on one task, score the best epoch, write the task's files."""
    from t5eval.model import state_dict_sha256
    from t5eval.train.heads import copy_model

    recipe = opts.recipe or HeadRecipe()
    split = eval_split(spec, opts.split)
    example_set, rows = load_examples_with_rows(spec, split, opts.data_dir, opts.limit, opts.protocol)
    task = prepare_head_task(spec, head, split, example_set, rows, tokenizer, recipe.max_len)
    body, width, init_std = body_of(replace(loaded, model=copy_model(loaded.model)))
    model = HeadModel(body, width, head.num_outputs, recipe.dropout, opts.seed, init_std).to(opts.device)
    set_dropout(model, recipe.dropout)
    training = None
    data = train_items(opts, registry, spec, head, tokenizer, log)
    if data is not None:
        training = train_task(opts, task, model, data, tokenizer.pad_id, bars, log)
        assert training.best_state is not None
        model.load_state_dict(training.best_state)
    sha = state_dict_sha256(model)
    result = evaluate_head(task, model, tokenizer.pad_id, opts.protocol, sha, device=opts.device)
    task_dir = task_dir or run_dir / spec.name  # --lr-grid: the lr's cell, <task>/lr_<lr>/
    save_best(model, task_dir / "best")
    entry = head_task_record(task, result, training, opts)
    write_predictions(task_dir / "predictions.jsonl", result.rows)
    write_metrics(task_dir / "metrics.json", task.name, task.split, len(task.examples), result.metrics)
    atomic_write_json(task_dir / "result.json", entry)
    log(f"{task.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.metrics.items())
        + f" (n={len(task.examples)}, {task.split})")
    return entry


def save_best(model: HeadModel, out: Path) -> None:
    """BERT: the body in HF layout + `head.pt` (head, adapters); T5's encoder: the whole state dict, `model.pt`."""
    from t5eval.model import save_model

    with atomic_dir(out) as tmp:  # best.tmp/, fsync'd, then swapped in as one unit
        if isinstance(model.body, Bert):
            save_model(model.body, tmp)
            extra = {k: v for k, v in model.state_dict().items() if k.startswith("out.") or ".adapter." in k}
            atomic_torch_save(tmp / "head.pt", extra)  # not part of the HF layout
        else:
            atomic_torch_save(tmp / "model.pt", model.state_dict())


def train_task(opts: RunOptions, task: HeadTask, model: HeadModel, data: tuple[list[Any], list[int | float]],
               pad_id: int, bars: RunProgress, log: Log) -> HeadTraining:
    """BERT's recipe on the task's training items; validation on `task` after each epoch."""
    recipe = opts.recipe or HeadRecipe()
    items, gold = data

    def batch_loss(m: torch.nn.Module, picked: list[int], train: bool) -> tuple[torch.Tensor, int]:
        batch = [items[i] for i in picked]
        out = head_outputs(m, batch, pad_id, opts.device)
        return head_loss(out, [gold[i] for i in picked], task.head.kind), sum(len(e.ids) for it in batch for e in it)

    def validate(step: int) -> dict[str, float]:
        metrics = evaluate_head(task, model, pad_id, opts.protocol, "", device=opts.device).metrics
        log(f"{task.name} step {step}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
        return metrics

    steps = -(-len(items) // recipe.batch_size) * recipe.epochs
    start = time.perf_counter()
    training = finetune_head(model, len(items), batch_loss, recipe, opts.seed, validate,
                             bars.training(TrainPlan(task.name, steps, recipe.batch_size * recipe.max_len, opts.device)))
    bars.done_training()
    log(f"{task.name}: {training.steps} steps in {time.perf_counter() - start:.0f}s, "
        f"{training.trainable_parameters:,} trainable parameters ({recipe.transfer}), "
        f"{'final' if recipe.bert_recipe == 'official' else 'best'} epoch {training.best and training.best['epoch']} kept")
    return training
