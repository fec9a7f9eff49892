"""GPT-2 key map: Conv1D transposition, hub-style files, one-line errors, save_model read by transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from t5eval.errors import T5evalError
from t5eval.model import GPT2, load_model, save_model

from .conftest import TINY_GPT2


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _rewrite(folder: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    weights = load_file(str(folder / "model.safetensors"))
    edit(weights)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def test_conv1d_weights_are_transposed(gpt2_dir: Path) -> None:
    """HF's c_attn weight is (in=64, out=192); the native q/k/v Linear holds its transpose."""
    file = load_file(str(gpt2_dir / "model.safetensors"))
    c_attn = file["transformer.h.0.attn.c_attn.weight"]
    assert tuple(c_attn.shape) == (64, 192)
    model = load_model(gpt2_dir).model
    assert torch.equal(model.blocks[0].attn.qkv.weight, c_attn.t())
    assert torch.equal(model.blocks[1].mlp.fc.weight, file["transformer.h.1.mlp.c_fc.weight"].t())
    assert model.lm_head.weight is model.wte.weight


def test_hub_layout_without_prefix_and_with_mask_buffers(gpt2_dir: Path, tmp_path: Path) -> None:
    """The hub's `gpt2` files: GPT2Model keys (no `transformer.`), `attn.bias`/`attn.masked_bias` buffers."""
    folder = _copy(gpt2_dir, tmp_path / "hub")

    def to_hub(weights: dict[str, torch.Tensor]) -> None:
        for key in list(weights):
            weights[key.removeprefix("transformer.")] = weights.pop(key)
        for i in range(TINY_GPT2["n_layer"]):
            weights[f"h.{i}.attn.bias"] = torch.ones(1, 1, 1024, 1024).tril()
            weights[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)

    _rewrite(folder, to_hub)
    ids = torch.tensor([[464, 3290, 318, 257]])
    with torch.no_grad():
        assert torch.equal(load_model(folder).model(ids), load_model(gpt2_dir).model(ids))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda w: w.update({"transformer.h.0.attn.extra": torch.zeros(1)}), "unexpected keys transformer.h.0.attn"),
    (lambda w: w.pop("transformer.h.1.mlp.c_proj.bias"), "missing keys h.1.mlp.c_proj.bias"),
    (lambda w: w.update({"transformer.wpe.weight": torch.zeros(512, 64)}), "wpe.weight (512, 64) != (1024, 64)"),
    (lambda w: w.update({"lm_head.weight": torch.zeros(50257, 64)}), "lm_head.weight differs from wte.weight"),
])
def test_bad_checkpoints_are_one_line_errors(gpt2_dir: Path, tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = _rewrite(_copy(gpt2_dir, tmp_path / "bad"), edit)
    with pytest.raises(T5evalError) as err:
        load_model(folder)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unsupported_model_type_is_refused(gpt2_dir: Path, tmp_path: Path) -> None:
    folder = _copy(gpt2_dir, tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": "gpt_neo"}))
    with pytest.raises(T5evalError, match="model_type 'gpt_neo' is not supported"):
        load_model(folder)


def test_saved_model_loads_in_transformers(gpt2_dir: Path, tmp_path: Path) -> None:
    """save_model of a preset with fresh weights -> GPT2LMHeadModel gives the same logits, and back."""
    import transformers

    loaded = load_model("tiny-gpt2", init="random", seed=3)
    out = save_model(loaded.model, tmp_path / "saved")
    reference = transformers.GPT2LMHeadModel.from_pretrained(out, dtype=torch.float32).eval()
    ids = torch.tensor([[464, 3290, 318, 257, 1332, 13]])
    with torch.no_grad():
        ours = loaded.model(ids)
        assert (reference(input_ids=ids).logits - ours).abs().max().item() < 1e-5
        again = load_model(out)
        assert isinstance(again.model, GPT2)
        assert torch.equal(again.model(ids), ours)
