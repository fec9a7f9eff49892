"""The task-head flow of `t5eval run` (BERT, and T5's encoder with `--head classify`): per task, the same
skeleton as text-to-text runs with the head's pieces plugged in.

Per task: encode `[CLS] A [SEP] B [SEP]` (task_defs/heads.yaml) → `train.loop.finetune` with the head's
step (`train.head_step.HeadStep`: AdamW, warm-up then linear decay; checkpoint, resume, Ctrl-C,
validation and the best step are the skeleton's) → the best weights from `<task>/best/` → predictions
from the head's outputs as T5 label texts (`eval.head_predictor`) → the task's files. The run folder,
reuse of finished tasks and run.json are `run.orchestrate`'s, shared with text-to-text runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from t5eval.errors import T5evalError
from t5eval.eval.head_predictor import HeadTask, encode_items, evaluate_head, head_outputs, prepare_head_task
from t5eval.io import atomic_dir, atomic_write_bytes, atomic_write_json
from t5eval.model import Bert, LoadedModel
from t5eval.model.heads import HeadModel, T5EncoderBody
from t5eval.results import write_metrics, write_predictions
from t5eval.run.context import Log
from t5eval.run.options import eval_split, train_split
from t5eval.run.plan import HeadPlan, head_steps, is_bert
from t5eval.run.progress import RunProgress, TrainPlan
from t5eval.run.record import CHECKPOINT_ORIGIN, head_train_block, task_record
from t5eval.tasks import TaskRegistry, TaskSpec
from t5eval.tasks.data import load_examples_with_rows
from t5eval.tasks.head_specs import HeadSpec
from t5eval.tokenizer import T5Tokenizer, WordPieceTokenizer
from t5eval.tokenizer.pairs import Encoded, PairTokenizer
from t5eval.train.checkpoint import drop_checkpoints, resume_source
from t5eval.train.head_step import HeadBatches, HeadStep, head_loss
from t5eval.train.loop import TrainState, finetune

BEST_FILE = "head_model.safetensors"  # the whole task model (body, adapters, head) in <task>/best/


@dataclass
class HeadRun:
    """What every task of a head run shares."""

    plan: HeadPlan
    registry: TaskRegistry
    tokenizer: PairTokenizer
    loaded: LoadedModel[Any]
    run_dir: Path
    progress: RunProgress
    log: Log


def head_tokenizer(plan: HeadPlan) -> PairTokenizer:
    """WordPiece for BERT (vocab.txt), SentencePiece for T5's encoder (spiece.model)."""
    opts = plan.opts
    model_dir = Path(opts.model) if Path(opts.model).is_dir() else None
    if is_bert(opts.model):
        return WordPieceTokenizer.find(model_dir, opts.vocab)
    return T5Tokenizer.find(model_dir, opts.vocab)


def body_of(loaded: LoadedModel[Any]) -> tuple[torch.nn.Module, int, float]:
    """(encoder body, its width, init std for the head): BERT as is; T5's encoder stack (decoder left out)."""
    if isinstance(loaded.model, Bert):
        return loaded.model, loaded.config.hidden_size, loaded.config.initializer_range
    return T5EncoderBody(loaded.model), loaded.config.d_model, 0.02


def load_body(plan: HeadPlan, tokenizer: PairTokenizer) -> LoadedModel[Any]:
    """The encoder: pretrained (its vocab_size must fit the vocab) or, for BERT, a random preset sized to the vocab."""
    from t5eval.model import load_model
    from t5eval.model.bert.weights import random_bert

    opts = plan.opts
    loaded = load_model(opts.model, init=opts.init, seed=opts.seed, device=opts.device)
    if not isinstance(loaded.model, Bert):  # T5 with --head classify: relative positions, no length limit
        tokenizer.check_fits(loaded.config.vocab_size)
        return loaded
    if opts.init == "random" and loaded.config.vocab_size != tokenizer.vocab_size:  # fresh weights: fit the vocab
        cfg = replace(loaded.config, vocab_size=tokenizer.vocab_size)
        loaded = random_bert(cfg, opts.seed, torch.float32, opts.device, opts.model)
    tokenizer.check_fits(loaded.config.vocab_size)
    table = loaded.config.max_position_embeddings
    if plan.hp.max_len > table:
        raise T5evalError(f"--max-len {plan.hp.max_len} exceeds the model's position table ({table}); pass "
                          f"--max-len {table} or less")
    return loaded


