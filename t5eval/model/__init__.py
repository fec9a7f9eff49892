"""Native PyTorch models (no transformers): one subpackage per family, sharing layers and decoding.

Layout: `layers` (shared blocks), `checkpoint` (weight files, hashes, hub; family-agnostic),
`load` (`load_model`: folder, hub id or preset), `generate` (greedy and beam search over a cached
step), `quant` (optional int8), and `t5/` (config, network, HF key map). Contract: imports only
`t5eval.errors` and libraries; never `transformers` (checked by import-linter).
"""

from t5eval.model.checkpoint import state_dict_sha256
from t5eval.model.generate import DecodeConfig, generate
from t5eval.model.load import load_model
from t5eval.model.t5.config import PRESETS, T5Config
from t5eval.model.t5.network import T5
from t5eval.model.t5.weights import LoadedModel, save_model

__all__ = ["PRESETS", "T5", "DecodeConfig", "LoadedModel", "T5Config", "generate", "load_model", "save_model",
           "state_dict_sha256"]
