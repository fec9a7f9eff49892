"""MFU: the FLOP counts of `t5eval bench` worked by hand on a toy config, the MFU arithmetic, and the
train/pretrain measures' JSON (tokens/s, MFU against the measured peak, the pre-training batch shape)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from t5eval.bench.measures import Shape, decoder_flops, encoder_flops
from t5eval.bench.suite import BenchConfig, run_bench
from t5eval.model.throughput import TRAIN_FLOPS_FACTOR, matmul_peak_gflops, mfu
from t5eval.train.throughput import mfu as per_token_mfu

# d_model 4, d_ff 8, 2 heads of 2 (inner 4), one layer, vocabulary 10, ReLU FFN (2 matrices).
TOY = SimpleNamespace(d_model=4, d_ff=8, num_heads=2, d_kv=2, num_layers=1, vocab_size=10, feed_forward_proj="relu")


def test_encoder_flops_by_hand():
    # per token: q, k, v, o (4 x 16 weights) + wi, wo (2 x 32) = 128 MACs = 256 FLOPs;
    # attention over 3 keys: QK^T 3x4 + AV 3x4 = 24 MACs = 48 FLOPs; 3 tokens -> 3 x 304 = 912
    assert encoder_flops(TOY, batch=1, seq=3) == 912
    assert encoder_flops(TOY, batch=2, seq=3) == 1824


def test_decoder_flops_by_hand():
    # cross K/V of 3 memory tokens: 2 x 16 weights x 2 x 3 = 192
    # per step: self q,k,v,o + cross q,o (6 x 16) + FFN (64) = 160 MACs = 320 FLOPs; LM head 40 MACs = 80;
    # attention over t self + 3 cross keys: 2 x 2 x (t + 3) x 4 = 64 (t=1), 80 (t=2)
    assert decoder_flops(TOY, rows=1, seq=3, new=2) == 192 + (320 + 64 + 80) + (320 + 80 + 80)


def test_mfu_arithmetic():
    assert mfu(2e9, 2.0, 4.0) == pytest.approx(0.25)  # 1 GFLOP/s of a 4 GFLOP/s peak
    # 1000 tokens/s x 1 MFLOP forward x 3 (forward + backward) = 3 GFLOP/s of 6
    assert TRAIN_FLOPS_FACTOR == 3
    assert per_token_mfu(3e6, 1000.0, 6.0) == pytest.approx(0.5)  # pretrain's form: training FLOPs per token
    with pytest.raises(ValueError):
        mfu(1.0, 0.0, 1.0)


def test_matmul_peak_reports_its_size_and_dtype():
    peak = matmul_peak_gflops("cpu", size=32, repeats=2)
    assert peak["size"] == 32 and peak["dtype"] == "float32" and peak["repeats"] == 2
    assert peak["gflops_best"] >= peak["gflops_median"] > 0


def test_pretrain_rows_keep_about_the_finetuning_input_tokens():
    assert Shape(32, 128, 32, 4).pretrain_rows() == 8  # 32 x 128 = 4096 input tokens = 8 rows of 512
    assert Shape(3, 9, 5, 2, 12, 4).pretrain_rows() == 2
    assert Shape(1, 9, 5, 2).pretrain_rows() == 1


@pytest.fixture(scope="module")
def steps() -> dict:
    cfg = BenchConfig(preset="tiny", batch_size=3, input_len=9, new_tokens=5, beam_size=2, repeats=1, threads=1,
                      matmul_size=64, pretrain_inputs=12, pretrain_targets=4,
                      skip=("encoder", "greedy", "beam", "e2e"))
    return run_bench(cfg)


def test_train_and_pretrain_report_tokens_per_s_and_mfu(steps):
    model_cfg = SimpleNamespace(**steps["model_config"], feed_forward_proj="relu")
    expected = {"train": (3, 9, 5, 1e-3), "pretrain": (2, 12, 4, 1e-2)}
    for name, (rows, inputs, targets, lr) in expected.items():
        m = steps["measures"][name]
        assert m["batch"] == {"rows": rows, "inputs": inputs, "targets": targets, "lr": lr}
        assert m["unit"] == "tokens/s" and m["work"] == rows * (inputs + targets)
        fwd = encoder_flops(model_cfg, rows, inputs) + decoder_flops(model_cfg, rows, inputs, targets)
        assert m["matrix_gflop"] == pytest.approx(3 * fwd / 1e9)
        for side in ("native", "transformers"):
            assert m[side]["share_of_peak"] == pytest.approx(
                m["matrix_gflop"] / m[side]["median_s"] / m["peak_gflops_used"])
        assert m["first_loss"]["native"] == pytest.approx(m["first_loss"]["transformers"], rel=0.05)
