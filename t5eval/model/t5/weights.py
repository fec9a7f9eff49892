"""HF checkpoint <-> native T5: one total key map, loading (safetensors, .bin, sharded, hub) and saving."""

from __future__ import annotations

import hashlib
from dataclasses import replace
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
from t5eval.model.t5.config import T5Config
from t5eval.model.t5.network import T5

_ATTN = ("q", "k", "v", "o")
_ADAPTER = {"houlsby": ("down.weight", "down.bias", "up.weight", "up.bias"),
            "official": ("norm.weight", "wi.weight", "wo.weight")}


def _ff_names(cfg: T5Config) -> tuple[str, ...]:
    return ("wi_0", "wi_1", "wo") if cfg.feed_forward_proj == "gated-gelu" else ("wi", "wo")


def key_map(cfg: T5Config) -> dict[str, str]:
    """Every HF parameter key of a T5ForConditionalGeneration -> its native parameter name."""
    out = {"shared.weight": "shared.weight",
           "encoder.final_layer_norm.weight": "encoder_norm.weight",
           "decoder.final_layer_norm.weight": "decoder_norm.weight",
           "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": "encoder_bias.embedding.weight",
           "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": "decoder_bias.embedding.weight"}
    if not cfg.tie_word_embeddings:
        out["lm_head.weight"] = "lm_head.weight"
    for i in range(cfg.num_layers):
        hf, nat = f"encoder.block.{i}.layer", f"encoder_layers.{i}"
        out |= {f"{hf}.0.SelfAttention.{p}.weight": f"{nat}.attn.{p}.weight" for p in _ATTN}
        out |= {f"{hf}.1.DenseReluDense.{p}.weight": f"{nat}.ff.{p}.weight" for p in _ff_names(cfg)}
        out |= {f"{hf}.0.layer_norm.weight": f"{nat}.attn_norm.weight",
                f"{hf}.1.layer_norm.weight": f"{nat}.ff_norm.weight"}
        out |= _adapter_keys(cfg, hf, 1, nat)
    for i in range(cfg.num_decoder_layers):
        hf, nat = f"decoder.block.{i}.layer", f"decoder_layers.{i}"
        out |= {f"{hf}.0.SelfAttention.{p}.weight": f"{nat}.self_attn.{p}.weight" for p in _ATTN}
        out |= {f"{hf}.1.EncDecAttention.{p}.weight": f"{nat}.cross_attn.{p}.weight" for p in _ATTN}
        out |= {f"{hf}.2.DenseReluDense.{p}.weight": f"{nat}.ff.{p}.weight" for p in _ff_names(cfg)}
        out |= {f"{hf}.0.layer_norm.weight": f"{nat}.self_norm.weight",
                f"{hf}.1.layer_norm.weight": f"{nat}.cross_norm.weight",
                f"{hf}.2.layer_norm.weight": f"{nat}.ff_norm.weight"}
        out |= _adapter_keys(cfg, hf, 2, nat)
    return out


def _adapter_keys(cfg: T5Config, hf_block: str, ff_sublayer: int, native_layer: str) -> dict[str, str]:
    """t5eval's adapter weights when the config has adapters; transformers knows no such keys (it warns and
    drops them). Official form: a sublayer of its own after the feed-forward (`<block>.layer.<ff+1>.adapter.
    wi.weight` …); Houlsby form: inside the feed-forward sublayer (`<block>.layer.<ff>.adapter.down.weight` …)."""
    if not cfg.adapter_dim:
        return {}
    sublayer = ff_sublayer + 1 if cfg.adapter_form == "official" else ff_sublayer
    return {f"{hf_block}.{sublayer}.adapter.{p}": f"{native_layer}.adapter.{p}" for p in _ADAPTER[cfg.adapter_form]}


def ignored_keys(cfg: T5Config) -> set[str]:
    """HF keys that carry no weights of their own here (copies of tied tensors, unused biases)."""
    keys = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
            # HF's EncDecAttention of block 0 may hold a relative bias; T5 uses none in cross-attention.
            "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"}
    if cfg.tie_word_embeddings:
        keys.add("lm_head.weight")
    return keys


def _untie_if_needed(cfg: T5Config, checkpoint: dict[str, torch.Tensor]) -> T5Config:
    """A config marked tied whose checkpoint holds a distinct lm_head is untied (as transformers does)."""
    head = checkpoint.get("lm_head.weight")
    shared = checkpoint.get("shared.weight")
    if cfg.tie_word_embeddings and head is not None and shared is not None and not torch.equal(head, shared):
        return replace(cfg, tie_word_embeddings=False)
    return cfg


