"""`t5eval run gpt2_… --model GPT2DIR --no-finetune`: run.json and predictions.jsonl that rescore to the same
metrics, from the raw prediction texts (postprocessed again) and from the recorded values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from t5eval.cli import app, main
from t5eval.tasks import TaskRegistry, compute_metrics, load_examples, postprocess

FAST = ["gpt2_squad_rc", "gpt2_wsc_lm"]
ALL = ["gpt2_cnn_dailymail_tldr", "gpt2_cnn_dailymail_tldr_greedy", "gpt2_wmt14_en_fr", "gpt2_wmt14_fr_en",
       "gpt2_squad_rc", "gpt2_squad_closed_book", "gpt2_wsc_lm"]


def _run(gpt2_dir: Path, data_dir: Path, out: Path, tasks: list[str], limit: int) -> dict:
    result = CliRunner().invoke(app, ["run", ",".join(tasks), "--model", str(gpt2_dir), "--no-finetune",
                                      "--limit", str(limit), "--data-dir", str(data_dir), "--out", str(out),
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "run.json").read_text())


def _check_rescoring(record: dict, out: Path, data_dir: Path, limit: int) -> None:
    reg = TaskRegistry.default()
    for name, entry in record["tasks"].items():
        spec = reg.get(name)
        rows = [json.loads(x) for x in (out / name / "predictions.jsonl").read_text().splitlines()]
        assert len(rows) == entry["n"] == limit
        examples = load_examples(spec, entry["split"], data_dir, limit=limit).examples
        targets = [postprocess(spec, ex.targets, ex, is_target=True) for ex in examples]
        preds = [postprocess(spec, r["prediction"], ex, is_target=False) for r, ex in zip(rows, examples, strict=True)]
        assert compute_metrics(spec, targets, preds) == entry["metrics"]
        recorded = compute_metrics(spec, [r["target_value"] for r in rows], [r["prediction_value"] for r in rows])
        assert recorded == entry["metrics"]


@pytest.fixture(scope="module")
def fast_run(gpt2_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("gpt2_run") / "run"
    return _run(gpt2_dir, data_dir, out, FAST, limit=3), out


def test_run_prompt_tasks_and_rescore(fast_run: tuple[dict, Path], data_dir: Path) -> None:
    record, out = fast_run
    assert record["model"]["family"] == "gpt2"
    assert record["vocab"]["sha256"]
    squad = record["tasks"]["gpt2_squad_rc"]
    assert squad["decode"]["sampling"] == "greedy" and squad["decode"]["prompt"]["stop"] == ["\n"]
    assert record["tasks"]["gpt2_wsc_lm"]["decode"]["sampling"] == "rank"
    _check_rescoring(record, out, data_dir, 3)


def test_report_puts_the_run_beside_the_gpt2_paper(fast_run: tuple[dict, Path], tmp_path: Path) -> None:
    from t5eval.report.build import build_report

    record, out = fast_run
    text = build_report([out], tmp_path / "report.md", n_boot=50, plots=False).read_text()
    section = text.split("## Decoder-only and encoder-decoder on shared tasks")[1].split("\n## ")[0]
    paper = next(line for line in section.splitlines() if line.startswith("| GPT-2 1.5B, paper"))
    assert "29.34 (T)" in paper and "5.00 (V)" in paper and "11.50 (V)" in paper and "70.70" in paper
    ours = next(line for line in section.splitlines() if line.startswith("| `run`"))
    wsc = record["tasks"]["gpt2_wsc_lm"]["metrics"]["accuracy"]
    assert "gpt2 / decoder-only, zero-shot" in ours and f"{wsc:.2f}* (gpt2_wsc_lm, validation)" in ours


@pytest.mark.slow
def test_every_gpt2_task_runs_and_rescores(gpt2_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "all"
    with pytest.warns(UserWarning):
        record = _run(gpt2_dir, data_dir, out, ALL, limit=2)
    tldr = record["tasks"]["gpt2_cnn_dailymail_tldr"]["decode"]
    assert (tldr["sampling"], tldr["top_k"], tldr["seed"]) == ("top_k", 2, 0)
    _check_rescoring(record, out, data_dir, 2)


def test_t5_task_with_a_gpt2_model_is_refused_and_writes_nothing(gpt2_dir: Path, data_dir: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "rte", "--model", str(gpt2_dir), "--no-finetune", "--limit", "2", "--data-dir", str(data_dir),
              "--out", str(tmp_path / "refused")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "no prompt template for a decoder-only model" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "refused").exists()
