"""Saving and loading the T5 paper's LM / prefix LM: config.json (model_type t5lm) + model.safetensors with
the native parameter names (the tied head written once, as `shared.weight`); every key checked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import save, save_file

from t5eval.errors import T5evalError
from t5eval.model.checkpoint import LoadedModel, files_sha256, first_keys, read_weights, weight_files
from t5eval.model.t5.weights import _init_ as t5_init
from t5eval.model.t5lm.config import T5LMConfig
from t5eval.model.t5lm.network import T5LM


def own_state_dict(model: T5LM) -> dict[str, torch.Tensor]:
    """Every parameter once (named_parameters drops the tied lm_head)."""
    return {k: v.detach().contiguous() for k, v in model.named_parameters()}


def load_local(model_dir: Path, dtype: torch.dtype, device: str) -> LoadedModel:
    if not model_dir.is_dir():
        raise T5evalError(f"model directory {model_dir} not found")
    cfg = T5LMConfig.from_hf(model_dir / "config.json")
    files = weight_files(model_dir)
    state: dict[str, torch.Tensor] = {}
    for path in files:
        state.update(read_weights(path))
    with torch.device("meta"):
        model = T5LM(cfg)
    expected = {n: p.shape for n, p in model.named_parameters()}
    unknown, missing = sorted(set(state) - set(expected)), sorted(set(expected) - set(state))
    bad = [f"{n} {tuple(state[n].shape)} != {tuple(s)}" for n, s in expected.items() if n in state and state[n].shape != s]
    if unknown or missing or bad:
        parts = [f"unexpected keys {first_keys(unknown)}"] * bool(unknown) + [f"missing keys {first_keys(missing)}"] * bool(
            missing) + [f"shapes {'; '.join(bad[:4])}"] * bool(bad)
        raise T5evalError(f"{model_dir}: checkpoint does not fit its config.json: {'; '.join(parts)}")
    tensors = {n: t.to(device=device, dtype=dtype) for n, t in state.items()}
    tensors["lm_head.weight"] = tensors["shared.weight"]
    model.load_state_dict(tensors, strict=True, assign=True)
    model.lm_head.weight = model.shared.weight
    return LoadedModel(model.eval(), cfg, str(model_dir), files_sha256(files))


def save_model(model: T5LM, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(model.config.to_hf(), indent=2) + "\n")
    save_file({k: v.to("cpu") for k, v in own_state_dict(model).items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    return out


def random_model(cfg: T5LMConfig, seed: int, dtype: torch.dtype, device: str, source: str) -> LoadedModel:
    """Fresh seeded weights with T5's init (`t5.weights._init_`: the same per-layer scales)."""
    model = T5LM(cfg)
    t5_init(model, seed)  # type: ignore[arg-type]
    digest = hashlib.sha256(save(own_state_dict(model))).hexdigest()
    return LoadedModel(model.to(device=device, dtype=dtype).eval(), cfg, source, digest)
