"""`RunOptions` (what `t5eval run` was asked) and the checks of single options: device, dtype, splits, eval data.

Which options apply to which model family is the plan step's job (`t5eval.run.plan`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.tasks import TaskSpec
from t5eval.train.head_step import HeadHyperparameters

PAPER_STEPS = 2**18  # fine-tuning steps of the paper's baseline (spec §8)


PAPER_EVAL_EVERY = 5000  # checkpoint interval (spec §8)


PAPER_BATCH_TOKENS = 128 * 512  # 65,536 tokens per batch (spec §8)


DEVICE_KINDS = ("cpu", "cuda", "mps")


DTYPES = ("float32", "bfloat16")


INITS = ("pretrained", "random")


PROTOCOLS = ("current", "paper")


SCORINGS = ("generate", "rank")


KERNEL_MODES = ("mkl", "auto", "onednn")


MAX_THREADS = 256  # torch.set_num_threads with absurd values crashes the process


@dataclass(frozen=True)
class RunOptions:
    """Everything `t5eval run` was asked to do. Defaults are the paper's fine-tuning settings."""

    target: str
    model: str
    init: str = "pretrained"
    vocab: Path | None = None
    data_dir: Path | None = None
    out: Path | None = None
    results_root: Path = Path("results")
    limit: int | None = None
    seed: int = 0
    steps: int = PAPER_STEPS
    eval_every: int = PAPER_EVAL_EVERY
    batch_tokens: int = PAPER_BATCH_TOKENS
    grad_accum: int = 1
    pack: bool | None = None  # T5's packed fine-tuning (docs/train.md); None: on for encoder-decoder T5 fine-tuning
    pack_length: int = 512  # input and target tokens per packed row (T5's 512)
    max_input_len: int | None = None  # extra cap on training inputs (train_lengths are maxima)
    finetune: bool = True
    mixture: bool = False
    protocol: str = "current"
    split: str | None = None  # evaluate on this split (role or name) instead of each task's eval split
    threads: int | None = None
    overwrite: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    fsdp: bool = False  # shard training with FSDP2 under torchrun (≥ 2 ranks); results as with DDP
    skip_missing: bool = False  # leave out tasks whose eval data is not found (run.json lists them)
    scoring: str = "generate"  # "rank": classification by label log-likelihood (eval.predictor)
    command: tuple[str, ...] = ()
    head_hyperparameters: HeadHyperparameters | None = None  # task heads (BERT, --head classify); None: BERT's
    head: str | None = None  # "classify": task heads on T5's encoder instead of text-to-text (t5eval.run.head_flow)
    transfer: str = "all"  # --transfer: what fine-tuning trains (t5eval.train.transfer), text-to-text and task heads
    mixing: str = "proportional"  # --mixing: the mixture's rates (t5eval.train.mixing), with --mixture
    ensemble: tuple[str, ...] = ()  # --ensemble: further members decoded with --model (t5eval.model.ensemble)
    ensemble_reduce: str = "prob"  # Mesh TF's reduce_ensemble_logits: mean of probabilities | of logits
    kernels: str = "mkl"  # --kernels: fp32 linear kernels of CPU decoding (t5eval.run.kernels); mkl: torch's default

    def with_packing(self, encoder_decoder: bool) -> RunOptions:
        """--pack resolved: packed rows by default for encoder-decoder T5 fine-tuning (as T5 fine-tuned), padded
        buckets otherwise; an explicit --pack where rows cannot be packed is a one-line error."""
        packable = encoder_decoder and self.finetune
        if self.pack and not packable:
            why = "--no-finetune trains nothing" if encoder_decoder else f"{self.model} is not an encoder-decoder T5"
            raise T5evalError(f"--pack packs encoder-decoder fine-tuning rows, but {why}: drop --pack")
        return replace(self, pack=packable if self.pack is None else self.pack)

    def packing_settings(self) -> dict[str, Any]:
        """How fine-tuning batches are made and the loss normalised (docs/train.md); in the fingerprint."""
        return {"pack_length": self.pack_length if self.pack else None,
                "loss_normalization": "token losses summed over the step's micro-batches / its target tokens"}

    def resolved_data_dir(self) -> str | None:
        """--data-dir, else $T5EVAL_DATA_DIR, else None (the hub copy)."""
        value = self.data_dir or os.environ.get("T5EVAL_DATA_DIR")
        return str(Path(value).resolve()) if value else None


