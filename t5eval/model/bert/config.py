"""BERT configuration: HF `config.json` field names and presets (bert-base, bert-large, tiny-bert)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.model.checkpoint import config_fields, pick_preset

_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
_ACTIVATIONS = ("gelu",)  # the erf form, as BERT's TF code and HF's "gelu"


@dataclass(frozen=True)
class BertConfig:
    """Shape of a BERT encoder; field names are those of HF's `config.json` (model_type "bert").

    Post-LayerNorm blocks, learned absolute positions, token-type (segment) embeddings, GELU (erf),
    a tanh pooler over the first ([CLS]) position.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        if self.hidden_act not in _ACTIVATIONS:
            raise T5evalError(f"hidden_act {self.hidden_act!r} is not supported for BERT; use 'gelu' (erf)")
        if self.hidden_size % self.num_attention_heads:
            raise T5evalError(f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                              f"{self.num_attention_heads}; fix config.json")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def preset(cls, name: str) -> BertConfig:
        """Published shapes by name ("bert-base", "bert-large", "tiny-bert")."""
        return pick_preset(BERT_PRESETS, name, "BERT")

    @classmethod
    def from_hf(cls, source: str | Path | dict[str, Any]) -> BertConfig:
        """Read an HF BERT `config.json` (path or dict); other architectures raise a one-line error."""
        where, data = config_fields(source, ("bert",), "BERT", _REQUIRED)
        act = data.get("hidden_act", "gelu")
        if act not in _ACTIVATIONS:
            raise T5evalError(f"{where}: hidden_act {act!r} is not supported; BERT checkpoints use 'gelu'")
        ptype = data.get("position_embedding_type", "absolute")
        if ptype != "absolute":
            raise T5evalError(f"{where}: position_embedding_type {ptype!r} is not supported; use 'absolute'")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if kwargs.get("pad_token_id") is None:
            kwargs["pad_token_id"] = 0
        return cls(**kwargs)

    def to_hf(self) -> dict[str, Any]:
        """A `config.json` dict that transformers' BertModel loads."""
        out: dict[str, Any] = dataclasses.asdict(self)
        out.update(architectures=["BertModel"], model_type="bert", position_embedding_type="absolute")
        return out


BERT_PRESETS: dict[str, BertConfig] = {
    "bert-base": BertConfig(),
    "bert-large": BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    # tests and CPU demos: 2 layers of width 64, BERT's uncased vocabulary (30,522 entries, the default vocab.txt)
    "tiny-bert": BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=128, max_position_embeddings=512),
}
