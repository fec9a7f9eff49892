"""HF GPT-2 checkpoint <-> native GPT-2: one total key map, Conv1D transposition, loading and saving.

transformers stores GPT-2's projections as `Conv1D`, whose weight is (in, out), the transpose of
`nn.Linear`'s (out, in): `CONV1D` lists those keys and they are transposed on the way in and out.
Checkpoints name keys with or without the `transformer.` prefix (GPT2LMHeadModel vs GPT2Model, as the
hub's `gpt2` ships); both read. The causal-mask buffers `attn.bias` / `attn.masked_bias` of older
files carry no weights and are ignored; the tied `lm_head.weight` must equal `wte` when present.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import save

from t5eval.errors import T5evalError
from t5eval.model.checkpoint import (
    LoadedModel,
    check_keys,
    check_shapes,
    files_sha256,
    read_checkpoint,
    require_dir,
    write_checkpoint,
)
from t5eval.model.gpt2.config import GPT2Config
from t5eval.model.gpt2.network import GPT2

PREFIX = "transformer."
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
_BLOCK = {"ln_1": "ln_1", "attn.c_attn": "attn.qkv", "attn.c_proj": "attn.proj", "ln_2": "ln_2",
          "mlp.c_fc": "mlp.fc", "mlp.c_proj": "mlp.proj"}


def key_map(cfg: GPT2Config) -> dict[str, str]:
    """Every HF parameter key (without the `transformer.` prefix) -> its native parameter name."""
    out = {"wte.weight": "wte.weight", "wpe.weight": "wpe.weight", "ln_f.weight": "ln_f.weight",
           "ln_f.bias": "ln_f.bias"}
    for i in range(cfg.n_layer):
        for hf, nat in _BLOCK.items():
            out |= {f"h.{i}.{hf}.{p}": f"blocks.{i}.{nat}.{p}" for p in ("weight", "bias")}
    return out


def is_ignored(key: str) -> bool:
    """Keys that carry no weights: causal-mask buffers of older files, and the tied head (checked apart)."""
    return key == "lm_head.weight" or key.endswith((".attn.bias", ".attn.masked_bias"))


def is_conv1d(key: str) -> bool:
    return key.endswith(CONV1D)


def native_state_dict(cfg: GPT2Config, checkpoint: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Map HF keys to native names (Conv1D weights transposed); unknown or missing keys are one-line errors."""
    plain = {k.removeprefix(PREFIX): v for k, v in checkpoint.items()}
    mapping = key_map(cfg)
    unknown = sorted(k for k in checkpoint if k.removeprefix(PREFIX) not in mapping
                     and not is_ignored(k.removeprefix(PREFIX)))  # named as in the file
    check_keys(where, unknown, sorted(k for k in mapping if k not in plain))
    head = plain.get("lm_head.weight")
    if head is not None and not torch.equal(head, plain["wte.weight"]):
        raise T5evalError(f"{where}: lm_head.weight differs from wte.weight; GPT-2's head is tied, "
                          "pass a checkpoint whose head is the token embedding")
    return {mapping[k]: (v.t() if is_conv1d(k) and v.dim() == 2 else v) for k, v in plain.items() if k in mapping}


def build(cfg: GPT2Config, state: dict[str, torch.Tensor], where: str, dtype: torch.dtype, device: str) -> GPT2:
    """Create the model on `meta` and assign the checkpoint tensors (shapes checked first)."""
    with torch.device("meta"):
        model = GPT2(cfg)
    check_shapes(model, state, where)
    tensors = {n: t.to(device=device, dtype=dtype).contiguous() for n, t in state.items()}
    tensors["lm_head.weight"] = tensors["wte.weight"]
    model.load_state_dict(tensors, strict=True, assign=True)
    model.lm_head.weight = model.wte.weight
    return model.eval()


def load_local(model_dir: Path, dtype: torch.dtype, device: str) -> LoadedModel:
    """Load an HF GPT-2 directory (config.json + weights)."""
    require_dir(model_dir, "GPT-2")
    cfg = GPT2Config.from_hf(model_dir / "config.json")
    files, checkpoint = read_checkpoint(model_dir)
    model = build(cfg, native_state_dict(cfg, checkpoint, str(model_dir)), str(model_dir), dtype, device)
    return LoadedModel(model, cfg, str(model_dir), files_sha256(files))


def hf_state_dict(model: GPT2) -> dict[str, torch.Tensor]:
    """The weights under GPT2LMHeadModel's key names (Conv1D layout; the tied head not written)."""
    own = dict(model.named_parameters())
    out = {}
    for hf, nat in key_map(model.config).items():
        tensor = own[nat].detach()
        out[PREFIX + hf] = (tensor.t() if is_conv1d(hf) else tensor).contiguous()
    return out


def save_model(model: GPT2, out_dir: str | Path) -> Path:
    """Write config.json + model.safetensors that transformers' GPT2LMHeadModel and `load_model` read."""
    return write_checkpoint(out_dir, model.config.to_hf(), hf_state_dict(model))


def _init_(model: GPT2, seed: int) -> None:
    """GPT-2's init: N(0, 0.02) weights, zero biases, unit LayerNorms; residual projections scaled by
    1/sqrt(2 * n_layer) (the paper's modified initialization, as transformers does)."""
    cfg, gen = model.config, torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".ln_" in f".{name}":  # LayerNorm weight and bias
                param.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                param.zero_()
            else:
                std = cfg.initializer_range
                if name.endswith("proj.weight"):
                    std /= (2 * cfg.n_layer) ** 0.5
                param.copy_(torch.randn(param.shape, generator=gen) * std)


def random_model(cfg: GPT2Config, seed: int, dtype: torch.dtype, device: str, source: str) -> LoadedModel:
    """A GPT-2 with fresh seeded weights; its hash is that of the serialized HF-keyed state dict."""
    model = GPT2(cfg)
    _init_(model, seed)
    digest = hashlib.sha256(save(hf_state_dict(model))).hexdigest()
    return LoadedModel(model.to(device=device, dtype=dtype).eval(), cfg, source, digest)
