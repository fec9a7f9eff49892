"""Native BERT vs transformers' BertModel: parity, every checkpoint layout, save round trip, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from t5eval.errors import T5evalError
from t5eval.model import Bert, BertConfig, load_model, save_model
from t5eval.model.bert.weights import key_map

from .conftest import save_hf_bert

torch.set_num_threads(1)


def _batch(vocab: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two rows of different length: ids (2, 20), mask with 6 pads in row 1, segments 0…0 1…1."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (2, 20), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 14:] = 0
    types = torch.zeros_like(ids)
    types[:, 9:] = 1
    return ids, mask, types


def _rel(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


def _reference(model_dir: Path, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor):
    import transformers

    ref = transformers.BertModel.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return ref(input_ids=ids, attention_mask=mask, token_type_ids=types)


def test_hidden_states_and_pooled_output_match_transformers(bert_dir: Path) -> None:
    loaded = load_model(bert_dir)
    assert isinstance(loaded.model, Bert) and loaded.config.hidden_size == 32
    ids, mask, types = _batch(120)
    with torch.inference_mode():
        hidden, pooled = loaded.model(ids, mask, types)
    out = _reference(bert_dir, ids, mask, types)
    keep = mask.bool()[..., None]
    assert _rel(hidden * keep, out.last_hidden_state * keep) <= 1e-4
    assert _rel(pooled, out.pooler_output) <= 1e-4


@pytest.mark.parametrize("kind", ["BertForSequenceClassification", "BertForPreTraining", "BertForMaskedLM"])
def test_bertfor_checkpoints_load_their_encoder(kind: str, tmp_path: Path) -> None:
    model_dir = save_hf_bert(tmp_path / kind, kind, seed=3)
    keys = set(load_file(str(model_dir / "model.safetensors")))
    if kind == "BertForMaskedLM" and "bert.pooler.dense.weight" not in keys:  # transformers drops the pooler there
        with pytest.raises(T5evalError, match=r"missing keys pooler\.dense"):
            load_model(model_dir)
        return
    assert any(k.startswith("bert.") for k in keys)
    loaded = load_model(model_dir)
    ids, mask, types = _batch(120, seed=4)
    with torch.inference_mode():
        hidden, _ = loaded.model(ids, mask, types)
    out = _reference(model_dir, ids, mask, types)
    keep = mask.bool()[..., None]
    assert _rel(hidden * keep, out.last_hidden_state * keep) <= 1e-4


def test_legacy_gamma_beta_names_and_position_ids_buffer_load(bert_dir: Path, tmp_path: Path) -> None:
    weights = load_file(str(bert_dir / "model.safetensors"))
    renamed = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in weights.items()}
    renamed["bert.embeddings.position_ids"] = torch.arange(64)[None]
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    shutil.copy(bert_dir / "config.json", legacy / "config.json")
    save_file(renamed, str(legacy / "model.safetensors"))
    a, b = load_model(bert_dir).model.state_dict(), load_model(legacy).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _edited(bert_dir: Path, tmp_path: Path, edit) -> Path:
    out = tmp_path / "edited"
    out.mkdir(parents=True)
    shutil.copy(bert_dir / "config.json", out / "config.json")
    weights = load_file(str(bert_dir / "model.safetensors"))
    edit(weights)
    save_file(weights, str(out / "model.safetensors"))
    return out


def test_unknown_missing_and_misshaped_keys_are_one_line_errors(bert_dir: Path, tmp_path: Path) -> None:
    bad = _edited(bert_dir, tmp_path / "u", lambda w: w.update({"encoder.layer.0.extra.weight": torch.zeros(2)}))
    with pytest.raises(T5evalError, match=r"unexpected keys encoder\.layer\.0\.extra\.weight") as err:
        load_model(bad)
    assert "\n" not in str(err.value)
    bad = _edited(bert_dir, tmp_path / "m", lambda w: w.pop("encoder.layer.1.output.dense.bias"))
    with pytest.raises(T5evalError, match=r"missing keys encoder\.layer\.1\.output\.dense\.bias"):
        load_model(bad)
    bad = _edited(bert_dir, tmp_path / "s", lambda w: w.update({"pooler.dense.bias": torch.zeros(31)}))
    with pytest.raises(T5evalError, match=r"pooler\.bias \(31,\) != \(32,\)"):
        load_model(bad)


def test_save_model_is_read_by_transformers_and_back(tmp_path: Path) -> None:
    import transformers

    loaded = load_model("tiny-bert", init="random", seed=5)
    native = loaded.model
    out = save_model(native, tmp_path / "saved")
    ref = transformers.BertModel.from_pretrained(out).eval()
    ids, mask, types = _batch(loaded.config.vocab_size, seed=6)
    with torch.inference_mode():
        hidden, pooled = native(ids, mask, types)
        theirs = ref(input_ids=ids, attention_mask=mask, token_type_ids=types)
    keep = mask.bool()[..., None]
    assert _rel(hidden * keep, theirs.last_hidden_state * keep) <= 1e-4
    assert _rel(pooled, theirs.pooler_output) <= 1e-4
    again = load_model(out).model.state_dict()
    assert all(torch.equal(again[k], v) for k, v in native.state_dict().items())


def test_key_map_is_total_and_presets_have_the_published_shapes(bert_dir: Path) -> None:
    cfg = BertConfig.from_hf(bert_dir)
    native = {n for n, _ in Bert(cfg).named_parameters()}
    assert set(key_map(cfg).values()) == native and len(key_map(cfg)) == len(native)
    base, large = BertConfig.preset("bert-base"), BertConfig.preset("bert-large")
    # BERT paper §3: BASE L=12 H=768 A=12, LARGE L=24 H=1024 A=16; feed-forward 4H; WordPiece 30,522 (uncased)
    assert (base.num_hidden_layers, base.hidden_size, base.num_attention_heads, base.intermediate_size) == (12, 768, 12, 3072)
    assert (large.num_hidden_layers, large.hidden_size, large.num_attention_heads, large.intermediate_size) == (
        24, 1024, 16, 4096)
    with pytest.raises(T5evalError, match="did you mean bert-base"):
        BertConfig.preset("bert-bsae")


def test_config_refuses_other_activations_and_position_types(bert_dir: Path) -> None:
    data = json.loads((bert_dir / "config.json").read_text())
    with pytest.raises(T5evalError, match="hidden_act 'relu'"):
        BertConfig.from_hf(data | {"hidden_act": "relu"})
    with pytest.raises(T5evalError, match="position_embedding_type 'relative_key'"):
        BertConfig.from_hf(data | {"position_embedding_type": "relative_key"})
