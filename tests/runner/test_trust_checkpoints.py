"""Issue 22: a results folder cannot run code, and a damaged checkpoint is one `error:` line (exit 2).

A pickle whose `__reduce__` writes a marker file is planted where `t5eval run` / `t5eval pretrain` read
training state: `<task>/checkpoint.pt`, `_mixture/checkpoint.pt`, `checkpoint_dcp/step_N/extra.pt`, the
DCP `.metadata`, and pre-training's `D/checkpoint.pt`. The marker must never appear.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import t5eval.run.flow as flow
from t5eval.distributed.checkpoint import load_checkpoint, load_extra, save_checkpoint, step_dir
from t5eval.distributed.context import DistContext
from t5eval.errors import T5evalError
from t5eval.io import sha256_file

from .conftest import CB, FT_ARGS
from .helpers import base_args, cli


class Planted:
    """Unpickling this runs `exec`, which writes `marker`: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def plant(path: Path, marker: Path) -> None:
    """A torch.save'd checkpoint-shaped dict whose unpickling writes `marker`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}, "optimizer": {}, "stream": Planted(marker), "torch_rng": torch.zeros(1), "state": {}},
               path)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def assert_one_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def unfinished_run(out: Path, vocab_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                   *extra: str) -> list[str]:
    """A run folder as a kill during fine-tuning leaves it (settings written, training not done); its args."""
    args = ["run", *FT_ARGS, *extra, *base_args(vocab_path, data_dir), "--out", str(out)]

    def killed(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(flow, "finetune_tasks", killed)
        with pytest.raises(RuntimeError, match="killed"):
            cli(args)
    return args


@pytest.mark.parametrize(("extra", "where"), [((), CB), (("--mixture",), "_mixture")])
def test_planted_checkpoint_of_a_run_runs_no_code(extra, where, tmp_path, vocab_path, data_dir, monkeypatch,
                                                  capsys):
    out, marker = tmp_path / "run", tmp_path / "PWNED"
    args = unfinished_run(out, vocab_path, data_dir, monkeypatch, *extra)
    plant(out / where / "checkpoint.pt", marker)
    capsys.readouterr()
    assert cli(args) == 2
    assert not marker.exists()
    assert_one_error(capsys, f"{where}/checkpoint.pt", "not written by t5eval", "delete")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated"], ids=["zero-byte", "truncated"])
def test_damaged_run_checkpoint_is_one_error_line(content, tmp_path, vocab_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "run"
    args = unfinished_run(out, vocab_path, data_dir, monkeypatch)
    (out / CB / "checkpoint.pt").write_bytes(content)
    capsys.readouterr()
    assert cli(args) == 2
    assert_one_error(capsys, f"{CB}/checkpoint.pt", "delete", "--overwrite")
    assert (out / "settings.json").is_file()  # nothing else lost


def test_truncated_real_checkpoint_is_one_error_line(tmp_path, vocab_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "run"
    args = unfinished_run(out, vocab_path, data_dir, monkeypatch)
    real = tmp_path / "real.pt"
    torch.save({"model": {"w": torch.randn(64, 64)}, "optimizer": {}, "stream": {}, "torch_rng": torch.get_rng_state(),
                "state": {"step": 2}}, real)
    data = real.read_bytes()
    (out / CB / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert cli(args) == 2
    assert_one_error(capsys, "checkpoint.pt", "truncated or corrupt")


# --- sharded (DCP) checkpoints -----------------------------------------------------------------------------

def _sharded(root: Path) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    opt = torch.optim.Adafactor(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_checkpoint(model, opt, 4, root, DistContext(), extra={"stream": {"position": 7}, "state": {"step": 4}})
    return model, opt


def _forge_manifest(folder: Path) -> None:
    """Rewrite done.json's sha256 list to match the folder as it is now (an attacker can do that too)."""
    done = json.loads((folder / "done.json").read_text())
    done["files"] = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
                     if p.is_file() and p.name != "done.json"}
    (folder / "done.json").write_text(json.dumps(done))


@pytest.mark.parametrize("forged", [False, True], ids=["manifest-kept", "manifest-forged"])
def test_planted_extra_pt_runs_no_code(forged, tmp_path):
    root, marker = tmp_path / "checkpoint_dcp", tmp_path / "PWNED"
    _sharded(root)
    assert load_extra(root, 4)["stream"] == {"position": 7}  # what t5eval saved loads
    torch.save({"stream": Planted(marker)}, step_dir(root, 4) / "extra.pt")
    if forged:
        _forge_manifest(step_dir(root, 4))
    with pytest.raises(T5evalError, match="extra.pt" if forged else "extra.pt is changed") as err:
        load_extra(root, 4)
    assert not marker.exists()
    assert "\n" not in str(err.value) and "delete" in str(err.value)


@pytest.mark.parametrize("forged", [False, True], ids=["manifest-kept", "manifest-forged"])
def test_planted_dcp_metadata_runs_no_code(forged, tmp_path):
    root, marker = tmp_path / "checkpoint_dcp", tmp_path / "PWNED"
    model, opt = _sharded(root)
    import pickle

    (step_dir(root, 4) / ".metadata").write_bytes(pickle.dumps(Planted(marker)))
    if forged:
        _forge_manifest(step_dir(root, 4))
    with pytest.raises(T5evalError, match=r"\.metadata") as err:
        load_checkpoint(model, opt, root, DistContext())
    assert not marker.exists()
    assert "\n" not in str(err.value)


def test_sharded_step_without_manifest_is_refused(tmp_path):
    root = tmp_path / "checkpoint_dcp"
    model, opt = _sharded(root)
    assert load_checkpoint(model, opt, root, DistContext()) == 4  # ours, as saved, loads
    (step_dir(root, 4) / "done.json").write_text(json.dumps({"step": 4, "world_size": 1}))
    with pytest.raises(T5evalError, match="lists no sha256"):
        load_checkpoint(model, opt, root, DistContext())


@pytest.mark.parametrize("planted", [".metadata", "extra.pt"])
def test_planted_sharded_file_in_a_run_folder_is_one_error_line(planted, tmp_path, vocab_path, data_dir, monkeypatch,
                                                                capsys):
    """End to end: resume finds `checkpoint_dcp/step_N/` and refuses in one line: a planted `.metadata` even
    with a forged manifest; a planted `extra.pt` in a step whose manifest (written by t5eval) it does not match."""
    import pickle

    out, marker = tmp_path / "run", tmp_path / "PWNED"
    args = unfinished_run(out, vocab_path, data_dir, monkeypatch)
    step = step_dir(out / CB / "checkpoint_dcp", 2)
    step.mkdir(parents=True)
    (step / "done.json").write_text(json.dumps({"step": 2, "world_size": 1}))
    if planted == ".metadata":
        (step / ".metadata").write_bytes(pickle.dumps(Planted(marker)))
        _forge_manifest(step)
    else:
        (step / "extra.pt").write_bytes(b"what t5eval saved")
        _forge_manifest(step)  # the manifest of the saved step ...
        torch.save({"stream": Planted(marker)}, step / "extra.pt")  # ... then extra.pt replaced
    capsys.readouterr()
    assert cli(args) == 2
    assert not marker.exists()
    assert_one_error(capsys, planted, "delete")
