"""What every task of a run shares (`RunContext`), and the starting model each task gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t5eval.distributed.context import DistContext
from t5eval.errors import T5evalError
from t5eval.model import LoadedModel
from t5eval.run.options import RunOptions
from t5eval.run.plan import TextToTextPlan
from t5eval.run.progress import RunProgress
from t5eval.tasks import TaskRegistry
from t5eval.tokenizer import Tokenizer
from t5eval.train.text_step import TrainConfig

Log = Callable[[str], None]


@dataclass
class RunContext:
    """What every task of a run shares."""

    opts: RunOptions
    run_dir: Path
    tokenizer: Tokenizer
    registry: TaskRegistry
    progress: RunProgress
    log: Log
    train_cfg: TrainConfig
    model_info: dict[str, Any] = field(default_factory=dict)
    spare: LoadedModel | None = None  # the starting model, loaded up front, not yet used by a task
    dist: DistContext = field(default_factory=DistContext)  # torchrun ranks (docs/distributed.md)
    plan: TextToTextPlan | None = None  # the validated plan (its TrainConfig is `train_cfg`)
    linear_kernels: dict[str, Any] | None = None  # the fp32 kernel choice of its decoding (`run.kernels`), once made


def fresh_model(opts: RunOptions) -> LoadedModel:
    """The starting model as `--model`/`--init`/`--seed` define it (seeded when random).

    --fsdp loads it on CPU: FSDP2 moves it to the device unit by unit as it shards it.
    """
    from t5eval.model import all_presets, load_model

    try:
        loaded = load_model(opts.model, init=opts.init, seed=opts.seed, device="cpu" if opts.fsdp else opts.device)
        return ensemble_of(loaded, opts) if opts.ensemble else loaded
    except T5evalError as err:
        if opts.init == "pretrained" and opts.model in all_presets() and not Path(opts.model).exists():
            raise T5evalError(f"{err}; or, for the preset {opts.model!r} with fresh seeded weights, "
                              "add --init random") from None
        raise


def ensemble_of(first: LoadedModel, opts: RunOptions) -> LoadedModel:
    """--ensemble: `first` (--model) and the listed members as one `Ensemble`; its hash covers every member's."""
    import hashlib

    from t5eval.model import load_model
    from t5eval.model.ensemble import Ensemble

    loaded = [first] + [load_model(m, init="pretrained", device=opts.device) for m in opts.ensemble]
    model = Ensemble([m.model for m in loaded], opts.ensemble_reduce)
    digest = hashlib.sha256(" ".join(m.weights_sha256 for m in loaded).encode()).hexdigest()
    source = ",".join(str(m.source) for m in loaded)
    return LoadedModel(model, first.config, f"ensemble:{source}", digest)


def next_model(ctx: RunContext) -> LoadedModel:
    """A fresh copy of the starting model for the next task (the first one is loaded already)."""
    if ctx.spare is not None:
        loaded, ctx.spare = ctx.spare, None
        return loaded
    return fresh_model(ctx.opts)
