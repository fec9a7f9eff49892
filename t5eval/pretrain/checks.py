"""Every `t5eval pretrain` refusal that needs neither the corpus nor the weights, run before either loads.

`check_options` refuses, in one line each: nothing to do, a model source that is not a model (missing
folder, a run folder, an unfinished pre-training), a model family pre-training does not support (by name),
a vocabulary larger than the model's embedding, an `--out` at or under a file or holding a `t5eval run`
folder or other files, and an `--export` path that is a folder. The objective's own settings are checked by
`make_objective` (before the corpus too, in `job.build_stream`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.model.load import check_model_source, model_family, preset_family
from t5eval.results import check_out_path
from t5eval.trust import PRETRAIN, require_kind

# Model families `t5eval pretrain` trains: those with a text-to-text `loss` (encoder-decoder; the paper's LM and
# prefix LM); a family is added here once its loss and objectives are wired up.
PRETRAINABLE = ("t5", "t5lm")


def model_config(model: str) -> tuple[str, Any] | None:
    """(family name, config) of a preset or a local folder without loading weights; None for a hub id."""
    path = Path(model).expanduser()
    if path.exists():
        family = model_family(path)
        return family.name, family.config_from_hf(path)
    try:
        family = preset_family(model)
    except T5evalError:
        return None  # a hub id: its family is read once downloaded
    return family.name, family.presets[model]


def check_family(model: str, family: str) -> None:
    """Refuse a model family that `t5eval pretrain` does not train, naming it and what is supported."""
    if family not in PRETRAINABLE:
        raise T5evalError(f"--model {model} is a {family} model; t5eval pre-trains {', '.join(PRETRAINABLE)} "
                          "models (T5 presets, the paper's architectures: tiny-shared, tiny-half, tiny-lm, ...)")


def check_out_folder(out: Path) -> None:
    """`--out` must be (or become) a pre-training folder: not a file, not under one, not a `t5eval run` folder
    nor a folder of other files (`t5eval.trust.require_kind`; `--overwrite` replaces only a pre-training)."""
    check_out_path(out, folder=True)
    require_kind(out, PRETRAIN, "--out")


def check_export_path(path: Path, raw: str | None = None) -> None:
    """`--export N FILE`: FILE must be a file path (not a folder, not under a file)."""
    if raw is not None and raw.endswith(("/", "\\")):
        raise T5evalError(f"--export {raw} names a folder; give a file path such as {Path(raw) / 'examples.jsonl'}")
    check_out_path(path, "--export")


def check_options(model: str, out: Path | None, export_path: Path | None,
                  export_raw: str | None = None) -> tuple[str, Any] | None:
    """All the refusals above, in order; returns `model_config(model)` for the vocabulary check."""
    if out is None and export_path is None:
        raise T5evalError("nothing to do: pass --out DIR to pre-train, or --export N FILE to see the examples")
    if export_path is not None:
        check_export_path(export_path, export_raw)
    check_model_source(model)
    if out is not None:
        check_out_folder(out)
    found = model_config(model)
    if found is not None:
        check_family(model, found[0])
    # the objective's settings: `make_objective` in job.build_stream, still before the corpus is read
    return found
