"""tests/dist: one torch thread in the test process too (the ranks use one each; the CPU is shared)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """OpenMP spin-waits make 2 threads ~10× slower than 1 when other processes hold the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def dist_session(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, vocab_path: Path
) -> tuple[Path, dict[str, list[Any]]]:
    """Spawn 2 gloo ranks once; returns (their output folder, {part: [rank 0 result, rank 1 result]})."""
    from .dist_workers import free_ports, session_worker, spawn

    out = tmp_path_factory.mktemp("dist")
    ranks = spawn(session_worker, 2, out, data_dir, vocab_path, free_ports(4))
    return out, {part: [r[part] for r in ranks] for part in ranks[0]}
