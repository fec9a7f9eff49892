"""Shared test paths. `../shared` (beside the repo) holds the real data and the T5 vocab."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("T5EVAL_SHARED", REPO_ROOT.parent / "shared"))
DATA_DIR = SHARED / "data"
VOCAB = SHARED / "vocab" / "t5_spiece.model"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.fail(f"shared data not found at {DATA_DIR}; set T5EVAL_SHARED to the shared/ folder")
    return DATA_DIR


@pytest.fixture(scope="session")
def vocab_path() -> Path:
    if not VOCAB.is_file():
        pytest.fail(f"T5 vocab not found at {VOCAB}; set T5EVAL_SHARED to the shared/ folder")
    return VOCAB