def body_blocks(loaded: LoadedModel[Any]) -> int:
    """How many blocks the body has (gradual unfreezing runs one episode per block)."""
    layers: Any = body_of(loaded)[0].layers
    return len(layers)


def train_items(hr: HeadRun, spec: TaskSpec, head: HeadSpec) -> tuple[list[list[Encoded]], list[int | float]] | None:
    """Encoded training inputs and gold labels of the task's train split (its train_task's), or None."""
    opts, hp = hr.plan.opts, hr.plan.hp
    train_spec = hr.registry.get(spec.train_task) if spec.train_task else spec
    split = train_split(train_spec, opts.data_dir)
    if split is None or not opts.finetune:
        if opts.finetune:
            hr.log(f"no train split for {train_spec.name}: evaluating {spec.name} with an untrained head")
        return None
    if head.train_preprocessor_args:  # e.g. WSC: every labelled row, not only T5's label=True ones
        train_spec = replace(train_spec, preprocessor_args={**train_spec.preprocessor_args,
                                                            **dict(head.train_preprocessor_args)})
    example_set, rows = load_examples_with_rows(train_spec, split, opts.data_dir, hp.train_limit, opts.protocol)
    golds = [head.gold(ex, row) for ex, row in zip(example_set.examples, rows, strict=True)]
    kept = [i for i, g in enumerate(golds) if g is not None]  # ReCoRD: an answer that is no entity is left out
    if len(kept) < len(golds):
        hr.log(f"{train_spec.name}: {len(golds) - len(kept)} training examples left out (answer not among the candidates)")
    items = encode_items(head, [rows[i] for i in kept], hr.tokenizer, hp.max_len)
    return items, [g for g in golds if g is not None]


def run_head_task(hr: HeadRun, spec: TaskSpec, head: HeadSpec, task_dir: Path) -> dict[str, Any]:
    """Fine-tune a fresh head (and the body, as --transfer says) on one task, score its kept weights, write
    the task's files into `task_dir` (`<task>/`, or an --lr-grid cell)."""
    from t5eval.model import state_dict_sha256

    opts, hp = hr.plan.opts, hr.plan.hp
    split = eval_split(spec, opts.split)
    example_set, rows = load_examples_with_rows(spec, split, opts.data_dir, opts.limit, opts.protocol)
    task = prepare_head_task(spec, head, split, example_set, rows, hr.tokenizer, hp.max_len)
    body, width, init_std = body_of(replace(hr.loaded, model=copy_model(hr.loaded.model)))
    model = HeadModel(body, width, head.num_outputs, hp.dropout, opts.seed, init_std).to(opts.device)
    state, eval_every, data = None, 0, train_items(hr, spec, head)
    if data is not None:
        state, eval_every = train_head(hr, task, model, data, task_dir)
    if state is not None and task.name in state.best:
        load_best(model, task_dir / "best")
    with hr.progress.decoding(f"{task.name} (final)", len(task.examples)) as advance:
        result = evaluate_head(task, model, hr.tokenizer.pad_id, opts.protocol, state_dict_sha256(model),
                               device=opts.device, advance=advance)
    if state is None:
        save_best(hr, model, task_dir, None)
    entry = task_record(task, result, state, opts.protocol, head_train_block(state, hr.plan, eval_every))
    write_predictions(task_dir / "predictions.jsonl", result.rows)
    write_metrics(task_dir / "metrics.json", task.name, task.split, len(task.examples), result.metrics)
    atomic_write_json(task_dir / "result.json", entry)
    drop_checkpoints(task_dir / "checkpoint.pt")  # a finished task needs only its best weights
    hr.log(f"{task.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.metrics.items())
           + f" (n={len(task.examples)}, {task.split})")
    return entry


