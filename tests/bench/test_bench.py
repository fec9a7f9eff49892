"""`t5eval bench` on the tiny preset with tiny sizes: it runs, writes the expected JSON, and the
native and transformers outputs agree. No timing assertions (the CPU is shared)."""

from __future__ import annotations

import json

import pytest

from t5eval.bench.e2e import batches
from t5eval.bench.suite import MEASURES, BenchConfig, run_bench
from t5eval.bench.table import markdown_table
from t5eval.errors import T5evalError

TINY = {"preset": "tiny", "batch_size": 3, "input_len": 9, "new_tokens": 5, "beam_size": 2, "repeats": 1,
        "threads": 1, "matmul_size": 64, "pretrain_inputs": 12, "pretrain_targets": 4}


@pytest.fixture(scope="module")
def report() -> dict:
    return run_bench(BenchConfig(**TINY, skip=("e2e",)))


def test_report_has_every_synthetic_measure_with_both_sides(report):
    assert set(report["measures"]) == {"encoder", "greedy", "beam", "train", "pretrain"}
    for name, m in report["measures"].items():
        for side in ("native", "transformers"):
            assert m[side]["rate_median"] > 0, name
            assert len(m[side]["times_s"]) == 1
            assert {"rss_growth_mib", "cuda_max_allocated_mib"} <= set(m[side]["memory"])
        assert m["ratio"] == pytest.approx(m["native"]["rate_median"] / m["transformers"]["rate_median"])
    assert report["matmul_peak"]["gflops_best"] > 0
    assert report["env"]["torch_threads"] == 1
    assert {"torch", "transformers"} <= set(report["env"]["packages"])


def test_greedy_and_beam_outputs_are_identical_and_forced_to_n_tokens(report):
    assert report["outputs_identical"] is True
    for name in ("greedy", "beam"):
        m = report["measures"][name]
        assert m["outputs_identical"] is True, name
        assert m["rows_identical"] == m["rows"] == TINY["batch_size"]
        assert m["lengths_forced"] is True
    assert report["measures"]["beam"]["beam_size"] == 2
    assert report["measures"]["encoder"]["outputs_identical"] is True


def test_report_is_json_and_renders_as_markdown(report):
    again = json.loads(json.dumps(report))
    assert again["config"]["preset"] == "tiny"
    table = markdown_table(report)
    assert table.count("\n|") >= 4 and "beam 2" in table


def test_unknown_measure_is_a_one_line_user_error():
    with pytest.raises(T5evalError, match="did you mean greedy"):
        BenchConfig(skip=("greedyy",)).measures()
    assert set(MEASURES) == {"encoder", "greedy", "beam", "train", "pretrain", "e2e"}


def test_bucketed_batches_group_by_length_and_keep_every_row():
    lengths = [5, 1, 4, 1, 3]
    assert batches(lengths, 2, bucket=False) == [[0, 1], [2, 3], [4]]
    assert batches(lengths, 2, bucket=True) == [[1, 3], [4, 2], [0]]


