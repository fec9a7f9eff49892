"""HF BERT checkpoint <-> native Bert: one total key map, loading and saving (HF key names).

Accepted layouts: BertModel (`embeddings.…`) and every BertFor* model (`bert.embeddings.…`); the old
TF-converted names `LayerNorm.gamma/beta` read as `weight/bias`. Keys that carry nothing the encoder
uses are ignored by an explicit list (`IGNORED_KEYS`, `IGNORED_PREFIXES`); anything else unknown,
anything missing, or a wrong shape is a one-line error.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import save

from t5eval.errors import T5evalError
from t5eval.model.bert.config import BertConfig
from t5eval.model.bert.init import truncated_normal_
from t5eval.model.bert.network import Bert
from t5eval.model.checkpoint import (
    LoadedModel,
    files_sha256,
    first_keys,
    read_weights,
    weight_files,
    write_checkpoint,
)

# Buffers and heads of BertFor* models that the encoder does not use (task heads are trained here anew).
IGNORED_KEYS = frozenset({
    "embeddings.position_ids",  # a buffer (0..max_len-1) older transformers saved
    "cls.predictions.bias", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
    "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
    "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
    "cls.predictions.transform.LayerNorm.gamma", "cls.predictions.transform.LayerNorm.beta",
    "cls.seq_relationship.weight", "cls.seq_relationship.bias",  # NSP head
    "classifier.weight", "classifier.bias",  # BertForSequenceClassification / MultipleChoice / TokenClassification
    "qa_outputs.weight", "qa_outputs.bias",  # BertForQuestionAnswering
})
POOLER_KEYS = ("pooler.dense.weight", "pooler.dense.bias")
_LEGACY = {"LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"}


def key_map(cfg: BertConfig) -> dict[str, str]:
    """Every HF BertModel parameter key (no `bert.` prefix) -> its native parameter name."""
    out: dict[str, str] = {}
    for hf, nat in (("word_embeddings", "word"), ("position_embeddings", "position"),
                    ("token_type_embeddings", "token_type")):
        out[f"embeddings.{hf}.weight"] = f"embeddings.{nat}.weight"
    for part in ("weight", "bias"):
        out[f"embeddings.LayerNorm.{part}"] = f"embeddings.norm.{part}"
        out[f"pooler.dense.{part}"] = f"pooler.{part}"
        for i in range(cfg.num_hidden_layers):
            hf, nat = f"encoder.layer.{i}", f"layers.{i}"
            out |= {f"{hf}.attention.self.{p}.{part}": f"{nat}.attn.{p}.{part}" for p in ("query", "key", "value")}
            out |= {f"{hf}.attention.output.dense.{part}": f"{nat}.attn.out.{part}",
                    f"{hf}.attention.output.LayerNorm.{part}": f"{nat}.attn.norm.{part}",
                    f"{hf}.intermediate.dense.{part}": f"{nat}.ff_in.{part}",
                    f"{hf}.output.dense.{part}": f"{nat}.ff_out.{part}",
                    f"{hf}.output.LayerNorm.{part}": f"{nat}.ff_norm.{part}"}
    return out


def canonical_key(key: str) -> str:
    """A checkpoint key as BertModel names it: no `bert.` prefix, `LayerNorm.gamma/beta` -> `weight/bias`."""
    key = key.removeprefix("bert.")
    for old, new in _LEGACY.items():
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


def native_state_dict(cfg: BertConfig, checkpoint: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Map HF keys to native names; every key must be mapped or ignored, every parameter filled."""
    mapping = key_map(cfg)
    keys = {canonical_key(k): k for k in checkpoint}
    unknown = sorted(keys[k] for k in keys if k not in mapping and k not in IGNORED_KEYS)
    span_only = "qa_outputs.weight" in keys  # BertForQuestionAnswering saves no pooler (the span head needs none)
    missing = sorted(k for k in mapping if k not in keys and not (span_only and k in POOLER_KEYS))
    if unknown or missing:
        parts = [f"{label} keys {first_keys(found)}" for label, found in (("unexpected", unknown), ("missing", missing))
                 if found]
        raise T5evalError(f"{where}: BERT checkpoint does not fit its config.json: {'; '.join(parts)}")
    return {mapping[k]: checkpoint[orig] for k, orig in keys.items() if k in mapping}


