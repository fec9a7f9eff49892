"""`load_model`: a local HF folder, a hub id, or a preset with fresh seeded weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from t5eval.errors import T5evalError
from t5eval.model.checkpoint import HUB_ID, download
from t5eval.model.t5.config import T5Config
from t5eval.model.t5.weights import LoadedModel, load_local, random_model


def load_model(source: str | Path, *, init: str = "pretrained", seed: int = 0, device: str = "cpu",
               dtype: torch.dtype = torch.float32) -> LoadedModel:
    """Load a local HF dir, a hub id, or (init="random") a preset name / config with seeded weights."""
    text = str(source)
    if init == "random":
        path = Path(text)
        cfg = T5Config.from_hf(path) if path.exists() else T5Config.preset(text)
        return random_model(cfg, seed, dtype, device, text)
    if init != "pretrained":
        raise T5evalError(f"unknown init {init!r}; use 'pretrained' or 'random'")
    path = Path(text)
    if path.exists() or text.startswith((".", "/", "~")) or not HUB_ID.match(text):
        return load_local(path, dtype, device)
    loaded = load_local(download(text), dtype, device)
    return replace(loaded, source=text)
