"""Config of the T5 paper's decoder-only models: T5's shape fields plus `architecture` and a declared window."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.model.checkpoint import read_config_json
from t5eval.model.t5.config import T5Config

ARCHITECTURES = ("lm", "prefix-lm")
MODEL_TYPE = "t5lm"  # config.json's model_type (t5eval's own; transformers has no such model)


@dataclass(frozen=True)
class T5LMConfig(T5Config):
    """T5's fields (one stack: `num_layers`) + `architecture` ("lm" | "prefix-lm") + `max_len` (prompt +
    generated tokens; relative positions set no limit, the cache size does)."""

    architecture: str = "lm"
    max_len: int = 2048

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.architecture not in ARCHITECTURES:
            raise T5evalError(f"architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")

    @classmethod
    def preset(cls, name: str) -> T5LMConfig:
        if name not in T5LM_PRESETS:
            raise T5evalError(f"unknown preset {name!r}{did_you_mean(name, T5LM_PRESETS)}")
        return T5LM_PRESETS[name]

    @classmethod
    def from_hf(cls, source: str | Path | dict[str, Any]) -> T5LMConfig:
        where = str(source) if not isinstance(source, dict) else "config dict"
        data = read_config_json(Path(source)) if not isinstance(source, dict) else dict(source)
        if data.get("model_type") != MODEL_TYPE:
            raise T5evalError(f"{where}: model_type {data.get('model_type')!r} is not {MODEL_TYPE}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in data if k not in names and k != "model_type")
        if unknown:
            raise T5evalError(f"{where}: unknown field(s) {', '.join(unknown)} for a {MODEL_TYPE} config")
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_hf(self) -> dict[str, Any]:
        """config.json of a saved model (t5eval reads it; transformers has no decoder-only T5)."""
        return dataclasses.asdict(self) | {"model_type": MODEL_TYPE}


def _lm(architecture: str, d_model: int, d_ff: int, heads: int, d_kv: int, layers: int) -> T5LMConfig:
    return T5LMConfig(d_model=d_model, d_ff=d_ff, num_heads=heads, d_kv=d_kv, num_layers=layers,
                      num_decoder_layers=layers, architecture=architecture)


# One stack of the encoder's depth: the paper's LM and prefix LM have P parameters (Table 2), half of the
# encoder-decoder's 2P, and the same cost M since inputs and targets both go through the one stack.
T5LM_PRESETS: dict[str, T5LMConfig] = {
    "t5-lm-small": _lm("lm", 512, 2048, 8, 64, 6),
    "t5-prefix-lm-small": _lm("prefix-lm", 512, 2048, 8, 64, 6),
    "t5-lm-base": _lm("lm", 768, 3072, 12, 64, 12),
    "t5-prefix-lm-base": _lm("prefix-lm", 768, 3072, 12, 64, 12),
    "tiny-lm": _lm("lm", 64, 128, 4, 16, 2),
    "tiny-prefix-lm": _lm("prefix-lm", 64, 128, 4, 16, 2),
}
