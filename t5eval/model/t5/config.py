"""T5 configuration: HF `config.json` field names, official presets (T5_TASKS.md §8)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.model.checkpoint import config_fields, pick_preset

_REQUIRED = ("d_model", "d_kv", "d_ff", "num_layers", "num_heads", "vocab_size")
_ACTIVATIONS = ("relu", "gated-gelu")


@dataclass(frozen=True)
class T5Config:
    """Shape and variant of a T5 model; field names are those of HF's `config.json`.

    The variant comes from fields, never from a path: v1.0 is `feed_forward_proj="relu"` with the
    lm head tied to the embedding and the decoder output rescaled by `d_model**-0.5`; v1.1 is
    `"gated-gelu"`, untied, no rescale.
    """

    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int = 6
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"
    tie_word_embeddings: bool = True
    scale_decoder_outputs: bool = True
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0
    adapter_dim: int = 0  # t5eval's: adapter layers of this inner size after every feed-forward (--transfer adapters:D)
    adapter_form: str = "official"  # official (task_adapter.gin) | houlsby (t5eval.model.adapters); with adapter_dim
    # t5eval's: the paper's "encoder-decoder, shared" (Table 2; bi_v1_shared.gin): encoder block i uses decoder
    # block i's self-attention, feed-forward and their norms, and the stacks share the final norm and the
    # relative-position bias table; only the decoder's cross-attention (and its norm) is its own.
    shared_encoder_decoder: bool = False

    def __post_init__(self) -> None:
        if self.adapter_form not in ("official", "houlsby"):
            raise T5evalError(f"adapter_form {self.adapter_form!r} is not one of official, houlsby")
        if self.feed_forward_proj not in _ACTIVATIONS:
            raise T5evalError(
                f"feed_forward_proj {self.feed_forward_proj!r} is not supported; use one of {_ACTIVATIONS}"
            )
        if self.shared_encoder_decoder and self.num_layers != self.num_decoder_layers:
            raise T5evalError(f"shared_encoder_decoder needs as many encoder as decoder layers, not "
                              f"{self.num_layers} and {self.num_decoder_layers}; set both to the same depth")

    @property
    def variant(self) -> str:
        """'v1.1' for gated-GELU models, 'v1.0' otherwise."""
        return "v1.1" if self.feed_forward_proj == "gated-gelu" else "v1.0"

    @property
    def inner_dim(self) -> int:
        """num_heads * d_kv (differs from d_model for t5-3b/11b)."""
        return self.num_heads * self.d_kv

    @classmethod
    def preset(cls, name: str) -> T5Config:
        """Official shapes by name ("t5-small", "t5-v1_1-base", "tiny", ...)."""
        return pick_preset(PRESETS, name, "T5")

    @classmethod
    def from_hf(cls, source: str | Path | dict[str, Any]) -> T5Config:
        """Read an HF T5 `config.json` (path or dict); other architectures raise a one-line error."""
        where, data = config_fields(source, (None, "t5"), "T5", _REQUIRED)
        act = data.get("feed_forward_proj", "relu")
        if act not in _ACTIVATIONS:
            raise T5evalError(f"{where}: feed_forward_proj {act!r} is not supported; use relu or gated-gelu")
        tied = bool(data.get("tie_word_embeddings", True))
        # transformers 5.x writes tie_word_embeddings=True for every T5 and records the v1.0
        # rescale separately as `scale_decoder_outputs`; older configs use tie_word_embeddings for both.
        scale = bool(data.get("scale_decoder_outputs", tied))
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if data.get("adapter_dim") and "adapter_form" not in data:  # written before the official form existed
            kwargs["adapter_form"] = "houlsby"
        kwargs.update(tie_word_embeddings=tied, scale_decoder_outputs=scale)
        kwargs["num_decoder_layers"] = data.get("num_decoder_layers") or data["num_layers"]
        if kwargs.get("decoder_start_token_id") is None:
            kwargs["decoder_start_token_id"] = 0
        for key in ("pad_token_id", "eos_token_id"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = kwargs[key][0]
        return cls(**kwargs)

    def to_hf(self) -> dict[str, Any]:
        """A `config.json` dict that transformers' T5ForConditionalGeneration loads."""
        out: dict[str, Any] = dataclasses.asdict(self)
        if not self.adapter_dim:  # written only by adapter fine-tuning (transformers ignores the fields and keys)
            del out["adapter_dim"], out["adapter_form"]
        if not self.shared_encoder_decoder:  # written only for shared models (transformers ignores the field)
            del out["shared_encoder_decoder"]
        out.update(
            architectures=["T5ForConditionalGeneration"], model_type="t5", is_encoder_decoder=True,
            dense_act_fn="gelu_new" if self.variant == "v1.1" else "relu",
            is_gated_act=self.variant == "v1.1",
        )
        return out


