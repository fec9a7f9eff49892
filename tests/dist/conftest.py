"""tests/dist: one torch thread in the test process too (the ranks use one each; the CPU is shared)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """OpenMP spin-waits make 2 threads ~10× slower than 1 when other processes hold the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
