"""CTranslate2 as a bench implementation: converted from the same weights, its fp32 ids equal native's."""

from __future__ import annotations

import pytest
import torch

from t5eval.bench.suite import BenchConfig, run_bench
from t5eval.errors import T5evalError
from t5eval.model import DecodeConfig, generate, load_model

ct2 = pytest.importorskip("ctranslate2")

from t5eval.bench.ct2 import CT2, CT2_INT8, ct2_impls  # noqa: E402


@pytest.fixture(scope="module", params=[("tiny", 1), ("tiny-v1_1", 0)])  # v1.0 (tied, rescaled head), v1.1 (gated)
def pair(request):
    torch.set_num_threads(1)
    preset, seed = request.param
    model = load_model(preset, init="random", seed=seed).model.eval()
    return model, ct2_impls(model, threads=1, int8=False)[0]


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(3, 1000, (5, 11), generator=gen)  # (B, S), rows of different lengths, right-padded
    mask = torch.ones_like(ids)
    for row, length in enumerate([11, 7, 9, 3, 11]):
        ids[row, length - 1] = 1  # EOS ends each input
        ids[row, length:] = 0
        mask[row, length:] = 0
    return ids, mask


@pytest.mark.parametrize(("beam", "force"), [(1, True), (1, False), (3, True)])
def test_ct2_ids_equal_native_fp32(pair, beam, force):
    model, impl = pair
    ids, mask = _inputs()
    decode = DecodeConfig(beam_size=beam, max_decode_len=6, min_decode_len=6 if force else 0)
    native = generate(model, ids, mask, decode)
    assert len({tuple(r) for r in native}) >= 3  # varied outputs, not one token everywhere
    assert impl.generate(ids, mask, decode, force) == native
    if force:
        assert all(len(r) == 6 for r in native)


def test_bench_reports_ct2_ratios_agreement_and_versions():
    cfg = BenchConfig(preset="tiny", batch_size=2, input_len=6, new_tokens=3, beam_size=2, repeats=1, threads=1,
                      matmul_size=64, skip=("e2e", "train", "pretrain"), int8=True, against="ctranslate2")
    report = run_bench(cfg)
    assert report["env"]["packages"]["ctranslate2"] == ct2.__version__
    assert [p["compute_type"] for p in report["ctranslate2"]] == ["float32", "int8"]
    for name in ("greedy", "beam"):
        m = report["measures"][name]
        assert m["ratio_ct2"] == pytest.approx(m["native"]["rate_median"] / m[CT2]["rate_median"])
        assert m["ratio_ct2_int8"] == pytest.approx(m["native-int8"]["rate_median"] / m[CT2_INT8]["rate_median"])
        assert m["ct2_vs_native"]["rows"] == 2 and 0 <= m["ct2_int8_vs_fp32"]["token_agreement"] <= 1
    first = report["measures"]["encoder"]["first_step"]
    assert CT2 not in report["measures"]["encoder"] and first["ratio_ct2"] > 0


def test_bf16_rows_against_ct2_bf16_or_its_float32_fallback():
    from t5eval.bench.ct2 import CT2_BF16, bf16_compute_type
    from t5eval.bench.table import markdown_table

    expected = "bfloat16" if "bfloat16" in ct2.get_supported_compute_types("cpu") else "float32"
    assert bf16_compute_type() == expected
    cfg = BenchConfig(preset="tiny", batch_size=2, input_len=6, new_tokens=3, beam_size=2, repeats=1, threads=1,
                      matmul_size=64, skip=("e2e", "train", "pretrain"), dtype="bfloat16", against="ctranslate2")
    report = run_bench(cfg)
    assert [p["compute_type"] for p in report["ctranslate2"]] == ["float32", expected]
    for name in ("greedy", "beam"):
        m = report["measures"][name]
        assert m["native-bf16"]["rate_median"] > 0 and m[CT2_BF16]["rate_median"] > 0
        assert m["ratio_ct2_bf16"] == pytest.approx(m["native-bf16"]["rate_median"] / m[CT2_BF16]["rate_median"])
        for key in ("bf16_vs_fp32", "ct2_bf16_vs_fp32"):
            assert m[key]["rows"] == 2 and 0 <= m[key]["token_agreement"] <= 1
    assert report["measures"]["encoder"]["bf16_vs_fp32"]["rel_rms_diff"] < 0.1  # bf16 keeps ~3 digits
    assert "(bf16) vs CTranslate2 bf16" in markdown_table(report)


def test_unknown_dtype_is_a_one_line_user_error():
    with pytest.raises(T5evalError, match="did you mean bfloat16"):
        run_bench(BenchConfig(preset="tiny", dtype="bfloat"))


def test_unknown_reference_is_a_one_line_user_error():
    with pytest.raises(T5evalError, match="did you mean ctranslate2"):
        run_bench(BenchConfig(preset="tiny", against="ctranslate"))


def test_end_to_end_task_with_ct2_predicts_as_native(data_dir, vocab_path):
    cfg = BenchConfig(preset="tiny", batch_size=3, repeats=1, threads=1, matmul_size=64, limit=4,
                      e2e_max_decode_len=8, data_dir=data_dir, vocab=vocab_path, against="ctranslate2",
                      skip=("encoder", "greedy", "beam", "train"))
    e2e = run_bench(cfg)["measures"]["e2e"]
    for mode in ("file_order", "bucketed"):
        assert e2e[CT2][mode]["rows_identical"] == e2e[CT2][mode]["rows"] == 4  # greedy: T5's settings exactly
        assert e2e["ratio_ct2"][mode] == pytest.approx(e2e[CT2][mode]["wall_s"] / e2e["native"][mode]["wall_s"])
