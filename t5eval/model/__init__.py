"""Native PyTorch models (no transformers): one subpackage per family, sharing layers and decoding.

Layout: `layers` (shared T5 blocks), `segments` (per-example attention on packed rows), `checkpoint` (weight
files, hashes, hub, `LoadedModel`; family-agnostic), `load` (`load_model`/`save_model`: folder, hub id or preset, dispatching on config.json's `model_type`
through one `FAMILIES` table), `generate` (greedy and beam search over a cached step), `lm_generate`
(decoder-only greedy / top-k sampling over a cached step), `ensemble` (several T5s decoded as one), `cost`
(parameters and FLOPs per token), `quant` (optional int8), `heads`/`adapters`
(task heads and the paper's adapter layers), and one subpackage per family: `t5/`, `t5lm/` (the paper's LM
and prefix LM from T5's layers), `gpt2/`, `bert/` (config, network, HF key map).
Contract: imports only `t5eval.errors` and libraries; never `transformers` (checked by import-linter).
"""

from t5eval.model.bert.config import BERT_PRESETS, BertConfig
from t5eval.model.bert.network import Bert
from t5eval.model.checkpoint import LoadedModel, state_dict_sha256
from t5eval.model.generate import DecodeConfig, generate
from t5eval.model.gpt2.config import GPT2_PRESETS, GPT2Config
from t5eval.model.gpt2.network import GPT2
from t5eval.model.lm_generate import LMDecodeConfig
from t5eval.model.load import all_presets, load_model, save_model
from t5eval.model.t5.config import PRESETS, T5Config
from t5eval.model.t5.network import T5

__all__ = ["BERT_PRESETS", "GPT2", "GPT2_PRESETS", "PRESETS", "T5", "Bert", "BertConfig", "DecodeConfig",
           "GPT2Config", "LMDecodeConfig", "LoadedModel", "T5Config", "all_presets", "generate", "load_model",
           "save_model", "state_dict_sha256"]
