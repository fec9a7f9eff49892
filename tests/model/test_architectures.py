"""The T5 paper's Table 2 architectures (issue 25): shared encoder-decoder, half depth, decoder-only losses.

Every expected count below is worked by hand from the `tiny` shape (d_model 64, d_ff 128, 4 heads of d_kv 16,
2 layers per stack, 32 relative buckets, vocabulary 32,128, tied head, ReLU feed-forward).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from t5eval.errors import T5evalError
from t5eval.model import load_model, save_model
from t5eval.model.cost import model_cost

D, FF, INNER, HEADS, BUCKETS, VOCAB, LAYERS = 64, 128, 64, 4, 32, 32128, 2
EMBEDDING = VOCAB * D  # 2,056,192
ATTENTION = 4 * D * INNER  # q, k, v, o: 16,384
FEED_FORWARD = 2 * D * FF  # wi, wo: 16,384
NORM, BIAS_TABLE = D, BUCKETS * HEADS  # 64, 128
ENCODER_BLOCK = ATTENTION + FEED_FORWARD + 2 * NORM  # 32,896
DECODER_BLOCK = 2 * ATTENTION + FEED_FORWARD + 3 * NORM  # 49,344
ENCODER_STACK_LINEARS = LAYERS * (ATTENTION + FEED_FORWARD)  # 65,536
DECODER_STACK_LINEARS = LAYERS * (2 * ATTENTION + FEED_FORWARD)  # 98,304


def count(name: str) -> int:
    return sum(p.numel() for p in load_model(name, init="random").model.parameters())


def test_hand_counts_of_the_baseline_shared_half_and_lm() -> None:
    stack_extras = NORM + BIAS_TABLE  # final norm + relative-bias table per stack
    baseline = EMBEDDING + LAYERS * (ENCODER_BLOCK + DECODER_BLOCK) + 2 * stack_extras
    assert baseline == 2_221_056 and count("tiny") == baseline
    # shared: one decoder stack (its self-attention, feed-forward, norms, final norm and bias serve the encoder)
    assert count("tiny-shared") == EMBEDDING + LAYERS * DECODER_BLOCK + stack_extras == 2_155_072
    # half: one block per stack; the blocks' parameters are exactly half the baseline's
    assert count("tiny-half") == EMBEDDING + (ENCODER_BLOCK + DECODER_BLOCK) + 2 * stack_extras == 2_138_816
    # the paper's LM / prefix LM: one stack of encoder blocks ("P")
    assert count("tiny-lm") == count("tiny-prefix-lm") == EMBEDDING + LAYERS * ENCODER_BLOCK + stack_extras


def test_cost_columns_by_hand() -> None:
    """M: the shared model keeps the baseline's cost, half depth halves it, the LM runs every token through 2 W."""
    costs = {n: model_cost(load_model(n, init="random").model) for n in ("tiny", "tiny-shared", "tiny-half", "tiny-lm")}
    assert costs["tiny"]["flops_per_token"] == ENCODER_STACK_LINEARS + DECODER_STACK_LINEARS == 163_840
    assert costs["tiny-shared"]["flops_per_token"] == 163_840
    assert costs["tiny-half"]["flops_per_token"] == 163_840 // 2
    assert costs["tiny-lm"]["flops_per_token"] == 2 * ENCODER_STACK_LINEARS == 131_072
    assert costs["tiny"]["params_non_embedding"] == costs["tiny"]["params"] - EMBEDDING
    assert costs["tiny-shared"]["params"] == 2_155_072


def test_shared_model_uses_one_tensor_per_shared_weight() -> None:
    model = load_model("tiny-shared", init="random").model
    for enc, dec in zip(model.encoder_layers, model.decoder_layers, strict=True):
        assert enc.attn.q.weight is dec.self_attn.q.weight and enc.attn.o.weight is dec.self_attn.o.weight
        assert enc.ff.wi.weight is dec.ff.wi.weight and enc.ff.wo.weight is dec.ff.wo.weight
        assert enc.attn_norm.weight is dec.self_norm.weight and enc.ff_norm.weight is dec.ff_norm.weight
    assert model.encoder_norm.weight is model.decoder_norm.weight
    assert model.encoder_bias.embedding.weight is model.decoder_bias.embedding.weight
    assert model.encoder_bias.bidirectional and not model.decoder_bias.bidirectional  # same table, own bucketing
    baseline = load_model("tiny", init="random").model
    assert baseline.encoder_layers[0].attn.q.weight is not baseline.decoder_layers[0].self_attn.q.weight


def test_shared_model_trains_its_one_copy() -> None:
    model = load_model("tiny-shared", init="random").model.train()
    ids = torch.tensor([[5, 6, 7, 8, 1], [9, 10, 1, 0, 0]])
    mask = (ids != 0).long()
    labels = torch.tensor([[11, 12, 1], [13, 1, -100]])
    loss = model.loss(ids, mask, labels)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.step()
    assert model.encoder_layers[1].ff.wo.weight is model.decoder_layers[1].ff.wo.weight  # still one tensor


