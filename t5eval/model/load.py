"""`load_model` / `save_model` for every family: a local HF folder, a hub id, or a preset with fresh weights.

A folder's family comes from its config.json `model_type` (absent means T5, as older T5 configs);
a preset's from the family whose preset table holds the name. Each family is one `Family` entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from t5eval.errors import T5evalError, did_you_mean
from t5eval.model import bert, gpt2, t5, t5lm
from t5eval.model.bert.config import BERT_PRESETS, BertConfig
from t5eval.model.bert.network import Bert
from t5eval.model.bert.weights import load_local as bert_load_local
from t5eval.model.bert.weights import random_bert, save_bert
from t5eval.model.checkpoint import HUB_ID, LoadedModel, download, read_config_json
from t5eval.model.gpt2.config import GPT2_PRESETS, GPT2Config
from t5eval.model.gpt2.network import GPT2
from t5eval.model.gpt2.weights import load_local as gpt2_load_local
from t5eval.model.gpt2.weights import random_model as gpt2_random_model
from t5eval.model.gpt2.weights import save_model as gpt2_save_model
from t5eval.model.t5.config import PRESETS, T5Config
from t5eval.model.t5.network import T5
from t5eval.model.t5.weights import load_local as t5_load_local
from t5eval.model.t5.weights import random_model as t5_random_model
from t5eval.model.t5.weights import save_model as t5_save_model
from t5eval.model.t5lm.config import MODEL_TYPE as T5LM_TYPE
from t5eval.model.t5lm.config import T5LM_PRESETS, T5LMConfig
from t5eval.model.t5lm.network import T5LM
from t5eval.model.t5lm.weights import load_local as t5lm_load_local
from t5eval.model.t5lm.weights import random_model as t5lm_random_model
from t5eval.model.t5lm.weights import save_model as t5lm_save_model
from t5eval.trust import folder_kind


@dataclass(frozen=True)
class Family:
    """What `load_model`/`save_model` need of a model family."""

    name: str
    network: type[torch.nn.Module]
    presets: Mapping[str, Any]
    config_from_hf: Callable[[Path], Any]
    load_local: Callable[[Path, torch.dtype, str], LoadedModel]
    random_model: Callable[[Any, int, torch.dtype, str, str], LoadedModel]
    save: Callable[[Any, Path], Path]


FAMILIES: dict[str, Family] = {
    "t5": Family("t5", T5, PRESETS, T5Config.from_hf, t5_load_local, t5_random_model, t5_save_model),
    "gpt2": Family("gpt2", GPT2, GPT2_PRESETS, GPT2Config.from_hf, gpt2_load_local, gpt2_random_model,
                   gpt2_save_model),
    T5LM_TYPE: Family(T5LM_TYPE, T5LM, T5LM_PRESETS, T5LMConfig.from_hf, t5lm_load_local, t5lm_random_model,
                      t5lm_save_model),
    "bert": Family("bert", Bert, BERT_PRESETS, BertConfig.from_hf, bert_load_local, random_bert, save_bert),
}
assert t5 and gpt2 and t5lm and bert  # the subpackages, imported for their modules above


def model_family(path: Path) -> Family:
    """The family of an HF folder (or config.json) from its `model_type`; unknown types are one-line errors."""
    model_type = read_config_json(path).get("model_type") or "t5"
    if model_type not in FAMILIES:
        where = path / "config.json" if path.is_dir() else path
        raise T5evalError(f"{where}: model_type {model_type!r} is not supported{did_you_mean(model_type, FAMILIES)}; "
                          f"t5eval loads {', '.join(FAMILIES)}")
    return FAMILIES[model_type]


def preset_family(name: str) -> Family:
    """The family whose presets hold `name`; unknown names list every preset."""
    for family in FAMILIES.values():
        if name in family.presets:
            return family
    names = [n for f in FAMILIES.values() for n in f.presets]
    raise T5evalError(f"unknown model preset {name!r}{did_you_mean(name, names)}; choose one of {', '.join(names)}")


def source_family(source: str | Path) -> str:
    """The family name of a model source before loading it: a folder's model_type, a preset's family;
    "t5" for anything else (a hub id is read once downloaded)."""
    path = Path(source)
    if path.is_dir() and (path / "config.json").is_file():
        return model_family(path).name
    return next((f.name for f in FAMILIES.values() if str(source) in f.presets), "t5")


def check_model_source(source: str, flag: str = "--model") -> None:
    """Refuse a `--model` that names a folder which is not a model folder, before anything loads.

    A path that does not exist (and is not a preset or a hub id), an unfinished `t5eval pretrain` folder,
    a `t5eval run` folder, or a folder without config.json are one-line errors saying what to pass instead.
    """
    path = Path(source).expanduser()
    if not path.exists():
        if source in all_presets() or (HUB_ID.match(source) and not source.startswith((".", "/", "~"))):
            return  # a preset, or a hub id (fetched later)
        nearest = next((p for p in path.parents if p.is_dir()), None)
        hint = f" (the nearest existing folder is {nearest})" if nearest not in (None, Path(".")) else ""
        raise T5evalError(f"{flag} {source}: folder does not exist{hint}; pass an existing model folder, "
                          "a preset with --init random, or a hub id")
    if not path.is_dir() or (path / "config.json").is_file():
        return
    kind = folder_kind(path)
    if kind == "pretrain":
        raise T5evalError(f"{flag} {path} holds an unfinished pre-training (no pretrain.json yet): finish it by "
                          f"running its `t5eval pretrain ... --out {path}` command again (it resumes from its "
                          "last checkpoint), then pass the folder")
    if kind == "run":
        best = sorted(str(p.parent) for p in path.glob("*/best/config.json"))
        where = f", e.g. {best[0]}" if best else " (this run has none yet)"
        raise T5evalError(f"{flag} {path} is a run folder of `t5eval run`, not a model; its fine-tuned "
                          f"checkpoints are <task>/best inside it{where}")
    raise T5evalError(f"{flag} {path} has no config.json, so it is not a Hugging Face model folder; pass the "
                      "folder that holds config.json and the weights")


def model_type(path: Path) -> str | None:
    """config.json's `model_type` in a model folder (None when absent or unreadable: the loader reports it)."""
    try:
        return model_family(path).name if (path / "config.json").is_file() else None
    except T5evalError:
        return None