def native_state_dict(cfg: T5Config, checkpoint: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Map HF keys to native names; every key must be mapped or ignored, every parameter filled."""
    mapping, ignored = key_map(cfg), ignored_keys(cfg)
    unknown = sorted(k for k in checkpoint if k not in mapping and k not in ignored)
    check_keys(where, unknown, sorted(k for k in mapping if k not in checkpoint))
    return {mapping[k]: v for k, v in checkpoint.items() if k in mapping}


def build(cfg: T5Config, state: dict[str, torch.Tensor], where: str, dtype: torch.dtype,
          device: str) -> T5:
    """Create the model on `meta` and assign the checkpoint tensors (shapes checked)."""
    with torch.device("meta"):
        model = T5(cfg)
    check_shapes(model, state, where)
    tensors = {n: t.to(device=device, dtype=dtype) for n, t in state.items()}
    if cfg.tie_word_embeddings:
        tensors["lm_head.weight"] = tensors["shared.weight"]
    model.load_state_dict(tensors, strict=True, assign=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.shared.weight
    return model.eval()


def shared_copies(cfg: T5Config) -> list[tuple[str, str]]:
    """(encoder HF key, decoder HF key) pairs that are one parameter of a shared encoder-decoder (none otherwise);
    read off the model's own parameter sharing, so the list cannot drift from `T5._share_stacks`."""
    if not cfg.shared_encoder_decoder:
        return []
    with torch.device("meta"):
        model = T5(cfg)
    hf_of = {native: hf for hf, native in key_map(cfg).items()}
    first: dict[int, str] = {}
    pairs = []
    for name, param in model.named_parameters(remove_duplicate=False):
        if name not in hf_of:  # the tied lm_head
            continue
        if id(param) in first:
            pairs.append((first[id(param)], hf_of[name]))
        else:
            first[id(param)] = hf_of[name]
    return pairs


def check_shared_copies(cfg: T5Config, checkpoint: dict[str, torch.Tensor], where: str) -> None:
    """A shared model's file holds each shared tensor twice (encoder and decoder keys, so transformers loads it as
    an ordinary T5 computing the same function); both copies must be equal, or the file is not a shared model."""
    for enc, dec in shared_copies(cfg):
        if not torch.equal(checkpoint[enc], checkpoint[dec]):
            raise T5evalError(f"{where}: config.json says shared_encoder_decoder but {enc} differs from {dec} "
                              "(weights changed outside t5eval?); drop shared_encoder_decoder from config.json "
                              "to load it as an ordinary T5")


def load_local(model_dir: Path, dtype: torch.dtype, device: str) -> LoadedModel[T5]:
    """Load an HF T5 directory (config.json + weights)."""
    require_dir(model_dir, "T5")
    cfg = T5Config.from_hf(model_dir / "config.json")
    files, checkpoint = read_checkpoint(model_dir)
    cfg = _untie_if_needed(cfg, checkpoint)
    state = native_state_dict(cfg, checkpoint, str(model_dir))
    check_shared_copies(cfg, checkpoint, str(model_dir))
    model = build(cfg, state, str(model_dir), dtype, device)
    return LoadedModel(model, cfg, str(model_dir), files_sha256(files))


def hf_state_dict(model: T5) -> dict[str, torch.Tensor]:
    """The model's weights under HF key names (tied head written once, as `shared.weight`); a shared
    encoder-decoder's shared tensors are written under both stacks' keys, as copies (safetensors stores no
    aliases), which is an ordinary HF T5 checkpoint computing the same function."""
    own = dict(model.named_parameters(remove_duplicate=False))
    copy = model.config.shared_encoder_decoder
    return {hf: own[nat].detach().clone() if copy else own[nat].detach().contiguous()
            for hf, nat in key_map(model.config).items()}


def save_model(model: T5, out_dir: str | Path) -> Path:
    """Write config.json + model.safetensors with HF key names (transformers and load_model read it)."""
    return write_checkpoint(out_dir, model.config.to_hf(), hf_state_dict(model))


def _init_(model: T5, seed: int) -> None:
    """HF-like init: N(0, 1) embeddings; attention/FF weights scaled by fan-in as in HF's T5."""
    cfg, gen = model.config, torch.Generator().manual_seed(seed)
    f, d = cfg.initializer_factor, cfg.d_model
    stds = {"shared.weight": f, "lm_head.weight": f, "q.weight": f * (d * cfg.d_kv) ** -0.5,
            "k.weight": f * d ** -0.5, "v.weight": f * d ** -0.5, "o.weight": f * cfg.inner_dim ** -0.5,
            "embedding.weight": f * d ** -0.5, "wi.weight": f * d ** -0.5, "wi_0.weight": f * d ** -0.5,
            "wi_1.weight": f * d ** -0.5, "wo.weight": f * cfg.d_ff ** -0.5}
    with torch.no_grad():
        for name, param in model.named_parameters():
            leaf = name if name in stds else ".".join(name.split(".")[-2:])
            if name.endswith("norm.weight"):
                param.fill_(f)
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * stds[leaf])


def random_model(cfg: T5Config, seed: int, dtype: torch.dtype, device: str, source: str) -> LoadedModel[T5]:
    """A model with fresh seeded weights; its hash is that of the serialized HF-keyed state dict."""
    model = T5(cfg)
    _init_(model, seed)
    digest = hashlib.sha256(save(hf_state_dict(model))).hexdigest()
    return LoadedModel(model.to(device=device, dtype=dtype).eval(), cfg, source, digest)
