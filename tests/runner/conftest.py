"""Fixtures of the runner tests: one fine-tuned tiny run shared by the tests that read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import base_args, cli

CB = "super_glue_cb_v102"
# CB: tiny training budget, 4 eval examples; validation (and a checkpoint) every 2 steps
FT_ARGS = ["cb", "--limit", "4", "--steps", "4", "--eval-every", "2", "--batch-tokens", "256",
           "--max-input-len", "48", "--seed", "3"]


@pytest.fixture(scope="session")
def finetuned(tmp_path_factory, vocab_path, data_dir) -> Path:
    """A finished `t5eval run` of FT_ARGS (the reference for the resume tests)."""
    out = tmp_path_factory.mktemp("runs") / "ft"
    assert cli(["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", out]) == 0
    return out