def _v10(d_model: int, d_ff: int, heads: int, d_kv: int, layers: int) -> T5Config:
    return T5Config(d_model=d_model, d_ff=d_ff, num_heads=heads, d_kv=d_kv, num_layers=layers,
                    num_decoder_layers=layers)


def _v11(d_model: int, d_ff: int, heads: int, layers: int) -> T5Config:
    # v1.1 (t5.1.1.*.gin): gated-GELU, untied softmax, no rescale, dropout 0 in pre-training.
    return T5Config(d_model=d_model, d_ff=d_ff, num_heads=heads, d_kv=64, num_layers=layers,
                    num_decoder_layers=layers, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    scale_decoder_outputs=False, dropout_rate=0.0)


PRESETS: dict[str, T5Config] = {
    "t5-small": _v10(512, 2048, 8, 64, 6),
    "t5-base": _v10(768, 3072, 12, 64, 12),
    "t5-large": _v10(1024, 4096, 16, 64, 24),
    "t5-3b": _v10(1024, 16384, 32, 128, 24),
    "t5-11b": _v10(1024, 65536, 128, 128, 24),
    "t5-v1_1-small": _v11(512, 1024, 6, 8),
    "t5-v1_1-base": _v11(768, 2048, 12, 12),
    "t5-v1_1-large": _v11(1024, 2816, 16, 24),
    "t5-v1_1-xl": _v11(2048, 5120, 32, 24),
    "t5-v1_1-xxl": _v11(4096, 10240, 64, 24),
    "tiny": _v10(64, 128, 4, 16, 2),
    "tiny-v1_1": dataclasses.replace(_v11(64, 128, 4, 2), d_kv=16),
}


def _shared(cfg: T5Config) -> T5Config:
    """Table 2's "Encoder-decoder, shared": the same depth, encoder and decoder share their blocks (P params, M)."""
    return dataclasses.replace(cfg, shared_encoder_decoder=True)


def _half(cfg: T5Config) -> T5Config:
    """Table 2's "Encoder-decoder, 6 layers": half the blocks in each stack (P parameters, M/2 cost)."""
    return dataclasses.replace(cfg, num_layers=cfg.num_layers // 2, num_decoder_layers=cfg.num_decoder_layers // 2)


# The paper's architecture variants (§3.2.2) of the baseline shapes; decoder-only ones are the t5lm presets.
for _name in ("t5-small", "t5-base", "tiny"):
    PRESETS[f"{_name}-shared"] = _shared(PRESETS[_name])
    PRESETS[f"{_name}-half"] = _half(PRESETS[_name])
# Table 13's larger models: bi_v1_2x.gin / bi_v1_4x.gin (bi_bert_large widths: d_model 1024, d_ff 4096, 16 heads
# of 64; 16 / 32 layers per stack); at tiny scale, 2x / 4x the depth (2x / 4x the blocks' parameters and M).
PRESETS["t5-base-2x"] = _v10(1024, 4096, 16, 64, 16)
PRESETS["t5-base-4x"] = _v10(1024, 4096, 16, 64, 32)
PRESETS["tiny-2x"] = _v10(64, 128, 4, 16, 4)
PRESETS["tiny-4x"] = _v10(64, 128, 4, 16, 8)
