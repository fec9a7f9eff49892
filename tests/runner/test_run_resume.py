"""Crash and interrupt handling of `t5eval run`: decode cache after a crash, Ctrl-C, missing train data,
and the T5 mixture."""

from __future__ import annotations

import signal

import pytest

import t5eval.model as model_pkg
from t5eval.cli import main
from t5eval.train.stream import TrainStream

from .conftest import CB, FT_ARGS
from .helpers import base_args, cli, read_json, read_jsonl

SST2 = "glue_sst2_v002"


def test_crash_mid_decode_resumes_from_the_cache(tmp_path, vocab_path, data_dir, monkeypatch):
    real = model_pkg.generate
    calls = {"batches": 0, "rows": 0}

    def crash_on_third_batch(model, ids, mask, cfg):
        calls["batches"] += 1
        if calls["batches"] == 3:
            raise RuntimeError("simulated crash")
        calls["rows"] += ids.shape[0]
        return real(model, ids, mask, cfg)

    monkeypatch.setattr(model_pkg, "generate", crash_on_third_batch)
    out, reference = tmp_path / "run", tmp_path / "reference"
    common = ["run", "sst2", "--no-finetune", "--limit", "5", *base_args(vocab_path, data_dir)]
    args = [*common, "--batch-tokens", "1", "--out", str(out)]  # one example a batch
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(args)
    assert len(read_jsonl(out / SST2 / "decode_cache.jsonl")) == 2
    calls.update(batches=-10**9, rows=0)  # no more crashes; count what the restart decodes
    assert cli(args) == 0
    assert calls["rows"] == 3  # only the 3 examples that were not cached
    task = read_json(out / "run.json")["tasks"][SST2]
    assert (task["throughput"]["cached_examples"], task["throughput"]["decoded_examples"]) == (2, 3)
    monkeypatch.setattr(model_pkg, "generate", real)
    assert cli([*common, "--batch-tokens", "100000", "--out", reference]) == 0  # uninterrupted, one batch
    assert read_jsonl(out / SST2 / "predictions.jsonl") == read_jsonl(reference / SST2 / "predictions.jsonl")


@pytest.mark.parametrize("step", [3, 2, 4])  # a plain step, a validation step, the last (validation) step
def test_ctrl_c_mid_step_finishes_the_step_saves_and_resumes(step, finetuned, tmp_path, vocab_path, data_dir,
                                                             monkeypatch, capsys):
    real_next = TrainStream.next_batch
    seen = {"batches": 0}

    def next_batch_then_ctrl_c(self):
        seen["batches"] += 1
        if seen["batches"] == step:  # the (only) micro-batch of that step
            signal.raise_signal(signal.SIGINT)
        return real_next(self)

    monkeypatch.setattr(TrainStream, "next_batch", next_batch_then_ctrl_c)
    out = tmp_path / "run"
    args = ["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", str(out)]
    assert cli(args) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "resume with: t5eval run cb" in err and "Traceback" not in err
    assert (out / CB / "checkpoint.pt").exists() and not (out / "run.json").exists()
    monkeypatch.setattr(TrainStream, "next_batch", real_next)
    assert cli(args) == 0
    task = read_json(out / "run.json")["tasks"][CB]
    reference = read_json(finetuned / "run.json")["tasks"][CB]
    assert task["train"]["resumed_from_steps"] == [step]  # the interrupted step was finished and kept
    assert task["history"] == reference["history"] and task["metrics"] == reference["metrics"]
    assert read_jsonl(out / CB / "predictions.jsonl") == read_jsonl(finetuned / CB / "predictions.jsonl")


def test_task_without_train_split_is_evaluated_as_is_with_a_plain_message(tmp_path, vocab_path, data_dir, capsys):
    out = tmp_path / "run"
    args = ["run", "qnli", "--limit", "1", "--steps", "2", *base_args(vocab_path, data_dir), "--out", out]
    assert cli(args) == 0
    err = capsys.readouterr().err
    assert f"no train split for glue_qnli_v002 in {data_dir}: evaluating without fine-tuning" in err
    task = read_json(out / "run.json")["tasks"]["glue_qnli_v002"]
    assert task["finetuned"] is False and task["best_step"] is None and task["history"] == []


