"""`t5eval run --kernels mkl|auto|onednn`: the fp32 linear kernels of CPU decoding, chosen once, recorded in
run.json and kept by a resumed run (t5eval.run.kernels, docs/bench.md)."""

from __future__ import annotations

import pytest

import t5eval.model as model_pkg
from t5eval.model import kernel_probe, kernels

from .helpers import base_args, cli, read_json, read_jsonl

SST2 = "glue_sst2_v002"
CLASSES = ("tall", "decode", "head")
FASTER_GEMMS = {c: {"shape": [1, 1, 1], "mkl": 1.0, "onednn": 2.0} for c in CLASSES}


@pytest.fixture
def onednn_calls(monkeypatch):
    """Counts the F.linear calls that `LinearKernels` modes routed to oneDNN (the GEMM timing aside)."""
    calls = {"n": 0}
    real = kernels.LinearKernels.__exit__

    def exit_counting(self, *exc):
        calls["n"] += self.routed["onednn"]
        return real(self, *exc)

    monkeypatch.setattr(kernels.LinearKernels, "__exit__", exit_counting)
    return calls


def _in_situ(monkeypatch, mkl: float, candidate: float) -> None:
    """The in-situ timer seam: fixed seconds per setting, whatever the machine's speed."""
    timer = lambda choice: mkl if set(choice.values()) == {"mkl"} else candidate  # noqa: E731
    monkeypatch.setattr(kernel_probe, "unit_timer", lambda unit: timer)


def _sst2(vocab_path, data_dir, out, *extra) -> list[str]:
    return ["run", "sst2", "--no-finetune", "--limit", "4", *base_args(vocab_path, data_dir), "--out", str(out),
            *extra]


def test_default_mkl_measures_records_and_routes_nothing_onednn_gives_the_same_rows(
        tmp_path, vocab_path, data_dir, onednn_calls):
    assert cli(_sst2(vocab_path, data_dir, tmp_path / "mkl")) == 0
    assert onednn_calls["n"] == 0
    rec = read_json(tmp_path / "mkl" / "run.json")["env"]["linear_kernels"]
    assert rec["mode"] == "mkl" and rec["chosen"] == dict.fromkeys(CLASSES, "mkl")
    assert set(rec["measured_gflops"]) == set(CLASSES)
    for rates in rec["measured_gflops"].values():
        assert rates["mkl"] > 0 and rates["onednn"] > 0 and len(rates["shape"]) == 3

    assert cli(_sst2(vocab_path, data_dir, tmp_path / "onednn", "--kernels", "onednn")) == 0
    assert onednn_calls["n"] > 0
    rec = read_json(tmp_path / "onednn" / "run.json")["env"]["linear_kernels"]
    assert rec["mode"] == "onednn" and rec["chosen"] == dict.fromkeys(CLASSES, "onednn")
    rows = {k: read_jsonl(tmp_path / k / SST2 / "predictions.jsonl") for k in ("mkl", "onednn")}
    assert [r["prediction"] for r in rows["onednn"]] == [r["prediction"] for r in rows["mkl"]]
    assert rows["onednn"] == rows["mkl"]


def test_no_routing_in_bf16_and_a_bad_mode_is_one_line(tmp_path, vocab_path, data_dir, onednn_calls, capsys):
    assert cli(_sst2(vocab_path, data_dir, tmp_path / "bf16", "--kernels", "onednn", "--dtype", "bfloat16")) == 0
    rec = read_json(tmp_path / "bf16" / "run.json")["env"]["linear_kernels"]
    assert rec["chosen"] == dict.fromkeys(CLASSES, "mkl") and "not routed: --dtype bfloat16" in rec["note"]
    assert onednn_calls["n"] == 0
    capsys.readouterr()
    assert cli(_sst2(vocab_path, data_dir, tmp_path / "x", "--kernels", "onednnn")) == 2
    assert "error: --kernels 'onednnn' is not one of mkl, auto, onednn (did you mean onednn?)" in capsys.readouterr().err


