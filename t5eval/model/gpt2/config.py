"""GPT-2 configuration: HF `config.json` field names (`model_type: gpt2`), official presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.model.checkpoint import config_fields, pick_preset

_REQUIRED = ("n_embd", "n_layer", "n_head", "vocab_size")
_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")  # both are GELU's tanh form


@dataclass(frozen=True)
class GPT2Config:
    """Shape of a GPT-2 model; field names are those of HF's GPT2Config `config.json`."""

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # None: 4 * n_embd
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    bos_token_id: int = 50256
    eos_token_id: int = 50256

    def __post_init__(self) -> None:
        if self.activation_function not in _ACTIVATIONS:
            raise T5evalError(f"activation_function {self.activation_function!r} is not supported; "
                              f"use one of {_ACTIVATIONS}")
        if self.n_embd % self.n_head:
            raise T5evalError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")

    @property
    def d_ff(self) -> int:
        """Feed-forward width (n_inner, else 4 * n_embd)."""
        return self.n_inner or 4 * self.n_embd

    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head

    @property
    def max_len(self) -> int:
        """The context window in tokens (prompt + generated)."""
        return self.n_positions

    @classmethod
    def preset(cls, name: str) -> GPT2Config:
        """Official shapes by name ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "tiny-gpt2")."""
        return pick_preset(GPT2_PRESETS, name, "GPT-2")

    @classmethod
    def from_hf(cls, source: str | Path | dict[str, Any]) -> GPT2Config:
        """Read an HF GPT-2 `config.json` (path or dict); other architectures raise a one-line error."""
        where, data = config_fields(source, ("gpt2",), "GPT-2", _REQUIRED)
        unsupported = {k: data[k] for k in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn")
                       if data.get(k)} | ({"scale_attn_weights": False} if data.get("scale_attn_weights") is False
                                          else {})
        if unsupported:
            raise T5evalError(f"{where}: GPT-2 option(s) {unsupported} are not supported; "
                              "only the released GPT-2 attention is")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for key in ("bos_token_id", "eos_token_id"):
            if kwargs.get(key) is None:
                kwargs.pop(key, None)
        return cls(**kwargs)

    def to_hf(self) -> dict[str, Any]:
        """A `config.json` dict that transformers' GPT2LMHeadModel loads."""
        out: dict[str, Any] = dataclasses.asdict(self)
        out.update(architectures=["GPT2LMHeadModel"], model_type="gpt2", tie_word_embeddings=True,
                   scale_attn_weights=True, n_ctx=self.n_positions)
        return out


def _shape(n_embd: int, n_layer: int, n_head: int) -> GPT2Config:
    return GPT2Config(n_embd=n_embd, n_layer=n_layer, n_head=n_head)


GPT2_PRESETS: dict[str, GPT2Config] = {
    "gpt2": _shape(768, 12, 12),  # 124M
    "gpt2-medium": _shape(1024, 24, 16),  # 355M
    "gpt2-large": _shape(1280, 36, 20),  # 774M
    "gpt2-xl": _shape(1600, 48, 25),  # 1.5B
    "tiny-gpt2": _shape(64, 2, 4),  # tests: the real 50,257-token vocabulary, 2 layers, d 64
}
