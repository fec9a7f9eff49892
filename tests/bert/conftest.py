"""Random-weight transformers BERT models saved to tmp dirs (session-scoped)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TINY_BERT = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=64, type_vocab_size=2)


def save_hf_bert(out: Path, kind: str = "BertModel", seed: int = 0, **overrides: object) -> Path:
    """A seeded random transformers `kind` (BertModel, BertForSequenceClassification, ...) saved to `out`."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.BertConfig(**{**TINY_BERT, **overrides})
    model = getattr(transformers, kind)(cfg)
    with torch.no_grad():  # non-trivial LayerNorm and bias values, so a swapped key would show
        for name, param in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_hf_bert(tmp_path_factory.mktemp("bert") / "tiny")
