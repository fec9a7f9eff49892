"""scripts/device_check.sh without a GPU: a one-line error, exit 2, and a JSON saying nothing ran."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "device_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this checks the refusal on a machine without CUDA")
def test_device_check_refuses_cleanly_without_cuda(tmp_path):
    out = tmp_path / "dc.json"
    done = subprocess.run([str(SCRIPT), str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: CUDA is not available") and done.stderr.count("\n") == 1
    report = json.loads(out.read_text())
    assert report["cuda_available"] is False and report["ran"] is False and report["steps"] == {}