def default_device() -> str:
    """`cuda` when a GPU is visible, else `cpu` (the `--device` default)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(name: str, *, here: bool = True) -> str:
    """Validate `--device` (cpu, cuda, cuda:N, mps), and with `here` against this machine; returns it unchanged
    (`here=False`: only the name, for commands planned to run elsewhere, e.g. `study run --plan`).

    Raises:
        T5evalError: an unknown device name, or (with `here`) one this machine does not have.
    """
    import torch

    kind, _, index = name.partition(":")
    if kind not in DEVICE_KINDS or (index and (kind != "cuda" or not index.isdigit())):
        raise T5evalError(f"--device {name!r} is not cpu, cuda, cuda:N or mps{did_you_mean(kind, DEVICE_KINDS)}")
    if not here:
        return name
    if kind == "cuda" and not torch.cuda.is_available():
        raise T5evalError(f"--device {name} but CUDA is not available on this machine; use --device cpu")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise T5evalError(f"--device {name} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                          f"use cuda:0 … cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise T5evalError(f"--device {name} but MPS (Apple GPU) is not available on this machine; use --device cpu")
    return name


def check_dtype(name: str) -> str:
    """Validate `--dtype`: float32 (exact) or bfloat16 (autocast forward passes, fp32 weights)."""
    if name not in DTYPES:
        raise T5evalError(f"--dtype {name!r} is not one of {', '.join(DTYPES)}{did_you_mean(name, DTYPES)}")
    return name


def eval_split(spec: TaskSpec, override: str | None = None) -> str:
    """The split a task is scored on: `override` (a role such as "test", or a split name), else the
    spec's eval role (validation for every T5 table but Table 14).

    Raises:
        T5evalError: `override` names no split of the task.
    """
    if override is None:
        return str(spec.splits.get("eval") or spec.splits.get("validation") or "validation")
    if override in spec.splits:
        return str(spec.splits[override])
    if override in spec.split_names:
        return override
    choices = sorted({*spec.splits, *spec.split_names})
    raise T5evalError(f"task {spec.name} has no split {override!r}{did_you_mean(override, choices)}; "
                      f"use one of: {', '.join(choices)}")


def train_split(spec: TaskSpec, data_dir: Path | None) -> str | None:
    """The task's train split when its data is reachable, else None (never the validation split)."""
    from t5eval.tasks import has_split

    split = spec.splits.get("train")
    if split is None:
        return None
    return str(split) if has_split(spec, split, data_dir) else None


def require_data_source(specs: list[TaskSpec], data_dir: Path | None) -> None:
    """Without --data-dir (nor $T5EVAL_DATA_DIR) the hub must answer: else one line naming --data-dir,
    in a second or two (before torch is imported, any model loaded or any folder written).

    Raises:
        T5evalError: no data dir and the hub is offline or does not answer.
    """
    from t5eval.tasks import require_hub, resolve_data_dir

    if resolve_data_dir(data_dir) is None:
        for spec in specs:
            require_hub(spec)


def check_eval_data(specs: list[TaskSpec], data_dir: Path | None, split: str | None = None,
                    skip_missing: bool = False) -> list[TaskSpec]:
    """The tasks to run: refuse up front (before any training) when a task's eval split is not in the
    data, or with `skip_missing` leave such tasks out (at least one must remain).

    Raises:
        T5evalError: names the tasks without eval data and suggests the runnable comma list.
    """
    from t5eval.tasks import has_split
    from t5eval.tasks.data import missing_split_hint

    require_data_source(specs, data_dir)
    missing = [s.name for s in specs if not has_split(s, eval_split(s, split), data_dir)]
    ready = [s for s in specs if s.name not in missing]
    if not missing or (skip_missing and ready):
        return ready
    where = data_dir or os.environ.get("T5EVAL_DATA_DIR") or "the hub"
    names = ",".join(s.name for s in ready)
    hint = (f"run the others with: t5eval run {names} ... (or add --skip-missing)" if ready
            else "pass --data-dir with the files" if where == "the hub" else "")
    looked = [f"{s.name}: {h}" for s in specs if s.name in missing
              and (h := missing_split_hint(s, eval_split(s, split), data_dir))]
    detail = f" ({'; '.join(looked)})" if looked else ""
    raise T5evalError(f"no eval data for {', '.join(missing)} in {where}{detail}" + (f"; {hint}" if hint else ""))


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """One line naming `name`, the choices and the nearest one when `value` is not among `choices`."""
    if value not in choices:
        raise T5evalError(f"{name} {value!r} is not one of {', '.join(choices)}{did_you_mean(value, choices)}")


def check_positive(**values: int | None) -> None:
    """One line naming the first `--flag` whose value is below 1."""
    for name, value in values.items():
        if value is not None and value < 1:
            raise T5evalError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def check_options(opts: RunOptions) -> None:
    """The checks of single options, whatever the model family (the plan step checks which options apply).

    Raises:
        T5evalError: an unknown choice, a count below 1, too many threads, --split while fine-tuning.
    """
    check_choice("--init", opts.init, INITS)
    check_choice("--protocol", opts.protocol, PROTOCOLS)
    check_choice("--scoring", opts.scoring, SCORINGS)
    check_choice("--kernels", opts.kernels, KERNEL_MODES)
    check_dtype(opts.dtype)
    if opts.threads is not None and opts.threads > MAX_THREADS:
        raise T5evalError(f"--threads {opts.threads} is too many; use at most {MAX_THREADS} (this machine has "
                          f"{os.cpu_count()} CPUs)")
    if opts.split is not None and opts.finetune:
        raise T5evalError(f"--split {opts.split} evaluates a checkpoint as is: add --no-finetune (fine-tuning "
                          "selects its checkpoint on each task's validation split)")
    check_positive(steps=opts.steps, eval_every=opts.eval_every, batch_tokens=opts.batch_tokens,
                   grad_accum=opts.grad_accum, limit=opts.limit, threads=opts.threads,
                   max_input_len=opts.max_input_len, pack_length=opts.pack_length)
