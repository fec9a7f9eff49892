"""Native PyTorch models (no transformers): one subpackage per family, sharing layers and decoding.

Layout: `layers` (shared blocks), `checkpoint` (weight files, hashes, hub; family-agnostic),
`load` (`load_model`: folder, hub id or preset), `generate` (greedy and beam search over a cached
step), `lm_generate` (decoder-only greedy / top-k sampling over a cached step), `quant` (optional int8), and one
subpackage per family: `t5/`, `gpt2/` (config, network, HF key map). Contract: imports only
`t5eval.errors` and libraries; never `transformers` (checked by import-linter).
"""

from t5eval.model.checkpoint import LoadedModel, state_dict_sha256
from t5eval.model.generate import DecodeConfig, generate
from t5eval.model.gpt2.config import GPT2_PRESETS, GPT2Config
from t5eval.model.gpt2.network import GPT2
from t5eval.model.lm_generate import LMDecodeConfig
from t5eval.model.load import all_presets, load_model, save_model
from t5eval.model.t5.config import PRESETS, T5Config
from t5eval.model.t5.network import T5

__all__ = ["GPT2", "GPT2_PRESETS", "PRESETS", "T5", "DecodeConfig", "GPT2Config", "LMDecodeConfig", "LoadedModel",
           "T5Config", "all_presets", "generate", "load_model", "save_model", "state_dict_sha256"]