def test_presets_refuse_a_shared_model_of_unequal_depths() -> None:
    from dataclasses import replace

    from t5eval.model import PRESETS

    with pytest.raises(T5evalError, match="as many encoder as decoder layers"):
        replace(PRESETS["tiny-shared"], num_decoder_layers=1)


def test_shared_model_saves_as_an_hf_t5_and_loads_shared_again(tmp_path: Path) -> None:
    """Saved with each shared tensor under both stacks' keys (an ordinary HF T5 computing the same function, as
    transformers checks); t5eval reloads it shared, and refuses a file whose two copies differ."""
    transformers = pytest.importorskip("transformers")
    model = load_model("tiny-shared", init="random", seed=3).model
    save_model(model, tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    assert torch.equal(tensors["encoder.block.1.layer.1.DenseReluDense.wi.weight"],
                       tensors["decoder.block.1.layer.2.DenseReluDense.wi.weight"])
    again = load_model(tmp_path).model
    assert again.encoder_layers[0].attn.k.weight is again.decoder_layers[0].self_attn.k.weight
    ids, dec = torch.tensor([[5, 6, 7, 1]]), torch.tensor([[0, 8, 9]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        ours = model.eval()(ids, mask, dec)
        assert torch.equal(again(ids, mask, dec), ours)
        hf = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
        torch.testing.assert_close(hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits, ours)
    tensors["encoder.block.0.layer.0.SelfAttention.q.weight"] += 1.0
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(T5evalError, match=r"shared_encoder_decoder but encoder\.block\.0\.layer\.0\.SelfAttention\.q"):
        load_model(tmp_path)


def test_half_model_is_an_ordinary_hf_t5(tmp_path: Path) -> None:
    model = load_model("tiny-half", init="random").model
    save_model(model, tmp_path)
    again = load_model(tmp_path)
    assert again.config.num_layers == again.config.num_decoder_layers == 1
    assert "shared_encoder_decoder" not in again.config.to_hf()


def test_decoder_only_loss_on_all_tokens_is_the_plain_lm_loss() -> None:
    """`loss_on_targets_only = False` (Mesh TF's delimited_lm default) scores every next token of
    inputs + targets: n + m − 1 predictions for n input and m target tokens, the standard LM loss."""
    model = load_model("tiny-lm", init="random").model.eval()
    inputs, targets = torch.tensor([[5, 6, 7, 1]]), torch.tensor([[8, 9, 1]])
    seq = torch.cat([inputs, targets], dim=1)  # (1, 7)
    with torch.no_grad():
        logits = model(seq)[0]  # (7, V)
        plain_lm = F.cross_entropy(logits[:-1], seq[0, 1:])  # 6 predictions
        targets_only = F.cross_entropy(logits[3:-1], seq[0, 4:])  # positions 3..5 predict 8, 9, EOS
        assert torch.allclose(model.loss(inputs, torch.ones_like(inputs), targets), targets_only)
        model.loss_on_targets_only = False
        assert torch.allclose(model.loss(inputs, torch.ones_like(inputs), targets), plain_lm)


def test_table_13_sizes() -> None:
    """bi_v1_2x.gin / bi_v1_4x.gin: bi_bert_large widths (1024, 4096, 16 heads of 64) with 16 / 32 layers per
    stack; tiny-2x / tiny-4x double / quadruple tiny's depth, so M is exactly 2x / 4x tiny's 163,840."""
    from t5eval.model import PRESETS

    for name, layers in (("t5-base-2x", 16), ("t5-base-4x", 32)):
        cfg = PRESETS[name]
        assert (cfg.d_model, cfg.d_ff, cfg.num_heads, cfg.d_kv, cfg.num_layers, cfg.num_decoder_layers) == (
            1024, 4096, 16, 64, layers, layers)
    for name, factor in (("tiny-2x", 2), ("tiny-4x", 4)):
        cost = model_cost(load_model(name, init="random").model)
        assert cost["flops_per_token"] == factor * 163_840
        assert cost["params_non_embedding"] == factor * LAYERS * (ENCODER_BLOCK + DECODER_BLOCK) + 2 * (NORM + BIAS_TABLE)


def test_fsdp_refuses_a_shared_model() -> None:
    from t5eval.distributed.context import DistContext
    from t5eval.distributed.parallel import wrap_model

    with pytest.raises(T5evalError, match="--fsdp shards each block on its own"):
        wrap_model(load_model("tiny-shared", init="random").model, DistContext(), fsdp=True)


def test_run_records_the_architecture_and_its_cost(vocab_path: Path, data_dir: Path, tmp_path: Path) -> None:
    from tests.runner.helpers import cli, read_json

    out = tmp_path / "run"
    assert cli(["run", "cb", "--no-finetune", "--limit", "2", "--model", "tiny-shared", "--init", "random",
                "--vocab", vocab_path, "--data-dir", data_dir, "--threads", "1", "--out", out]) == 0
    model = read_json(out / "run.json")["model"]
    assert model["architecture"] == "encoder-decoder, shared" and model["config"]["shared_encoder_decoder"]
    assert (model["cost"]["params"], model["cost"]["flops_per_token"]) == (2_155_072, 163_840)
