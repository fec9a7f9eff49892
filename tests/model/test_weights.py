"""Loading and saving HF checkpoints: formats, round trip, hashes, and one-line errors on bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from t5eval.errors import T5evalError
from t5eval.model import T5Config, load_model, save_model
from t5eval.model.t5.weights import key_map

from .conftest import hf_model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_keys_are_all_mapped_and_every_parameter_filled(tiny_dir: Path, tiny_v11_dir: Path) -> None:
    for model_dir in (tiny_dir, tiny_v11_dir):
        keys = set(load_file(str(model_dir / "model.safetensors")))
        loaded = load_model(model_dir)
        native = {n for n, _ in loaded.model.named_parameters()}
        assert set(key_map(loaded.config).values()) == native
        assert set(key_map(loaded.config)) <= keys
    assert load_model(tiny_v11_dir).model.lm_head.weight is not load_model(tiny_v11_dir).model.shared.weight
    tied = load_model(tiny_dir).model
    assert tied.lm_head.weight is tied.shared.weight


def test_save_round_trip_through_transformers(tiny_v11_dir: Path, tmp_path: Path) -> None:
    import transformers

    for source, init in ((str(tiny_v11_dir), "pretrained"), ("tiny", "random")):
        first = load_model(source, init=init, seed=5)
        out = save_model(first.model, tmp_path / init)
        again = load_model(out)
        assert _same_weights(first.model, again.model)
        assert again.config == first.config
        hf = transformers.T5ForConditionalGeneration.from_pretrained(out).eval()
        ids = torch.tensor([[37, 1782, 19, 1]])
        dec = torch.tensor([[0, 37, 1782]])
        with torch.no_grad():
            expected = hf(input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=dec).logits
            got = again.model(ids, torch.ones_like(ids), dec)
        assert (got - expected).abs().max().item() < 1e-4


def test_bin_and_sharded_checkpoints_load_the_same_weights(tiny_dir: Path, tmp_path: Path) -> None:
    reference = load_model(tiny_dir).model
    weights = load_file(str(tiny_dir / "model.safetensors"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(tiny_dir / "config.json", bin_dir)
    torch.save(weights, bin_dir / "pytorch_model.bin")
    assert _same_weights(load_model(bin_dir).model, reference)

    shard_dir = tmp_path / "sharded"
    shard_dir.mkdir()
    shutil.copy(tiny_dir / "config.json", shard_dir)
    names = sorted(weights)
    half = len(names) // 2
    index = {}
    for i, part in enumerate((names[:half], names[half:])):
        file = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: weights[k] for k in part}, str(shard_dir / file), metadata={"format": "pt"})
        index |= {k: file for k in part}
    (shard_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": index}))
    loaded = load_model(shard_dir)
    assert _same_weights(loaded.model, reference)
    assert loaded.weights_sha256 != load_model(tiny_dir).weights_sha256


def test_weights_sha256_is_the_file_hash_and_random_init_is_seeded(tiny_dir: Path) -> None:
    import hashlib

    expected = hashlib.sha256((tiny_dir / "model.safetensors").read_bytes()).hexdigest()
    assert load_model(tiny_dir).weights_sha256 == expected
    a, b, c = (load_model("tiny", init="random", seed=s) for s in (0, 0, 1))
    assert a.weights_sha256 == b.weights_sha256 != c.weights_sha256
    assert _same_weights(a.model, b.model)


def test_hf_model_and_native_agree_on_variant_flags(tiny_dir: Path, tiny_v11_dir: Path) -> None:
    assert load_model(tiny_dir).config.scale_decoder_outputs is True
    v11 = load_model(tiny_v11_dir).config
    assert (v11.variant, v11.tie_word_embeddings, v11.scale_decoder_outputs) == ("v1.1", False, False)
    assert hf_model(tiny_v11_dir).config.scale_decoder_outputs is False


def _one_line_error(fn, *needles: str) -> str:
    with pytest.raises(T5evalError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message
    return message


def test_bad_inputs_give_one_line_errors(tiny_dir: Path, tmp_path: Path) -> None:
    _one_line_error(lambda: load_model(tmp_path / "nope"), "nope", "not found")

    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    _one_line_error(lambda: load_model(bert), "bert", "config.json")

    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 8}))
    _one_line_error(lambda: load_model(partial), "missing field", "num_heads")

    cut = tmp_path / "cut"
    shutil.copytree(tiny_dir, cut)
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    _one_line_error(lambda: load_model(cut), "model.safetensors", "truncated")

    extra = tmp_path / "extra"
    shutil.copytree(tiny_dir, extra)
    weights = load_file(str(extra / "model.safetensors"))
    weights["encoder.block.9.layer.0.layer_norm.weight"] = torch.ones(64)
    del weights["decoder.final_layer_norm.weight"]
    save_file(weights, str(extra / "model.safetensors"))
    _one_line_error(lambda: load_model(extra), "unexpected keys encoder.block.9", "missing keys decoder.final")

    wrong = tmp_path / "wrong_shape"
    shutil.copytree(tiny_dir, wrong)
    config = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps(config | {"d_ff": 256}))
    _one_line_error(lambda: load_model(wrong), "shapes", "wi.weight")

    _one_line_error(lambda: load_model("t5-smal", init="random"), "t5-small")


def test_hub_id_offline_says_to_pass_a_local_directory(tmp_path: Path) -> None:
    code = ("from t5eval.model import load_model\n"
            "from t5eval.errors import T5evalError\n"
            "try:\n    load_model('google-t5/t5-small')\n"
            "except T5evalError as e:\n    print('ERR', e)\n")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.startswith("ERR "), out.stderr[-500:]
    assert "google-t5/t5-small" in out.stdout and "local" in out.stdout
    assert len(out.stdout.strip().splitlines()) == 1


def test_presets_have_the_official_shapes() -> None:
    # T5_TASKS.md §8 table: (d_model, d_ff, heads, d_kv, layers)
    table = {"t5-small": (512, 2048, 8, 64, 6), "t5-base": (768, 3072, 12, 64, 12),
             "t5-large": (1024, 4096, 16, 64, 24), "t5-3b": (1024, 16384, 32, 128, 24),
             "t5-11b": (1024, 65536, 128, 128, 24), "t5-v1_1-small": (512, 1024, 6, 64, 8),
             "t5-v1_1-base": (768, 2048, 12, 64, 12), "t5-v1_1-large": (1024, 2816, 16, 64, 24),
             "t5-v1_1-xl": (2048, 5120, 32, 64, 24), "t5-v1_1-xxl": (4096, 10240, 64, 64, 24)}
    for name, shape in table.items():
        c = T5Config.preset(name)
        assert (c.d_model, c.d_ff, c.num_heads, c.d_kv, c.num_layers) == shape
        assert c.num_decoder_layers == c.num_layers
        v11 = name.startswith("t5-v1_1")
        assert c.vocab_size == 32128
        assert (c.feed_forward_proj == "gated-gelu", c.tie_word_embeddings) == (v11, not v11)


def test_preset_config_loads_in_transformers_with_same_parameter_count() -> None:
    import transformers

    for name in ("tiny", "tiny-v1_1"):
        cfg = T5Config.preset(name)
        hf_cfg = transformers.T5Config(**cfg.to_hf())
        assert hf_cfg.scale_decoder_outputs == cfg.scale_decoder_outputs
        ours = load_model(name, init="random").model
        hf = transformers.T5ForConditionalGeneration(hf_cfg)
        extra = 0 if cfg.tie_word_embeddings else cfg.vocab_size * cfg.d_model  # HF 5.23 ties v1.1 heads
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in hf.parameters()) + extra
