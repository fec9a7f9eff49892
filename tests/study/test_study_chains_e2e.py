"""The study machinery Tables 2, 9, 11, 12 and 13 need, end to end at `micro` scale in one compact study
(13 cells, 1 seed): a per-task leave-one-out chain, a multi-task mixture pre-training scored without
fine-tuning, a 2-member ensemble (fine-tune only) decoded per task, and a half-depth model pre-trained on a
truncated corpus; the report merges the per-task cells into one row and shows P, M, repeats and the mixture.
The built-in studies themselves run end to end in test_study_builtin_micro.py."""

from __future__ import annotations

import json
from pathlib import Path

from t5eval.study.execute import cell_done

from .helpers import cli, md_table

STUDY = """schema: 1
name: chains
title: "Chains: leave-one-out, mixture, ensemble, architecture and corpus size"
factor: chain
baseline: base
tasks: [cb, copa]
scales: {micro: {tasks: [cb, copa]}}
levels:
  base: {label: "Base"}
  loo:
    label: "Leave-one-out"
    per_task: true
    pretrain: {mix_tasks: "{other_tasks}", mixing: equal}
  mixed:
    label: "Mixture, no fine-tuning"
    pretrain: {mix_tasks: "{tasks}", mixing: equal, corpus_rate: 3, steps: "=pretrain.steps + 1"}
    run: {no_finetune: true}
  ens:
    label: "Ensemble of 2"
    ensemble: {members: 2, pretraining: shared}
  half:
    label: "Half depth, 2 chunks"
    model: tiny-half
    pretrain: {corpus_tokens: "=pretrain.chunk_tokens * 2"}
"""
CB, COPA = "super_glue_cb_v102", "super_glue_copa_v102"
CELLS = ["pretrain/mix_tasks-copa_mixing-equal_s0", "pretrain/mix_tasks-cb_mixing-equal_s0",
         "pretrain/corpus_rate-3_mix_tasks-cb-copa_mixing-equal_steps-3_s0",
         "pretrain/corpus_tokens-62_model-tiny-half_s0", "pretrain/default_s0",
         "runs/base_s0", "runs/loo_s0-cb", "runs/loo_s0-copa", "runs/mixed_s0", "runs/half_s0", "runs/ens_s0_m1",
         f"runs/ens_s0-{CB}", f"runs/ens_s0-{COPA}"]


def test_chains_run_end_to_end_and_report_one_row_per_level(tmp_path: Path, data_dir: Path, vocab_path: Path) -> None:
    study_file = tmp_path / "chains.yaml"
    study_file.write_text(STUDY)
    out = tmp_path / "study"
    assert cli(["study", "run", study_file, "--scale", "micro", "--seeds", 1, "--out", out, "--data-dir", data_dir,
                "--vocab", vocab_path]) == 0
    assert sorted(f"{p.parent.name}/{p.name}" for p in [*(out / "pretrain").iterdir(), *(out / "runs").iterdir()]) \
        == sorted(CELLS)
    assert all(cell_done(out, name) for name in CELLS)
    loo_cb = json.loads((out / "runs/loo_s0-cb/run.json").read_text())
    assert list(loo_cb["tasks"]) == [CB] and loo_cb["model"]["source"].endswith("mix_tasks-copa_mixing-equal_s0")
    ens = json.loads((out / f"runs/ens_s0-{COPA}/run.json").read_text())
    assert ens["model"]["source"] == (f"ensemble:{out}/runs/base_s0/{COPA}/best,"
                                      f"{out}/runs/ens_s0_m1/{COPA}/best")

    report = tmp_path / "report.md"
    assert cli(["study", "report", out, "--out", report, "--bootstrap", 50]) == 0
    text = report.read_text()
    scores = md_table(text, "## Scores")
    assert set(scores) == {"Base", "Leave-one-out", "Mixture, no fine-tuning", "Ensemble of 2", "Half depth, 2 chunks"}
    assert all(row[0] == "1" and "—" not in row for row in scores.values())  # both tasks in every row (merged)
    models = md_table(text, "## Models and pre-training")
    # P and M: docs/model.md's exact counts for tiny and tiny-half; an ensemble of 2 sums its members
    assert models["Base"][1:3] == ["2,221,056", "163,840"]
    assert models["Half depth, 2 chunks"][:3] == ["tiny-half", "2,138,816", "81,920"]
    assert models["Ensemble of 2"][:3] == ["ensemble of 2", "4,442,112", "327,680"]
    # 2 chunks of 31 tokens (iid objective at inputs_length 32: 31 per chunk); 2 steps x 4 rows = 8 examples
    assert models["Half depth, 2 chunks"][5] == "62 tokens, 2 chunks, 4.0 repeats"
    # rates: corpus 3 (--corpus-rate), CB and COPA 1 each (equal): 3/5, 1/5, 1/5
    mixture = models["Mixture, no fine-tuning"][6]
    assert mixture == f"corpus 60.0%, {CB} 20.0%, {COPA} 20.0%", mixture
    assert models["Mixture, no fine-tuning"][3].startswith("3 steps")
    assert (tmp_path / "report_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # Figure 6: a truncated corpus
