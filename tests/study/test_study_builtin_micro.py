"""Every built-in study runs end to end at `micro` (1 seed; the 2-seed path, kill -9 and resume are covered by
test_study_e2e.py): `study run --threads 1 --device cpu`, then `study report`. Each checks that every cell
finished (the cell counts worked out by hand from the study file), that the report has one complete row per
level of the study file, that every cell got the run's --threads/--device, and what its table is about: the
pre-training each level's run started from (shared where the levels share one, the objective, rate, span,
mixture or truncation the level sets), the models' P and M, the ensembles' members.

Cost (docs/study.md, "Tests"): all eleven together about 80 s of one CPU core; micro decodes 3 CB examples
(one batch), and a process measures the matmul peak and loads the vocabulary once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from t5eval.study.execute import cell_done
from t5eval.study.schema import find_study_file

from .helpers import cli, md_table

CB, COPA = "super_glue_cb_v102", "super_glue_copa_v102"
# (pre-training cells, run cells) at micro with one seed, counted by hand from each study file: a level's
# pre-training is shared where its options equal another's (scale objective = iid_replace_spans, 15%).
CELLS = {
    "table1": (1, 2),  # pretrained: default; none: no pre-training
    "table2": (10, 10),  # 5 architectures x 2 objectives, each its own pre-training
    "table4": (4, 4), "table5": (4, 4), "table6": (4, 4), "table7": (5, 5),
    "table9": (2, 5),  # full + one truncation (every R gives one 31-token chunk at micro) shared by 4 levels
    "table10": (1, 6),  # six transfer approaches on one pre-training
    "table11": (11, 11),  # baseline + 10 mixtures
    "table12": (6, 6),  # baseline, 2 mixtures, supervised, leave-one-out x 2 tasks (cb, copa)
    "table13": (8, 13),  # default, 4x steps, 4x batch, 2x, 4x, members s1000-s3000; 5 runs + 6 members + 2 decodes
}


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _run(out: Path, cell: str) -> dict[str, Any]:
    return _json(out / cell / "run.json")


def _pretraining(out: Path, cell: str) -> dict[str, Any]:
    """The pretrain.json of the model run `cell` started from."""
    source = Path(_run(out, cell)["model"]["source"])
    assert source.parent == out / "pretrain", source
    return _json(source / "pretrain.json")


def _source(out: Path, cell: str) -> str:
    return str(Path(_run(out, cell)["model"]["source"]).relative_to(out))


def _table1(out: Path, models: dict[str, list[str]]) -> None:
    assert _run(out, "runs/none_s0")["model"]["init"] == "random"
    assert _source(out, "runs/pretrained_s0") == "pretrain/default_s0"
    assert models["No pre-training"][3] == "none"  # the pre-training column


def _table2(out: Path, models: dict[str, list[str]]) -> None:
    # P and M: docs/model.md's exact counts (tiny, shared, half depth, LM and prefix LM)
    expected = {"tiny": ("2,221,056", "163,840"), "tiny-shared": ("2,155,072", "163,840"),
                "tiny-half": ("2,138,816", "81,920"), "tiny-lm": ("2,122,176", "131,072"),
                "tiny-prefix-lm": ("2,122,176", "131,072")}
    assert sorted(row[0] for row in models.values()) == sorted([*expected, *expected])
    assert all(tuple(row[1:3]) == expected[row[0]] for row in models.values()), models
    # denoising: the scale's objective; LM: prefix_lm; decoder-only models: loss on the targets, except the
    # plain language model with LM (--lm-loss all: on every token)
    lm_loss = {"enc_dec_denoising": None, "lm_denoising": "targets", "enc_dec_lm": None, "lm_lm": "all",
               "prefix_lm_lm": "targets"}
    for level, loss in lm_loss.items():
        record = _pretraining(out, f"runs/{level}_s0")
        objective = "prefix_lm" if level.endswith("_lm") else "iid_replace_spans"
        assert (record["objective"]["name"], record["settings"]["lm_loss"]) == (objective, loss), level


def _objectives(expected: dict[str, str]) -> Callable[[Path, dict[str, list[str]]], None]:
    def check(out: Path, models: dict[str, list[str]]) -> None:
        assert {lv: _pretraining(out, f"runs/{lv}_s0")["objective"]["name"] for lv in expected} == expected
    return check


def _table6(out: Path, models: dict[str, list[str]]) -> None:
    rates = {lv: _pretraining(out, f"runs/{lv}_s0")["objective"]["noise_density"] for lv in
             ("rate_10", "rate_15", "rate_25", "rate_50")}
    assert rates == {"rate_10": 0.10, "rate_15": 0.15, "rate_25": 0.25, "rate_50": 0.50}


def _table7(out: Path, models: dict[str, list[str]]) -> None:
    spans = {lv: (o["name"], o["mean_noise_span_length"]) for lv in ("iid", "span_2", "span_3", "span_5", "span_10")
             for o in [_pretraining(out, f"runs/{lv}_s0")["objective"]]}
    assert spans == {"iid": ("iid_replace_spans", 3.0), "span_2": ("span_corruption", 2.0),
                     "span_3": ("span_corruption", 3.0), "span_5": ("span_corruption", 5.0),
                     "span_10": ("span_corruption", 10.0)}


def _table9(out: Path, models: dict[str, list[str]]) -> None:
    truncated = {_source(out, f"runs/repeats_{r}_s0") for r in (64, 256, 1024, 4096)}
    assert truncated == {"pretrain/corpus_tokens-31_s0"}  # one chunk of 31 tokens (inputs_length 32 - EOS)
    # 2 steps x 4 rows = 8 examples from one chunk: 8 repeats; the full corpus is not truncated
    assert models["64 repeats (paper: 2^29 tokens)"][5] == "31 tokens, 1 chunks, 8.0 repeats"
    assert models["Full data set ★"][5] == "untruncated"
    assert (out.parent / "report_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # Figure 6


def _table10(out: Path, models: dict[str, list[str]]) -> None:
    levels = {"all_parameters": "all", "adapters_32": "adapters:32", "adapters_128": "adapters:128",
              "adapters_512": "adapters:512", "adapters_2048": "adapters:2048",
              "gradual_unfreezing": "gradual-unfreezing"}
    assert {_source(out, f"runs/{lv}_s0") for lv in levels} == {"pretrain/default_s0"}  # one shared pre-training
    assert {lv: _run(out, f"runs/{lv}_s0")["settings"]["finetune"]["transfer"] for lv in levels} == levels


def _table11(out: Path, models: dict[str, list[str]]) -> None:
    for level in ("equal", "proportional_2e16", "proportional_2e21", "temperature_2", "temperature_8"):
        run = _run(out, f"runs/{level}_s0")
        assert run["settings"]["finetune"]["enabled"] is False, level  # scored without fine-tuning
        assert _pretraining(out, f"runs/{level}_s0")["steps"] == 10, level  # 2 + 2 x 512 // 128
    assert _pretraining(out, "runs/baseline_s0")["steps"] == 2
    # by hand: equal 1:1; K = 2^16: corpus 65,536 vs CB's 250 training examples (99.62%);
    # T = 8: corpus 2^(21/8) = 6.169 vs 250^(1/8) = 1.994 (75.57%)
    assert models["Equal"][6] == f"corpus 50.0%, {CB} 50.0%"
    assert models["Examples-proportional, K = 2^16"][6] == f"corpus 99.6%, {CB} 0.4%"
    assert models["Temperature-scaled, T = 8"][6] == f"corpus 75.6%, {CB} 24.4%"


def _table12(out: Path, models: dict[str, list[str]]) -> None:
    def mixed(cell: str) -> list[str]:
        return [str(a) for a in _pretraining(out, cell)["command"] if str(a) in ("cb", "copa", "cb,copa")]

    assert mixed("runs/leave_one_out_s0-cb") == ["copa"] and mixed("runs/leave_one_out_s0-copa") == ["cb"]
    assert list(_run(out, "runs/leave_one_out_s0-cb")["tasks"]) == [CB]
    assert list(_run(out, "runs/leave_one_out_s0-copa")["tasks"]) == [COPA]
    assert _run(out, "runs/multi_task_training_s0")["settings"]["finetune"]["enabled"] is False
    # supervised (corpus rate 0): CB 250 and COPA 400 training examples, both under K = 2^19: 250/650, 400/650
    assert models["Supervised multi-task pre-training"][6] == f"corpus 0.0%, {CB} 38.5%, {COPA} 61.5%"


def _table13(out: Path, models: dict[str, list[str]]) -> None:
    separate = [f"runs/ensemble_4x_s0_m{m}" for m in (1, 2, 3)]
    shared = [f"runs/ensemble_4x_finetune_only_s0_m{m}" for m in (1, 2, 3)]
    assert [_source(out, c) for c in separate] == [f"pretrain/default_s{s}" for s in (1000, 2000, 3000)]
    assert {_source(out, c) for c in shared} == {"pretrain/default_s0"}  # fine-tune only: the baseline's
    for level, members in (("ensemble_4x", separate), ("ensemble_4x_finetune_only", shared)):
        expected = ",".join(str(out / m / CB / "best") for m in ["runs/baseline_s0", *members])
        assert _run(out, f"runs/{level}_s0-{CB}")["model"]["source"] == f"ensemble:{expected}"
    assert _pretraining(out, "runs/size_1x_steps_4x_s0")["steps"] == 8
    assert _run(out, "runs/size_1x_steps_4x_s0")["settings"]["finetune"]["steps"] == 8
    assert _run(out, "runs/size_1x_batch_4x_s0")["settings"]["finetune"]["batch_tokens"] == 2048
    # M of tiny-2x / tiny-4x: exactly 2x / 4x tiny's 163,840; an ensemble of 4 sums its members
    assert models["2x size, 2x training steps"][:3] == ["tiny-2x", "2,385,536", "327,680"]
    assert models["4x size, 1x training steps"][:3] == ["tiny-4x", "2,714,496", "655,360"]
    assert models["4x ensembled"][:3] == ["ensemble of 4", "8,884,224", "655,360"]


CHECKS: dict[str, Callable[[Path, dict[str, list[str]]], None]] = {
    "table1": _table1, "table2": _table2,
    "table4": _objectives({"baseline": "iid_replace_spans", "prefix_lm": "prefix_lm", "bert_style": "bert_mlm",
                           "deshuffling": "deshuffle"}),
    "table5": _objectives({"bert_style": "bert_mlm", "mass_style": "mass", "replace_spans": "iid_replace_spans",
                           "drop_tokens": "iid_drop"}),
    "table6": _table6, "table7": _table7, "table9": _table9, "table10": _table10, "table11": _table11,
    "table12": _table12, "table13": _table13,
}


def _check_cells(name: str, out: Path) -> None:
    """Every cell folder finished, as many as counted by hand, each command with the run's --threads/--device."""
    pretrains = sorted(p for p in (out / "pretrain").iterdir()) if (out / "pretrain").exists() else []
    runs = sorted((out / "runs").iterdir())
    assert (len(pretrains), len(runs)) == CELLS[name]
    for folder in [*pretrains, *runs]:
        cell = f"{folder.parent.name}/{folder.name}"
        assert cell_done(out, cell), cell
        record = _json(folder / ("pretrain.json" if cell.startswith("pretrain/") else "run.json"))
        command = " ".join(record["command"])
        assert " --threads 1" in command and " --device cpu" in command, (cell, command)
    assert _json(out / "study.json")["cell_options"] == {"threads": 1, "device": "cpu"}


@pytest.mark.parametrize("name", list(CELLS))
def test_builtin_study_runs_at_micro(name: str, tmp_path: Path, data_dir: Path, vocab_path: Path) -> None:
    out = tmp_path / name
    assert cli(["study", "run", name, "--scale", "micro", "--seeds", 1, "--out", out, "--data-dir", data_dir,
                "--vocab", vocab_path, "--threads", 1, "--device", "cpu"]) == 0
    _check_cells(name, out)
    report = tmp_path / "report.md"
    assert cli(["study", "report", out, "--out", report, "--bootstrap", 20]) == 0
    text = report.read_text()
    assert "Partial study" not in text  # every result cell finished (report.py _partial_warning)
    definition = yaml.safe_load(find_study_file(name).read_text())
    labels = [level["label"] for level in definition["levels"].values()]
    scores = md_table(text, "## Scores")
    assert sorted(scores) == sorted(labels)  # one row per level of the study file
    assert all(row[0] == "1" and "—" not in row for row in scores.values()), scores  # 1 seed, every task scored
    models = md_table(text, "## Models and pre-training")
    assert sorted(models) == sorted(labels)
    CHECKS[name](out, models)
