"""`t5eval run --device/--dtype`: device checks, bf16 autocast on CPU, both recorded and fingerprinted.

No GPU exists on the test machine: CUDA runs are untested here; `--device cuda` must fail cleanly.
"""

from __future__ import annotations

import pytest
import torch

from t5eval.batching import forward_precision, in_precision

from .conftest import CB
from .helpers import base_args, cli, read_json

TINY = ["cb", "--limit", "2", "--steps", "1", "--eval-every", "1", "--batch-tokens", "256",
        "--max-input-len", "32"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize(("device", "message"), [
    ("cuda", "--device cuda but CUDA is not available on this machine; use --device cpu"),
    ("cuda:1", "--device cuda:1 but CUDA is not available on this machine; use --device cpu"),
    ("gpu", "--device 'gpu' is not cpu, cuda, cuda:N or mps"),
    ("cpu:0", "--device 'cpu:0' is not cpu, cuda, cuda:N or mps"),
])  # fmt: skip
def test_an_unavailable_or_unknown_device_is_one_line(device, message, vocab_path, data_dir, tmp_path, capsys):
    out = tmp_path / "x"
    assert cli(["run", *TINY, *base_args(vocab_path, data_dir), "--device", device, "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1
    assert not out.exists()


def test_an_unknown_dtype_is_one_line(vocab_path, data_dir, tmp_path, capsys):
    assert cli(["run", *TINY, *base_args(vocab_path, data_dir), "--dtype", "bfloat", "--out", tmp_path / "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --dtype 'bfloat' is not one of float32, bfloat16") and "did you mean bfloat16" in err


def test_bf16_autocast_casts_matmuls_only_inside():
    layer = torch.nn.Linear(4, 3)
    x = torch.ones(2, 4)
    with forward_precision(torch.device("cpu"), "bfloat16"):
        assert layer(x).dtype == torch.bfloat16  # CPU autocast runs linear in bf16
    with forward_precision(torch.device("cpu"), "float32"):
        assert layer(x).dtype == torch.float32
    assert in_precision(layer, torch.device("cpu"), "bfloat16")(x).dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32  # weights are never cast


def test_bf16_on_cpu_runs_end_to_end_and_is_recorded(vocab_path, data_dir, tmp_path, capsys):
    out = tmp_path / "bf16"
    args = ["run", *TINY, *base_args(vocab_path, data_dir), "--device", "cpu", "--dtype", "bfloat16", "--out", out]
    assert cli(args) == 0
    run = read_json(out / "run.json")
    assert run["settings"]["dtype"] == "bfloat16" and run["settings"]["device"] == "cpu"
    assert run["env"]["dtype"] == "bfloat16" and run["env"]["device"] == "cpu" and "CPU" in run["env"]["device_name"]
    assert read_json(out / "settings.json")["settings"]["dtype"] == "bfloat16"
    assert run["tasks"][CB]["finetuned"] and run["tasks"][CB]["n"] == 2
    command = run["command"]
    assert command[command.index("--dtype") + 1] == "bfloat16" and command[command.index("--device") + 1] == "cpu"
    capsys.readouterr()
    fp32 = ["run", *TINY, *base_args(vocab_path, data_dir), "--device", "cpu", "--out", out]
    assert cli(fp32) == 2  # the same run dir with another dtype is refused like any other setting change
    assert "dtype: 'bfloat16' there, 'float32' now" in capsys.readouterr().err