def copy_model(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy (each task starts from the same pre-trained weights)."""
    import copy

    return copy.deepcopy(model)


def save_best(hr: HeadRun, model: torch.nn.Module, task_dir: Path, step: int | None) -> None:
    """`<task>/best/`: the whole task model (`head_model.safetensors`), and for BERT the body in HF layout too
    (so `--model <task>/best` loads the fine-tuned encoder), with where it came from."""
    from safetensors.torch import save

    from t5eval.model import save_model

    opts = hr.plan.opts
    with atomic_dir(task_dir / "best") as tmp:  # best.tmp/, fsync'd, then swapped in as one unit
        body = getattr(model, "body", None)
        if isinstance(body, Bert):
            save_model(body, tmp)
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        atomic_write_bytes(tmp / BEST_FILE, save(state))
        atomic_write_json(tmp / CHECKPOINT_ORIGIN, {
            "kind": "finetuned" if step is not None else "untrained-head", "run_id": hr.run_dir.name,
            "task": task_dir.name if task_dir.parent == hr.run_dir else task_dir.parent.name,
            "step": step, "base_model": opts.model, "base_init": opts.init, "seed": opts.seed,
            "transfer": opts.transfer,
        })  # fmt: skip


def load_best(model: torch.nn.Module, best: Path) -> None:
    """Load `<task>/best/head_model.safetensors` into `model` (same head, same --transfer)."""
    from safetensors.torch import load_file

    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(best / BEST_FILE), device=str(device)))


def train_head(hr: HeadRun, task: HeadTask, model: HeadModel, data: tuple[list[list[Encoded]], list[int | float]],
               task_dir: Path) -> tuple[TrainState, int]:
    """`finetune` with the head's step on the task's training items; validation on `task`. -> (state, eval_every)"""
    opts, hp = hr.plan.opts, hr.plan.hp
    items, gold = data
    steps, eval_every = head_steps(hr.plan, len(items), body_blocks(hr.loaded))
    pad_id, device = hr.tokenizer.pad_id, opts.device

    def batch_loss(m: torch.nn.Module, picked: list[int]) -> tuple[torch.Tensor, int]:
        batch = [items[i] for i in picked]
        out = head_outputs(m, batch, pad_id, device)
        return head_loss(out, [gold[i] for i in picked], task.head.kind), sum(len(e.ids) for it in batch for e in it)

    def validate(step: int) -> dict[str, dict[str, float]]:
        with hr.progress.decoding(f"{task.name} @ step {step}", len(task.examples)) as advance:
            metrics = evaluate_head(task, model, pad_id, opts.protocol, "", device=device, advance=advance).metrics
        hr.log(f"{task.name} step {step}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
        return {task.name: metrics}

    ckpt = task_dir / "checkpoint.pt"
    if (source := resume_source(ckpt)) is not None:
        hr.log(f"{task.name}: resuming fine-tuning from {source}")
    step_plan = HeadStep(hp, steps, eval_every, opts.seed, opts.transfer, batch_loss)
    progress = hr.progress.training(TrainPlan(task.name, steps, hp.batch_size * hp.max_len, opts.device))
    state = finetune(model, HeadBatches(len(items), hp.batch_size, opts.seed), step_plan, ckpt, validate,
                     lambda name, step: save_best(hr, model, task_dir, step), progress=progress)
    hr.progress.done_training()
    hr.log(f"{task.name}: {state.step} steps, {state.trainable_parameters:,} trainable parameters at the first step, "
           f"{state.trainable_parameters_last:,} at the last (--transfer {opts.transfer})")
    if state.resumed_from:
        hr.log(f"{task.name}: fine-tuning resumed at step(s) {state.resumed_from}, not redone")
    return state, eval_every