def test_rank_scoring_is_never_routed_and_says_why(tmp_path, vocab_path, data_dir, onednn_calls):
    """--scoring rank decodes nothing: even forced oneDNN is not routed, and the record says why (a GPT-2 run
    takes the same path: tests/gpt2/test_gpt2_run.py)."""
    out = tmp_path / "rank"
    assert cli(_sst2(vocab_path, data_dir, out, "--kernels", "onednn", "--scoring", "rank")) == 0
    rec = read_json(out / "run.json")["env"]["linear_kernels"]
    assert rec["chosen"] == dict.fromkeys(CLASSES, "mkl") and "encoder-decoder T5 decoding" in rec["note"]
    assert onednn_calls["n"] == 0


def test_auto_drops_a_kernel_slower_in_situ_and_records_every_step(tmp_path, vocab_path, data_dir, monkeypatch,
                                                                   onednn_calls):
    monkeypatch.setattr(kernel_probe, "measure", lambda shapes: FASTER_GEMMS)
    _in_situ(monkeypatch, 1.0, 1.1)
    out = tmp_path / "auto"
    assert cli(_sst2(vocab_path, data_dir, out, "--kernels", "auto")) == 0
    rec = read_json(out / "run.json")["env"]["linear_kernels"]
    assert rec == read_json(out / "linear_kernels.json")  # recorded when chosen, copied into run.json
    assert rec["mode"] == "auto" and rec["candidate"] == dict.fromkeys(CLASSES, "onednn")
    assert rec["chosen"] == dict.fromkeys(CLASSES, "mkl") and onednn_calls["n"] == 0
    (trial,) = rec["in_situ"]
    assert trial["mkl_s"] == [1.0] * 3 and trial["candidate_s"] == [1.1] * 3 and trial["kept"] is False
    assert set(rec["rejected"]) == set(CLASSES) and "not faster in situ: 0.909×" in rec["rejected"]["head"]
    assert rec["probe"]["task"] == SST2 and rec["probe"]["rows"] == 4 and rec["probe"]["beam"] == 1
    assert read_json(out / "run.json")["settings"]  # a finished run


def test_a_resumed_run_keeps_the_recorded_choice(tmp_path, vocab_path, data_dir, monkeypatch, onednn_calls, capsys):
    monkeypatch.setattr(kernel_probe, "measure", lambda shapes: FASTER_GEMMS)
    _in_situ(monkeypatch, 1.0, 0.5)  # oneDNN twice as fast in situ: kept (its rows are checked identical)
    real = model_pkg.generate
    batches = {"n": 0}

    def crash_on_second_batch(model, ids, mask, cfg):
        batches["n"] += 1
        if batches["n"] == 2:
            raise RuntimeError("simulated crash")
        return real(model, ids, mask, cfg)

    monkeypatch.setattr(model_pkg, "generate", crash_on_second_batch)
    out = tmp_path / "run"
    args = _sst2(vocab_path, data_dir, out, "--kernels", "auto", "--batch-tokens", "1")  # one example a batch
    with pytest.raises(RuntimeError, match="simulated crash"):
        from t5eval.cli import main

        main(args)
    first = read_json(out / "linear_kernels.json")
    assert first["chosen"] == dict.fromkeys(CLASSES, "onednn") and first["in_situ"][0]["kept"] is True

    monkeypatch.setattr(model_pkg, "generate", real)
    measured = []
    monkeypatch.setattr(kernel_probe, "measure", lambda shapes: measured.append(shapes) or FASTER_GEMMS)
    _in_situ(monkeypatch, 1.0, 2.0)  # a new measure would now drop oneDNN
    onednn_calls["n"] = 0
    capsys.readouterr()
    assert cli(args) == 0
    assert measured == []  # nothing measured again
    assert read_json(out / "run.json")["env"]["linear_kernels"] == first
    assert onednn_calls["n"] > 0  # the resumed decoding ran on the recorded kernels
    assert "the choice recorded in" in capsys.readouterr().err


def test_task_heads_refuse_kernels(tmp_path, vocab_path, data_dir, capsys):
    args = ["run", "sst2", "--head", "classify", *base_args(vocab_path, data_dir), "--kernels", "auto",
            "--out", str(tmp_path / "h")]
    assert cli(args) == 2
    assert "--kernels is a text-to-text (T5) setting" in capsys.readouterr().err
