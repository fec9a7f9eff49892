"""The plan step of `t5eval run`: `RunOptions` → a validated, typed plan, before anything loads or is written.

`plan_run(opts)` picks the pipeline's family recipe (text-to-text, or task heads for BERT and T5 with
`--head classify`), checks that every flag given applies to it (one-line error naming the flag
otherwise, never silently ignored) and resolves the family's defaults into the config objects that
training and the records use (`TrainConfig`, `HeadHyperparameters`). Checks that need the loaded model
(block counts, position tables) are `check_loaded_*` and run right after loading, still before the run
folder is written.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.run.options import PAPER_BATCH_TOKENS, PAPER_EVAL_EVERY, PAPER_STEPS, RunOptions, check_options
from t5eval.train.head_step import HeadHyperparameters
from t5eval.train.text_step import TrainConfig
from t5eval.train.transfer import Transfer

HEADS = ("classify",)
TEXT_TO_TEXT_ONLY = {  # RunOptions field -> (its default, the flag): text-to-text settings a head run refuses
    "mixture": (False, "--mixture"), "fsdp": (False, "--fsdp"), "pack": (None, "--pack"),
    "pack_length": (512, "--pack-length"), "batch_tokens": (PAPER_BATCH_TOKENS, "--batch-tokens"),
    "grad_accum": (1, "--grad-accum"), "max_input_len": (None, "--max-input-len"), "scoring": ("generate", "--scoring"),
    "ensemble": ((), "--ensemble"), "kernels": ("mkl", "--kernels"),
}


@dataclass(frozen=True)
class TextToTextPlan:
    """A text-to-text run (T5, T5-LM, GPT-2): the options and the training config they resolve to."""

    opts: RunOptions
    train: TrainConfig

    def finetune_settings(self) -> dict[str, Any] | None:
        """`settings.finetune` of the settings fingerprint (None without fine-tuning), from `self.train`."""
        if not self.opts.finetune:
            return None
        cfg, opts = self.train, self.opts
        return {
            "steps": cfg.steps, "eval_every": cfg.eval_every, "batch_tokens": cfg.batch_tokens,
            "grad_accum": cfg.grad_accum, "max_input_len": opts.max_input_len, "lr": cfg.lr,
            "dropout": cfg.dropout, "mixture": opts.mixture, **opts.packing_settings(),
        } | ({"transfer": cfg.transfer} if cfg.transfer != "all" else {}) | (
            {"mixing": opts.mixing} if opts.mixing != "proportional" else {})  # fmt: skip


@dataclass(frozen=True)
class HeadPlan:
    """A task-head run: BERT's hyper-parameters, and --steps / --eval-every when given (None: epochs)."""

    opts: RunOptions
    hp: HeadHyperparameters
    steps: int | None  # None: hp.epochs over each task's training data
    eval_every: int | None  # None: once per epoch
    transfer: str

    def finetune_settings(self) -> dict[str, Any] | None:
        """`settings.finetune` of the fingerprint and run.json (None without fine-tuning), from `self.hp`."""
        if not self.opts.finetune:
            return None
        return self.hp.record() | {"steps": self.steps, "eval_every": self.eval_every, "transfer": self.transfer}


RunPlan = TextToTextPlan | HeadPlan


def is_bert(model: str) -> bool:
    """BERT presets and checkpoints (config.json model_type "bert")."""
    from t5eval.model import BERT_PRESETS
    from t5eval.model.load import model_type

    return model in BERT_PRESETS or (Path(model).is_dir() and model_type(Path(model)) == "bert")


def plan_run(opts: RunOptions) -> RunPlan:
    """Validate `opts` for its family and resolve the family's defaults (pure: reads at most a config.json).

    Raises:
        T5evalError: a flag that does not apply to the family, or a value that cannot work.
    """
    check_options(opts)
    if opts.transfer != "all" and not opts.finetune:
        raise T5evalError(f"--transfer {opts.transfer} chooses what fine-tuning trains; drop it (or --no-finetune)")
    Transfer.parse(opts.transfer)
    if opts.head is not None or is_bert(opts.model):
        return _head_plan(opts)
    if opts.head_hyperparameters is not None:
        raise T5evalError(f"{_flags_of(opts.head_hyperparameters)} set(s) the task-head recipe of encoder-only models "
                          "(BERT, --head classify); T5 text-to-text runs use --steps and --batch-tokens")
    train = TrainConfig(opts.steps, opts.eval_every, opts.batch_tokens, opts.grad_accum, seed=opts.seed,
                        dtype=opts.dtype, fsdp=opts.fsdp, pack_length=opts.pack_length if opts.pack else None,
                        transfer=opts.transfer)
    return TextToTextPlan(opts, train)


def _head_plan(opts: RunOptions) -> HeadPlan:
    if opts.head not in (None, *HEADS):
        raise T5evalError(f"--head {opts.head!r} is not one of {', '.join(HEADS)}{did_you_mean(opts.head, HEADS)}")
    given = [flag for name, (default, flag) in TEXT_TO_TEXT_ONLY.items() if getattr(opts, name) != default]
    if given:
        what = "is a text-to-text (T5) setting" if len(given) == 1 else "are text-to-text (T5) settings"
        raise T5evalError(f"{', '.join(given)} {what}; task heads train each task alone, in batches of "
                          f"--batch-size examples: drop {'it' if len(given) == 1 else 'them'}")
    hp = opts.head_hyperparameters or HeadHyperparameters()
    steps = None if opts.steps == PAPER_STEPS else opts.steps
    if steps is not None and hp.epochs != HeadHyperparameters().epochs:
        raise T5evalError(f"--steps {steps} and --epochs {hp.epochs} both set the fine-tuning length; pass one")
    eval_every = None if opts.eval_every == PAPER_EVAL_EVERY else opts.eval_every
    return HeadPlan(opts, hp, steps, eval_every, opts.transfer)


def _flags_of(hp: HeadHyperparameters) -> str:
    """The --flags whose values differ from BERT's defaults, e.g. '--lr, --epochs'."""
    default = HeadHyperparameters()
    names = [f.name for f in fields(hp) if getattr(hp, f.name) != getattr(default, f.name)]
    return ", ".join(f"--{n.replace('_', '-')}" for n in names) or "--lr/--epochs/--batch-size/--max-len"


def head_steps(plan: HeadPlan, n_items: int, blocks: int) -> tuple[int, int]:
    """(steps, eval_every) of one task's head fine-tuning: --steps, else epochs over its `n_items` examples;
    --eval-every, else once per epoch. Gradual unfreezing needs a step per block (the paper's episodes).

    Raises:
        T5evalError: gradual unfreezing with fewer steps than the body has blocks.
    """
    per_epoch = -(-n_items // plan.hp.batch_size)
    steps = plan.steps if plan.steps is not None else per_epoch * plan.hp.epochs
    if Transfer.parse(plan.transfer).kind == "gradual-unfreezing" and steps < blocks:
        raise T5evalError(f"--transfer gradual-unfreezing splits fine-tuning into {blocks} episodes (one per block) "
                          f"and needs {blocks} steps or more, got {steps}; raise --steps or --epochs")
    return steps, min(plan.eval_every or per_epoch, steps)


def with_device(plan: RunPlan, device: str) -> RunPlan:
    """`plan` with this rank's device (torchrun: `cuda` -> `cuda:LOCAL_RANK`)."""
    return replace(plan, opts=replace(plan.opts, device=device))
