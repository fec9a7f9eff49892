"""`load_model`: a local HF folder, a hub id, or a preset with fresh seeded weights (any model family).

The family comes from config.json's `model_type` (or the preset's name); `save_model` dispatches on
the network's class.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from t5eval.errors import T5evalError
from t5eval.model.bert.config import BERT_PRESETS, BertConfig
from t5eval.model.bert.network import Bert
from t5eval.model.bert.weights import load_local as load_bert
from t5eval.model.bert.weights import random_bert, save_bert
from t5eval.model.checkpoint import HUB_ID, LoadedModel, download
from t5eval.model.t5.config import T5Config
from t5eval.model.t5.network import T5
from t5eval.model.t5.weights import load_local, random_model
from t5eval.model.t5.weights import save_model as save_t5


def model_type(path: Path) -> str | None:
    """config.json's `model_type` in a model folder (None when absent or unreadable: T5's loader reports it)."""
    try:
        data = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return data.get("model_type") if isinstance(data, dict) else None


def load_model(source: str | Path, *, init: str = "pretrained", seed: int = 0, device: str = "cpu",
               dtype: torch.dtype = torch.float32) -> LoadedModel[Any]:
    """Load a local HF dir, a hub id, or (init="random") a preset name / config with seeded weights."""
    text = str(source)
    path = Path(text)
    if init == "random":
        if text in BERT_PRESETS or (path.is_dir() and model_type(path) == "bert"):
            bcfg = BertConfig.from_hf(path) if path.exists() else BertConfig.preset(text)
            return random_bert(bcfg, seed, dtype, device, text)
        cfg = T5Config.from_hf(path) if path.exists() else T5Config.preset(text)
        return random_model(cfg, seed, dtype, device, text)
    if init != "pretrained":
        raise T5evalError(f"unknown init {init!r}; use 'pretrained' or 'random'")
    if path.exists() or text.startswith((".", "/", "~")) or not HUB_ID.match(text):
        return _load_local(path, dtype, device)
    loaded = _load_local(download(text), dtype, device)
    return replace(loaded, source=text)


def _load_local(path: Path, dtype: torch.dtype, device: str) -> LoadedModel[Any]:
    if path.is_dir() and model_type(path) == "bert":
        return load_bert(path, dtype, device)
    return load_local(path, dtype, device)


def save_model(model: torch.nn.Module, out_dir: str | Path) -> Path:
    """config.json + model.safetensors with HF key names, for the model's family (transformers loads it)."""
    if isinstance(model, Bert):
        return save_bert(model, out_dir)
    if isinstance(model, T5):
        return save_t5(model, out_dir)
    raise TypeError(f"save_model: no HF layout for {type(model).__name__}")