def all_presets() -> list[str]:
    """Every preset name of every family."""
    return [n for f in FAMILIES.values() for n in f.presets]


def load_model(source: str | Path, *, init: str = "pretrained", seed: int = 0, device: str = "cpu",
               dtype: torch.dtype = torch.float32) -> LoadedModel:
    """Load a local HF dir, a hub id, or (init="random") a preset name / config with seeded weights."""
    text = str(source)
    path = Path(text)
    if init == "random":
        if path.exists():
            family = model_family(path)
            return family.random_model(family.config_from_hf(path), seed, dtype, device, text)
        family = preset_family(text)
        return family.random_model(family.presets[text], seed, dtype, device, text)
    if init != "pretrained":
        raise T5evalError(f"unknown init {init!r}; use 'pretrained' or 'random'")
    if path.exists() or text.startswith((".", "/", "~")) or not HUB_ID.match(text):
        if not path.is_dir():
            raise T5evalError(f"model directory {path} not found; pass an existing HF model directory")
        return model_family(path).load_local(path, dtype, device)
    local = download(text)
    return replace(model_family(local).load_local(local, dtype, device), source=text)


def save_model(model: torch.nn.Module, out_dir: str | Path) -> Path:
    """Write config.json + model.safetensors with HF key names (transformers and `load_model` read it)."""
    for family in FAMILIES.values():
        if isinstance(model, family.network):
            return family.save(model, Path(out_dir))
    raise T5evalError(f"cannot save a {type(model).__name__}; t5eval saves {', '.join(FAMILIES)} models")