def test_mixture_trains_one_model_and_picks_the_best_step_per_task(tmp_path, vocab_path, data_dir):
    out = tmp_path / "run"
    args = ["run", "cb,copa", "--mixture", "--limit", "2", "--steps", "4", "--eval-every", "2",
            "--batch-tokens", "256", "--max-input-len", "48", *base_args(vocab_path, data_dir), "--out", out]
    assert cli(args) == 0
    run = read_json(out / "run.json")
    assert run["settings"]["finetune"]["mixture"] is True
    for name in ("super_glue_cb_v102", "super_glue_copa_v102"):
        task = run["tasks"][name]
        assert [h["step"] for h in task["history"]] == [2, 4]
        assert task["metrics"] == {h["step"]: h["metrics"] for h in task["history"]}[task["best_step"]]
        assert (out / name / "best" / "config.json").exists()
    assert not (out / "_mixture").exists()


def test_mixture_members_follow_t5_weights_and_train_tasks():
    from types import SimpleNamespace

    from t5eval.run.flow import mixture_train_specs
    from t5eval.tasks import TaskRegistry

    registry, logged = TaskRegistry.default(), []
    target = "mnli_matched,mnli-mm,cb,wnli"
    ctx = SimpleNamespace(registry=registry, log=logged.append, opts=SimpleNamespace(target=target))
    specs = registry.resolve(target)
    members = mixture_train_specs(ctx, specs)
    # MNLI-m/mm have weight 0 and train through MNLI (once); WNLI is never trained on (spec §1)
    assert [m.name for m in members] == ["glue_mnli_v002", "super_glue_cb_v102"]
    assert [m.mixture_weight for m in members] == [392702, 250]  # training-set sizes (spec §2)
    assert any("glue_wnli_v002" in line and "evaluated only" in line for line in logged)


def test_a_task_without_eval_data_is_refused_before_any_work(tmp_path, vocab_path, data_dir, capsys):
    out = tmp_path / "x"
    assert cli(["run", "glue", *base_args(vocab_path, data_dir), "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no eval data for glue_qqp_v002 in") and "t5eval run glue_cola_v002," in err
    assert "(or add --skip-missing)" in err
    assert not out.exists()


def test_skip_missing_runs_the_tasks_with_data_and_lists_the_others(tmp_path, vocab_path, data_dir, capsys):
    out = tmp_path / "glue"
    args = ["run", "glue", *base_args(vocab_path, data_dir), "--no-finetune", "--limit", "2", "--skip-missing",
            "--out", str(out)]
    assert cli(args) == 0
    record = read_json(out / "run.json")
    assert record["skipped_tasks"] == ["glue_qqp_v002"]  # the shared data has no QQP (SOURCES.md)
    assert "glue_qqp_v002" not in record["tasks"] and {"glue_cola_v002", "glue_rte_v002"} <= set(record["tasks"])
    assert "--skip-missing: no eval data for glue_qqp_v002" in capsys.readouterr().err
    report = tmp_path / "report.md"
    assert cli(["report", str(out), "--out", str(report)]) == 0
    text = report.read_text()
    assert "left out for lack of eval data: glue_qqp_v002" in text and "n/a (incomplete 7/8)" in text


def test_split_evaluates_the_test_set_with_the_task_decode_settings(tmp_path, vocab_path, data_dir, capsys):
    out = tmp_path / "run"
    args = ["run", "wmt14_ende", "--split", "test", "--limit", "1", *base_args(vocab_path, data_dir), "--out", out]
    assert cli(args) == 2  # the test split is for evaluating a checkpoint as is
    assert "add --no-finetune" in capsys.readouterr().err
    assert cli([*args, "--no-finetune"]) == 0
    task = read_json(out / "run.json")["tasks"]["wmt14_ende_v003"]
    assert task["split"] == "test" and task["n"] == 1
    assert sorted(task["data_files"]) == [str(data_dir.resolve() / "wmt/en-de/newstest2014.de"),
                                          str(data_dir.resolve() / "wmt/en-de/newstest2014.en")]
    assert (task["decode"]["beam_size"], task["decode"]["alpha"]) == (4, 0.6)  # spec §0: beam 4 for WMT
    assert "tok:intl" in task["metric_settings"]["settings"]["bleu"]["signature"]
    typo = ["run", "wmt14_ende", "--split", "tset", "--no-finetune", *base_args(vocab_path, data_dir)]
    assert cli([*typo, "--out", tmp_path / "y"]) == 2
    assert "did you mean test" in capsys.readouterr().err
