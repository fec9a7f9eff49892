"""Issue 14 item 12: `tasks` header and aliases, --help not cut, absolute data paths in run.json,
fine-tuned checkpoints labelled as such, and diff messages that list each run's tasks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import CB
from .helpers import cli, read_json

RTE = "glue_rte_v002"


def test_tasks_has_a_header_and_lists_aliases(capsys):
    assert cli(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TASK", "BENCHMARK", "ALIASES", "(also", "accepted)", "SPLITS", "METRICS"]
    sst2 = next(line for line in lines if line.startswith("glue_sst2_v002 "))
    assert "sst2" in sst2.split()[2].split(",")


@pytest.mark.parametrize("command", ["bench", "run", "score", "report"])
def test_help_is_not_cut(command, capsys):
    assert cli([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    if command == "bench":
        assert "--e2e-max-decode-len" in out


@pytest.fixture(scope="module")
def rte_run(tmp_path_factory, vocab_path, data_dir) -> Path:
    """An RTE run started in the data's parent folder with a relative --data-dir."""
    out = tmp_path_factory.mktemp("rel") / "rte"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(data_dir.parent)
        assert cli(["run", "rte", "--model", "tiny", "--init", "random", "--vocab", vocab_path, "--data-dir",
                    data_dir.name, "--no-finetune", "--limit", "2", "--threads", "1", "--out", out]) == 0
    return out


def test_run_json_and_settings_json_store_the_same_absolute_data_paths(rte_run, data_dir):
    root = str(data_dir.resolve())
    record, settings = read_json(rte_run / "run.json"), read_json(rte_run / "settings.json")["settings"]
    assert record["settings"]["data_dir"] == settings["data_dir"] == root
    task = record["tasks"][RTE]
    assert task["data_source"] == f"local:{root}"
    assert task["data_files"] and all(Path(p).is_absolute() and p.startswith(root) for p in task["data_files"])


def _rerun(model: Path, out: Path, vocab_path: Path, data_dir: Path) -> dict:
    assert cli(["run", "cb", "--model", model, "--vocab", vocab_path, "--data-dir", data_dir, "--no-finetune",
                "--limit", "2", "--threads", "1", "--out", out]) == 0
    return read_json(out / "run.json")["model"]


def test_a_finetuned_checkpoint_is_labelled_finetuned(finetuned, tmp_path, vocab_path, data_dir):
    best_step = read_json(finetuned / "run.json")["tasks"][CB]["best_step"]
    expected = {"kind": "finetuned", "run_id": finetuned.name, "task": CB, "step": best_step}
    model = _rerun(finetuned / CB / "best", tmp_path / "new", vocab_path, data_dir)
    assert model["init"] == "finetuned" and model["finetuned_from"].items() >= expected.items()
    # a best/ written before checkpoints carried t5eval_checkpoint.json: the run.json beside it tells
    old = tmp_path / "old_run"
    shutil.copytree(finetuned / CB / "best", old / CB / "best")
    (old / CB / "best" / "t5eval_checkpoint.json").unlink()
    shutil.copy(finetuned / "run.json", old / "run.json")
    model = _rerun(old / CB / "best", tmp_path / "again", vocab_path, data_dir)
    assert model["init"] == "finetuned" and model["finetuned_from"].items() >= expected.items()


def test_diff_of_runs_sharing_no_task_lists_each_runs_tasks(finetuned, rte_run, capsys):
    capsys.readouterr()
    assert cli(["diff", finetuned, rte_run]) == 2
    err = capsys.readouterr().err.strip()
    assert f"run {finetuned.name} has {CB}; run {rte_run.name} has {RTE}" in err and "pass --task" not in err
    for task in (CB, "cb"):
        assert cli(["diff", finetuned, rte_run, "--task", task]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "did you mean" not in err
        assert f"task '{CB}' is not in run {rte_run.name}" in err and f"run {rte_run.name} has {RTE}" in err
