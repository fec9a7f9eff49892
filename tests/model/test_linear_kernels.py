"""The per-CPU fp32 linear kernel choice (`t5eval.model.kernels`): each kernel, forced, gives transformers'
outputs within tolerance (greedy and beam rows identical, logits within 1e-4 relative), routing really happens
and touches inference only, packed weights follow in-place updates, and the pick is the measured faster one."""

from __future__ import annotations

import pytest
import torch

from t5eval.model import DecodeConfig, generate, load_model
from t5eval.model.kernels import SHAPE_CLASSES, LinearKernels, active_kernel, fastest, shape_class

ALL = {"mkl": dict.fromkeys(SHAPE_CLASSES, "mkl"), "onednn": dict.fromkeys(SHAPE_CLASSES, "onednn")}


@pytest.fixture(scope="module")
def models():
    from t5eval.bench.impls import hf_twin

    torch.manual_seed(0)
    model = load_model("tiny", init="random", seed=3, device="cpu").model.eval()
    return model, hf_twin(model, "cpu")


def _batch():
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(3, 32000, (4, 11), generator=gen)
    ids[:, -1] = 1
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # one padded row
    return ids, mask


def _hf_rows(hf, ids, mask, beams, n):
    with torch.inference_mode():
        out = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                          num_beams=beams, length_penalty=1.0, early_stopping=False)
    return [row.tolist() for row in out[:, 1:]]


@pytest.mark.parametrize("kernel", ["mkl", "onednn"])
def test_each_kernel_forced_matches_transformers(models, kernel):
    model, hf = models
    ids, mask = _batch()
    mode = LinearKernels(ALL[kernel])
    with torch.inference_mode():
        ref_enc = hf.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        labels = torch.randint(3, 32000, (4, 6), generator=torch.Generator().manual_seed(2))
        ref_logits = hf(input_ids=ids, attention_mask=mask, labels=labels).logits
        with mode:
            enc = model.encode(ids, mask)
            logits = model.decode(torch.cat([torch.zeros(4, 1, dtype=torch.long), labels[:, :-1]], 1), enc, mask)
            rows = {k: generate(model, ids, mask, DecodeConfig(beam_size=k, alpha=0.6, max_decode_len=6,
                                                                 min_decode_len=6)) for k in (1, 3)}
    assert mode.routed[kernel] > 0  # the forced kernel really ran
    assert mode.routed["onednn" if kernel == "mkl" else "mkl"] == 0
    assert float((enc - ref_enc).abs().max() / ref_enc.abs().max()) <= 1e-4
    assert float((logits - ref_logits).abs().max() / ref_logits.abs().max()) <= 1e-4
    for k in (1, 3):
        assert rows[k] == _hf_rows(hf, ids, mask, k, 6), f"beam {k}"


def test_training_is_not_routed_and_gradients_are_unchanged(models):
    model, _ = models
    ids, mask = _batch()
    labels = torch.randint(3, 32000, (4, 5), generator=torch.Generator().manual_seed(1))
    model.zero_grad()
    model.loss(ids, mask, labels).backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    mode = LinearKernels(ALL["onednn"])
    with mode:
        model.loss(ids, mask, labels).backward()
    assert mode.routed == {"mkl": 0, "onednn": 0}
    assert all(torch.equal(a, p.grad) for a, p in zip(plain, model.parameters(), strict=True))
    model.zero_grad()


def test_packed_weights_follow_in_place_updates():
    lin = torch.nn.Linear(16, 24, bias=False)
    x = torch.randn(5, 16)
    mode = LinearKernels(ALL["onednn"])
    with torch.no_grad(), mode:
        first = lin(x)
        lin.weight.mul_(2.0)  # bumps the version: the cached packed copy is stale
        second = lin(x)
    torch.testing.assert_close(second, 2.0 * first, rtol=1e-5, atol=1e-5)
    assert mode.routed["onednn"] == 2


def test_shape_classes_and_the_faster_pick():
    assert shape_class(4096, 2048) == "tall" and shape_class(32, 2048) == "decode"
    assert shape_class(32, 32128) == "head" and shape_class(4096, 32128) == "head"
    measured = {"tall": {"mkl": 62.0, "onednn": 91.0}, "decode": {"mkl": 70.0, "onednn": 65.0},
                "head": {"mkl": 66.0, "onednn": 68.0}}  # head: 3% faster, inside the 5% margin
    assert fastest(measured) == {"tall": "onednn", "decode": "mkl", "head": "mkl"}
    assert fastest(measured, margin=1.0)["head"] == "onednn"
    with pytest.raises(ValueError, match="unknown"):
        LinearKernels({"tall": "blas"})


def test_decoding_lm_head_runs_whole_on_onednn_and_blocked_on_mkl(models):
    model, _ = models
    hidden = torch.randn(3, model.config.d_model)
    assert active_kernel("head") == "mkl"
    with torch.inference_mode():
        blocked = model.step_logits(hidden)
        mode = LinearKernels({"head": "onednn"})
        with mode:
            assert active_kernel("head") == "onednn" and active_kernel("decode") == "mkl"
            whole = model.step_logits(hidden)
    assert active_kernel("head") == "mkl"
    assert mode.routed == {"mkl": 0, "onednn": 1}  # one vocabulary-wide call, not LM_HEAD_BLOCK blocks
    assert float((whole - blocked).abs().max() / blocked.abs().max()) <= 1e-4


def test_probe_shapes_follow_the_batch_and_stay_bounded_for_a_run_sized_batch():
    """The classes of t5-base's GEMMs (d_model 768, d_ff 3072, vocabulary 32128): the bench batch as is; a run's
    first batch of 65,536 tokens (2,048 rows of 32) capped, so the probe does not time 100-GFLOP products."""
    from types import SimpleNamespace

    from t5eval.model.kernel_probe import class_shapes

    base = SimpleNamespace(d_model=768, d_ff=3072, vocab_size=32128)
    assert class_shapes(base, 32, 128, 4) == {"tall": (4096, 768, 3072), "decode": (128, 768, 3072),
                                              "head": (32, 768, 32128)}
    assert class_shapes(base, 2048, 32, 4) == {"tall": (4096, 768, 3072), "decode": (255, 768, 3072),
                                               "head": (512, 768, 32128)}
    assert class_shapes(base, 2, 9, 1)["tall"] == (256, 768, 3072)  # at least 256 rows: a tall GEMM's class