def test_cli_writes_json_and_rejects_bad_device(tmp_path):
    from typer.testing import CliRunner

    from t5eval.cli import app

    out = tmp_path / "bench.json"
    args = ["bench", "--preset", "tiny", "--batch-size", "2", "--input-len", "6", "--new-tokens", "3",
            "--beam-size", "2", "--repeats", "1", "--threads", "1", "--skip", "e2e", "--skip", "train", "--skip", "pretrain",
            "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["measures"]) == {"encoder", "greedy", "beam"}
    assert data["outputs_identical"] is True


def test_end_to_end_task_eval_agrees_with_and_without_bucketing(data_dir, vocab_path):
    # the training measure runs first: it must train copies, leaving the shared weights intact
    cfg = BenchConfig(**TINY, skip=("encoder", "greedy", "beam"), limit=6, e2e_max_decode_len=8,
                      data_dir=data_dir, vocab=vocab_path)
    e2e = run_bench(cfg)["measures"]["e2e"]
    assert e2e["task"] == "glue_rte_v002" and e2e["n"] == 6
    assert {k: e2e["decode"][k] for k in ("beam_size", "max_decode_len")} == {"beam_size": 1, "max_decode_len": 8}
    for side in ("native", "transformers"):
        for mode in ("file_order", "bucketed"):
            run = e2e[side][mode]
            assert run["outputs_identical"] is True and run["rows"] == 6
            assert set(run["metrics"]) == {"accuracy"}
        # sorting by length never pads more than file order does
        assert e2e[side]["bucketed"]["padded_input_tokens"] <= e2e[side]["file_order"]["padded_input_tokens"]
    assert e2e["outputs_identical"] is True


def test_int8_copy_is_timed_apart_with_its_agreement_and_never_trains():
    report = run_bench(BenchConfig(**TINY, skip=("e2e",), int8=True))
    measures = report["measures"]
    assert "native-int8" not in measures["train"]
    for name in ("greedy", "beam"):
        m = measures[name]
        assert m["ratio_int8"] == pytest.approx(m["native-int8"]["rate_median"] / m["transformers"]["rate_median"])
        agree = m["int8_vs_fp32"]
        assert agree["rows"] == TINY["batch_size"] and agree["tokens"] == TINY["batch_size"] * TINY["new_tokens"]
        assert 0.0 <= agree["token_agreement"] <= 1.0
        assert m["outputs_identical"] is True  # the fp32 comparison is untouched by the int8 copy
    assert 0 < measures["encoder"]["int8_vs_fp32"]["rel_rms_diff"] < 0.1
    assert "(int8, not exact)" in markdown_table(report)
    assert report["int8_engine"] in ("fbgemm", "onednn")


def test_int8_off_the_cpu_is_a_one_line_user_error():
    with pytest.raises(T5evalError, match="--int8 uses CPU kernels"):
        run_bench(BenchConfig(**TINY, device="mps", int8=True))


def test_report_records_the_linear_kernel_choice_with_measured_rates(report):
    rec = report["env"]["linear_kernels"]
    assert rec["mode"] == "auto"
    assert set(rec["measured_gflops"]) == {"tall", "decode", "head"}
    for rates in rec["measured_gflops"].values():
        assert rates["mkl"] > 0 and rates["onednn"] > 0 and len(rates["shape"]) == 3
    assert set(rec["chosen"].values()) <= {"mkl", "onednn"}
    assert "linear kernels (auto)" in markdown_table(report)


FASTER_GEMMS = {c: {"shape": [1, 1, 1], "mkl": 1.0, "onednn": 2.0} for c in ("tall", "decode", "head")}


def _in_situ_seconds(mkl: float, onednn: float, calls: list | None = None):
    """An in-situ timer seam: `mkl` seconds for the all-MKL setting, `onednn` for any other (machine-independent)."""

    def seconds(choice):
        if calls is not None:
            calls.append(dict(choice))
        return mkl if set(choice.values()) == {"mkl"} else onednn

    return seconds


def _tiny_bench_inputs():
    from t5eval.bench.measures import Shape, synthetic_batch
    from t5eval.model import load_model

    model = load_model("tiny", init="random", seed=0, device="cpu").model.eval()
    shape = Shape(3, 9, 4, 2)
    return model, shape, synthetic_batch(shape, model.config.vocab_size, 0, "cpu")


def test_auto_keeps_a_faster_kernel_only_where_outputs_stay_exact(monkeypatch):
    from t5eval.bench import kernel_choice
    from t5eval.model import kernel_probe

    model, shape, batch = _tiny_bench_inputs()
    monkeypatch.setattr(kernel_probe, "measure", lambda shapes: FASTER_GEMMS)
    faster_in_situ = _in_situ_seconds(1.0, 0.5)
    kernels, rec = kernel_choice.choose_kernels(model, model.config, shape, batch, "auto", faster_in_situ)
    assert rec["candidate"] == dict.fromkeys(("tall", "decode", "head"), "onednn")
    assert rec["chosen"] == rec["candidate"] and rec["rejected"] == {} and kernels is not None

    real = kernel_choice._differences  # a class whose rounding flips a row is refused, the others kept
    monkeypatch.setattr(kernel_choice, "_differences",
                        lambda ref, out: ["beam rows differ"] if out is _flipped[0] else real(ref, out))
    _flipped: list = [None]
    original = kernel_choice._outputs

    def outputs(model, batch, shape, kernels):
        out = original(model, batch, shape, kernels)
        if kernels is not None and kernels.choice["head"] == "onednn":
            _flipped[0] = out
        return out

    monkeypatch.setattr(kernel_choice, "_outputs", outputs)
    _, rec = kernel_choice.choose_kernels(model, model.config, shape, batch, "auto", faster_in_situ)
    assert rec["chosen"] == {"tall": "onednn", "decode": "onednn", "head": "mkl"}
    assert rec["rejected"] == {"head": "beam rows differ"}


def test_auto_drops_a_candidate_that_is_faster_per_gemm_but_slower_in_situ(monkeypatch):
    from t5eval.bench import kernel_choice
    from t5eval.bench.table import kernels_line
    from t5eval.model import kernel_probe

    model, shape, batch = _tiny_bench_inputs()
    monkeypatch.setattr(kernel_probe, "measure", lambda shapes: FASTER_GEMMS)
    checked = []
    monkeypatch.setattr(kernel_choice, "_outputs", lambda *a: checked.append(a))  # the exactness check
    calls: list = []
    kernels, rec = kernel_choice.choose_kernels(model, model.config, shape, batch, "auto",
                                                _in_situ_seconds(1.0, 1.02, calls))
    assert kernels is None and rec["chosen"] == dict.fromkeys(("tall", "decode", "head"), "mkl")
    assert rec["candidate"] == dict.fromkeys(("tall", "decode", "head"), "onednn")
    assert checked == []  # slower in situ: not worth an exactness check
    (trial,) = rec["in_situ"]
    assert trial["mkl_s"] == [1.0, 1.0, 1.0] and trial["candidate_s"] == [1.02] * 3
    assert trial["speedup"] == pytest.approx(1 / 1.02, abs=1e-4) and trial["kept"] is False
    assert set(rec["rejected"]) == {"tall", "decode", "head"}
    assert all("not faster in situ" in why for why in rec["rejected"].values())
    # one warm-up each, then three rounds alternating which setting goes first
    order = ["mkl" if set(c.values()) == {"mkl"} else "onednn" for c in calls]
    assert order == ["mkl", "onednn", "mkl", "onednn", "onednn", "mkl", "mkl", "onednn"]
    assert "in situ (decoding steps, tall+decode+head on oneDNN): best 1.020 s vs MKL 1.000 s, 0.98× (dropped)" \
        in kernels_line({"linear_kernels": rec})
    # 4% faster in situ is within the 5% margin: still MKL
    _, rec = kernel_choice.choose_kernels(model, model.config, shape, batch, "auto", _in_situ_seconds(1.0, 0.96))
    assert rec["chosen"] == dict.fromkeys(("tall", "decode", "head"), "mkl")


def test_the_real_in_situ_unit_runs_decoding_steps_of_the_bench_batch():
    from t5eval.model.kernel_probe import decode_steps, unit_timer

    model, _, (ids, mask) = _tiny_bench_inputs()
    steps_seen = []
    real_step = model.step

    def step(tokens, t, cache):
        steps_seen.append((tokens.shape[0], t))
        return real_step(tokens, t, cache)

    model.step = step
    seconds = unit_timer(decode_steps(model, ids, mask, (3, 6), 2))({"tall": "mkl", "decode": "mkl",
                                                                    "head": "onednn"})
    assert seconds > 0
    assert steps_seen == [(3, 0), (3, 1), (6, 0), (6, 1)]
