"""Native PyTorch models (no transformers): one subpackage per family, sharing layers and decoding.

Layout: `layers` (shared T5 blocks), `checkpoint` (weight files, hashes, hub, `LoadedModel`;
family-agnostic), `load` (`load_model`/`save_model`: folder, hub id or preset, dispatching on
config.json's `model_type`), `generate` (greedy and beam search over a cached step), `quant` (optional
int8), `t5/` (config, network, HF key map) and `bert/` (encoder-only: config, network, HF key map).
Contract: imports only `t5eval.errors` and libraries; never `transformers` (checked by import-linter).
"""

from t5eval.model.bert.config import BERT_PRESETS, BertConfig
from t5eval.model.bert.network import Bert
from t5eval.model.checkpoint import LoadedModel, state_dict_sha256
from t5eval.model.generate import DecodeConfig, generate
from t5eval.model.load import load_model, save_model
from t5eval.model.t5.config import PRESETS, T5Config
from t5eval.model.t5.network import T5

__all__ = ["BERT_PRESETS", "PRESETS", "T5", "Bert", "BertConfig", "DecodeConfig", "LoadedModel", "T5Config",
           "generate", "load_model", "save_model", "state_dict_sha256"]
