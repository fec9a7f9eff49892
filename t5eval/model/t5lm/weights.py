"""Saving and loading the T5 paper's LM / prefix LM: config.json (model_type t5lm) + model.safetensors with
the native parameter names (the tied head written once, as `shared.weight`); every key checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import save

from t5eval.model.checkpoint import (
    LoadedModel,
    check_keys,
    check_shapes,
    files_sha256,
    read_checkpoint,
    require_dir,
    write_checkpoint,
)
from t5eval.model.t5.weights import _init_ as t5_init
from t5eval.model.t5lm.config import T5LMConfig
from t5eval.model.t5lm.network import T5LM


def own_state_dict(model: T5LM) -> dict[str, torch.Tensor]:
    """Every parameter once (named_parameters drops the tied lm_head)."""
    return {k: v.detach().contiguous() for k, v in model.named_parameters()}


def load_local(model_dir: Path, dtype: torch.dtype, device: str) -> LoadedModel:
    require_dir(model_dir, "t5lm")
    cfg = T5LMConfig.from_hf(model_dir / "config.json")
    files, state = read_checkpoint(model_dir)
    with torch.device("meta"):
        model = T5LM(cfg)
    expected = dict(model.named_parameters())
    check_keys(str(model_dir), sorted(set(state) - set(expected)), sorted(set(expected) - set(state)))
    check_shapes(model, state, str(model_dir))
    tensors = {n: t.to(device=device, dtype=dtype) for n, t in state.items()}
    tensors["lm_head.weight"] = tensors["shared.weight"]
    model.load_state_dict(tensors, strict=True, assign=True)
    model.lm_head.weight = model.shared.weight
    return LoadedModel(model.eval(), cfg, str(model_dir), files_sha256(files))


def save_model(model: T5LM, out_dir: str | Path) -> Path:
    return write_checkpoint(out_dir, model.config.to_hf(), own_state_dict(model))


def random_model(cfg: T5LMConfig, seed: int, dtype: torch.dtype, device: str, source: str) -> LoadedModel:
    """Fresh seeded weights with T5's init (`t5.weights._init_`: the same per-layer scales)."""
    model = T5LM(cfg)
    t5_init(model, seed)  # type: ignore[arg-type]
    digest = hashlib.sha256(save(own_state_dict(model))).hexdigest()
    return LoadedModel(model.to(device=device, dtype=dtype).eval(), cfg, source, digest)