def build(cfg: BertConfig, state: dict[str, torch.Tensor], where: str, dtype: torch.dtype, device: str) -> Bert:
    """Create the model on `meta` and assign the checkpoint tensors (shapes checked first)."""
    with torch.device("meta"):
        model = Bert(cfg)
    if "pooler.weight" not in state:  # a BertForQuestionAnswering checkpoint: zeros, and no classifier may read it
        state = state | {"pooler.weight": torch.zeros(cfg.hidden_size, cfg.hidden_size),
                         "pooler.bias": torch.zeros(cfg.hidden_size)}
        model.has_pooler = False
    expected = {name: p.shape for name, p in model.named_parameters()}
    bad = [f"{n} {tuple(state[n].shape)} != {tuple(s)}" for n, s in expected.items() if state[n].shape != s]
    if bad:
        raise T5evalError(f"{where}: weight shapes do not fit config.json: {'; '.join(bad[:4])}")
    model.load_state_dict({n: t.to(device=device, dtype=dtype) for n, t in state.items()}, strict=True, assign=True)
    return model.eval()


def load_local(model_dir: Path, dtype: torch.dtype, device: str) -> LoadedModel[Bert]:
    """Load an HF BERT directory (config.json + weights, any BertModel/BertFor* layout)."""
    cfg = BertConfig.from_hf(model_dir / "config.json")
    files = weight_files(model_dir)
    checkpoint: dict[str, torch.Tensor] = {}
    for path in files:
        checkpoint.update(read_weights(path))
    model = build(cfg, native_state_dict(cfg, checkpoint, str(model_dir)), str(model_dir), dtype, device)
    return LoadedModel(model, cfg, str(model_dir), files_sha256(files))


def read_qa_outputs(model_dir: Path) -> dict[str, torch.Tensor] | None:
    """A BertForQuestionAnswering checkpoint's span head, {"weight": (2, D), "bias": (2,)}, else None."""
    found: dict[str, torch.Tensor] = {}
    for path in weight_files(model_dir):
        found |= {k.removeprefix("qa_outputs."): v for k, v in read_weights(path).items() if k.startswith("qa_outputs.")}
    return found if set(found) == {"weight", "bias"} else None


def hf_state_dict(model: Bert) -> dict[str, torch.Tensor]:
    """The model's weights under BertModel's HF key names."""
    own = dict(model.named_parameters())
    return {hf: own[nat].detach().contiguous() for hf, nat in key_map(model.config).items()}


def save_bert(model: Bert, out_dir: str | Path) -> Path:
    """Write config.json + model.safetensors as a BertModel (transformers and load_model read it)."""
    return write_checkpoint(out_dir, model.config.to_hf(), hf_state_dict(model))


def init_weights_(model: Bert, seed: int) -> None:
    """BERT's init (modeling.py `create_initializer`): a normal of stddev initializer_range truncated at 2 stddev
    for dense and embedding weights, zero biases, LayerNorm 1/0."""
    gen, std = torch.Generator().manual_seed(seed), model.config.initializer_range
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name.split(".")[-2]:
                param.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                param.zero_()
            else:
                truncated_normal_(param, std, gen)


def random_bert(cfg: BertConfig, seed: int, dtype: torch.dtype, device: str, source: str) -> LoadedModel[Bert]:
    """A BERT with fresh seeded weights; its hash is that of the serialized HF-keyed state dict."""
    model = Bert(cfg)
    init_weights_(model, seed)
    digest = hashlib.sha256(save(hf_state_dict(model))).hexdigest()
    return LoadedModel(model.to(device=device, dtype=dtype).eval(), cfg, source, digest)
