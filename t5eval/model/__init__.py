"""Native PyTorch T5 (no transformers): config, model, HF weight loading/saving, decoding."""

from t5eval.model.config import PRESETS, T5Config
from t5eval.model.generate import DecodeConfig, generate
from t5eval.model.t5 import T5
from t5eval.model.weights import LoadedModel, load_model, save_model

__all__ = ["PRESETS", "T5", "DecodeConfig", "LoadedModel", "T5Config", "generate", "load_model", "save_model"]
