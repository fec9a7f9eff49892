"""Issue 22: `t5eval run --overwrite` deletes only what is ours; one best-step rule (NaN worst); best/ as one
unit written after its checkpoint; temp files swept on resume; checkpoints never outlive a result; 0644 files."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

import t5eval.run.flow as flow
from t5eval.model import load_model, save_model
from t5eval.train.best import is_better, select_best
from t5eval.train.head_step import HeadBatches, HeadHyperparameters, HeadStep
from t5eval.train.loop import TrainConfig, finetune

from .conftest import CB, FT_ARGS
from .helpers import base_args, cli, read_json, read_jsonl
from .test_trust_checkpoints import assert_one_error, unfinished_run

SST2 = "glue_sst2_v002"


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory, vocab_path, data_dir) -> tuple[Path, list[str]]:
    """A finished evaluation-only run (fast) and its args."""
    out = tmp_path_factory.mktemp("evalrun") / "run"
    args = ["run", "sst2", "--no-finetune", "--limit", "2", *base_args(vocab_path, data_dir), "--out", str(out)]
    assert cli(args) == 0
    return out, args


# --- --overwrite ---------------------------------------------------------------------------------------------

def test_run_overwrite_refuses_a_pretraining_folder(tmp_path, vocab_path, data_dir, capsys):
    """Pre-training folders have a settings.json too: `run --overwrite` deleted a pre-trained model."""
    pt = tmp_path / "pt"
    pt.mkdir()
    (pt / "model.safetensors").write_bytes(b"pre-trained weights")
    (pt / "settings.json").write_text(json.dumps({"fingerprint": "x", "settings": {"corpus": {"source": "c.txt"}}}))
    args = ["run", "sst2", "--no-finetune", "--limit", "2", *base_args(vocab_path, data_dir), "--out", str(pt)]
    assert cli([*args, "--overwrite"]) == 2
    assert (pt / "model.safetensors").read_bytes() == b"pre-trained weights"
    assert_one_error(capsys, "a t5eval pre-training", "choose another --out")


def test_run_overwrite_keeps_a_user_file_in_the_run_folder(eval_run, tmp_path, capsys):
    src, args = eval_run
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    (out / "notes.md").write_text("why I ran this")
    args = [*args[:-1], str(out)]
    assert cli([*args, "--overwrite"]) == 0
    assert (out / "notes.md").read_text() == "why I ran this"
    assert (out / "run.json").is_file() and (out / SST2 / "predictions.jsonl").is_file()
    assert "kept what t5eval did not write" in capsys.readouterr().err


def test_run_refuses_a_folder_of_user_files_with_or_without_overwrite(eval_run, tmp_path, capsys):
    _, args = eval_run
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "paper.tex").write_text("x")
    for extra in ([], ["--overwrite"]):
        assert cli([*args[:-1], str(mine), *extra]) == 2
        assert_one_error(capsys, "paper.tex", "no t5eval folder")
    assert (mine / "paper.tex").read_text() == "x" and len(list(mine.iterdir())) == 1


def test_run_folder_has_its_kind_marker(eval_run):
    out, _ = eval_run
    assert json.loads((out / "t5eval-folder.json").read_text())["kind"] == "run"


def test_auto_discovery_says_which_folder_it_resumes(eval_run, tmp_path, capsys, monkeypatch):
    src, args = eval_run
    monkeypatch.chdir(tmp_path)  # results/ is relative to the working directory
    found = tmp_path / "results" / "20260101-0000_tiny_sst2"
    shutil.copytree(src, found)
    assert cli(args[:-2]) == 0  # no --out
    err = capsys.readouterr().err
    assert f"found a run with the same settings under results: {Path('results') / found.name}" in err


# --- select_best: NaN is worse than any number ---------------------------------------------------------------

def test_select_best_on_the_stsb_history_of_the_issue():
    nan = {"pearson_corrcoef": math.nan, "spearman_corrcoef": math.nan}
    history = [{"step": 200, "metrics": nan}, {"step": 400, "metrics": nan},
               {"step": 600, "metrics": {"pearson_corrcoef": 9.85, "spearman_corrcoef": 9.85}}]
    assert history[select_best(history)]["step"] == 600
    assert select_best(history[:2]) == 0  # only NaN so far: the first
    assert select_best([]) is None
    ties = [{"step": 1, "metrics": {"a": 5.0}}, {"step": 2, "metrics": {"a": 5.0}}, {"step": 3, "metrics": {"a": 4.0}}]
    assert select_best(ties) == 0  # ties keep the earlier step
    assert is_better(-1e9, math.nan) and not is_better(math.nan, -1e9) and not is_better(5.0, 5.0)


def _tiny_t5(vocab_path: Path) -> torch.nn.Module:
    return load_model("tiny", init="random", seed=0).model


def test_nan_validations_do_not_freeze_the_best_step_of_finetune(tmp_path, vocab_path, monkeypatch):
    """The STS-B case: steps 200 and 400 scored NaN (constant predictions), step 600 Pearson 9.85 -> step 600."""
    from t5eval.train.stream import TrainSource, TrainStream

    scores = {1: math.nan, 2: math.nan, 3: 9.85}
    saved: list[int] = []
    stream = TrainStream([TrainSource("t", [[5, 6, 1]] * 4, [[7, 1]] * 4, 1.0)], 64, 0)
    state = finetune(_tiny_t5(vocab_path), stream, TrainConfig(steps=3, eval_every=1, batch_tokens=64),
                     tmp_path / "checkpoint.pt", lambda step: {"stsb": {"pearson_corrcoef": scores[step],
                                                                        "spearman_corrcoef": scores[step]}},
                     lambda task, step: saved.append(step))
    assert state.best["stsb"]["step"] == 3 and state.best["stsb"]["score"] == 9.85
    assert saved == [1, 3]  # the first (NaN) step is kept until a number comes


def test_nan_epochs_do_not_freeze_the_best_epoch_of_a_task_head(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Module()  # what the head step touches of a HeadModel: `body` and `out`
    model.body, model.out = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    scores = iter([math.nan, math.nan, 9.85])

    def batch_loss(m, picked):  # type: ignore[no-untyped-def]
        return m.out(m.body(torch.ones(len(picked), 2))).pow(2).mean(), len(picked)

    hp = HeadHyperparameters(epochs=3, batch_size=2, bert_recipe="torch")  # the best epoch, not the final one
    out = finetune(model, HeadBatches(4, 2, 0), HeadStep(hp, 6, 2, 0, "all", batch_loss), tmp_path / "c.pt",
                   lambda step: {"t": {"pearson_corrcoef": next(scores)}}, lambda task, step: None)
    assert out.best["t"]["step"] == 6 and out.best["t"]["score"] == 9.85  # epoch 3 (2 steps an epoch)


# --- best/ as one unit, temp files, checkpoints dropped with the result --------------------------------------

def test_kill_between_checkpoint_and_best_swap_is_repaired_on_resume(finetuned, tmp_path, vocab_path, data_dir,
                                                                     monkeypatch):
    """best/ is swapped in after the checkpoint that records it; a kill in between leaves no best/ (or an
    older one) and the resume writes it again from the restored weights: same result as an unbroken run."""
    real = flow.atomic_dir

    def killed(path):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed")

    monkeypatch.setattr(flow, "atomic_dir", killed)  # the first best/ swap (step 2, the first validation) dies
    out = tmp_path / "run"
    args = ["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", str(out)]
    with pytest.raises(RuntimeError, match="killed"):
        cli(args)
    monkeypatch.setattr(flow, "atomic_dir", real)
    ckpt = torch.load(out / CB / "checkpoint.pt", weights_only=True)
    assert ckpt["state"]["step"] == 2 and ckpt["state"]["best"][CB]["step"] == 2  # recorded first ...
    assert not (out / CB / "best").exists()  # ... then the kill: no best/, not a torn one
    assert cli(args) == 0
    reference = read_json(finetuned / "run.json")["tasks"][CB]
    task = read_json(out / "run.json")["tasks"][CB]
    assert task["best_step"] == reference["best_step"] and task["metrics"] == reference["metrics"]
    assert read_json(out / CB / "best" / "t5eval_checkpoint.json")["step"] == reference["best_step"]
    assert read_jsonl(out / CB / "predictions.jsonl") == read_jsonl(finetuned / CB / "predictions.jsonl")


def test_torn_best_and_temp_files_are_swept_on_resume(tmp_path, vocab_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "run"
    args = unfinished_run(out, vocab_path, data_dir, monkeypatch)
    torn = out / CB / "best.tmp"  # a kill mid-write of best/: config.json without model.safetensors
    torn.mkdir(parents=True)
    (torn / "config.json").write_text("{}")
    (out / CB / "best").mkdir()
    (out / CB / "best" / ".tmpAb12Cd").write_bytes(b"model-sized temp of safetensors")
    (out / ".run.json.k2j4_x9q.tmp").write_text("{")
    (out / CB / "notes.tmp").write_text("not ours")
    capsys.readouterr()
    assert cli(args) == 0
    assert not torn.exists() and not (out / ".run.json.k2j4_x9q.tmp").exists()
    assert not (out / CB / "best" / ".tmpAb12Cd").exists()
    assert (out / CB / "notes.tmp").read_text() == "not ours"
    best = out / CB / "best"
    assert {"config.json", "model.safetensors", "spiece.model", "t5eval_checkpoint.json"} <= {p.name for p in best.iterdir()}
    assert "removed" in capsys.readouterr().err


def test_a_kill_after_result_json_leaves_no_checkpoint_behind(finetuned, tmp_path, vocab_path, data_dir):
    out = tmp_path / "run"
    shutil.copytree(finetuned, out)
    (out / "run.json").unlink()  # killed after the task's result.json, before its checkpoints were dropped
    shutil.copyfile(out / CB / "best" / "model.safetensors", out / CB / "checkpoint.pt")
    (out / CB / "checkpoint_dcp" / "step_00000004").mkdir(parents=True)
    assert cli(["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", str(out)]) == 0
    assert not (out / CB / "checkpoint.pt").exists() and not (out / CB / "checkpoint_dcp").exists()
    assert read_json(out / "run.json")["tasks"][CB]["metrics"] == read_json(finetuned / "run.json")["tasks"][CB]["metrics"]


# --- permissions ---------------------------------------------------------------------------------------------

def test_saved_weights_get_the_mode_of_every_other_file(tmp_path):
    """safetensors writes through its own 0600 temp file; our files are 0666 & ~umask (0644 by default)."""
    umask = os.umask(0)
    os.umask(umask)
    out = save_model(load_model("tiny", init="random", seed=0).model, tmp_path / "m")
    want = 0o666 & ~umask
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {"config.json": want, "model.safetensors": want}


def test_folder_kind_rule_for_folders_made_before_the_marker(tmp_path):
    """Marker first; else settings.json (written first by both commands since the start): tasks -> run,
    corpus -> pretrain; else not ours. --overwrite then deletes only what that command writes."""
    from t5eval.trust import clear_for_overwrite, folder_kind

    run, pt, other = tmp_path / "run", tmp_path / "pt", tmp_path / "other"
    for folder, settings in ((run, {"tasks": ["glue_rte_v002"]}), (pt, {"corpus": {"source": "c.txt"}})):
        folder.mkdir()
        (folder / "settings.json").write_text(json.dumps({"fingerprint": "f", "settings": settings}))
    other.mkdir()
    (other / "run.json").write_text("{}")  # a run.json alone (no settings.json) is not enough
    assert (folder_kind(run), folder_kind(pt), folder_kind(other)) == ("run", "pretrain", None)
    (run / "glue_rte_v002").mkdir()
    (run / "glue_rte_v002" / "result.json").write_text("{}")
    (run / "glue_cola_v002").mkdir()  # a folder its settings do not name: not ours
    (run / ".run.json.ab12cd34.tmp").write_text("")
    assert clear_for_overwrite(run, "run", "--out") == ["glue_cola_v002"]
