"""Two-process DDP and FSDP fine-tuning of a tiny T5 give the parameters of one process, same global batch.

Reference: a plain loop written here (model.loss / grad_accum, torch.optim.Adafactor), independent
of `t5eval.dist_train`. Adafactor's update depends only on the averaged gradient, so the runs agree
to float rounding. Dropout is off (ranks draw their own dropout masks by design).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from t5eval.dist_checkpoint import full_model_state, load_checkpoint, save_checkpoint
from t5eval.dist_optim import GatheredOptimizer
from t5eval.dist_train import grad_sync, plan_batches, wrap_model
from t5eval.distributed import init_distributed, shutdown
from t5eval.model import T5, T5Config

STEPS, GRAD_ACCUM, LR = 3, 4, 1e-2
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _model() -> T5:
    torch.manual_seed(0)
    return T5(dataclasses.replace(T5Config.preset("tiny"), dropout_rate=0.0))


def _micro_batch(gen: torch.Generator) -> Batch:
    """Two rows of different lengths, right-padded; padded label positions are -100."""
    src_len = torch.randint(3, 9, (2,), generator=gen).tolist()
    tgt_len = torch.randint(1, 5, (2,), generator=gen).tolist()
    ids = torch.zeros(2, max(src_len), dtype=torch.long)  # (B, S)
    labels = torch.full((2, max(tgt_len)), -100, dtype=torch.long)  # (B, T)
    for row in range(2):
        ids[row, : src_len[row]] = torch.randint(3, 500, (src_len[row],), generator=gen)
        labels[row, : tgt_len[row]] = torch.randint(3, 500, (tgt_len[row],), generator=gen)
    return ids, (ids > 0).long(), labels


def _steps() -> list[list[Batch]]:
    gen = torch.Generator().manual_seed(1234)
    return [[_micro_batch(gen) for _ in range(GRAD_ACCUM)] for _ in range(STEPS)]


def _reference() -> dict[str, torch.Tensor]:
    model = _model()
    opt = torch.optim.Adafactor(model.parameters(), lr=LR)
    for micro_batches in _steps():
        for batch in micro_batches:
            (model.loss(*batch) / GRAD_ACCUM).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _train(wrapped: torch.nn.Module, opt: torch.optim.Optimizer, rank: int, world: int, steps: list) -> None:
    plan = plan_batches(GRAD_ACCUM, world)
    for micro_batches in steps:
        owned = plan.owned(rank)
        for j, m in enumerate(owned):
            with grad_sync(wrapped, sync=j == len(owned) - 1):
                (wrapped(*micro_batches[m]) * plan.loss_scale).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)


def _optimizer(wrapped: torch.nn.Module, fsdp: bool) -> torch.optim.Optimizer:
    """torch's Adafactor; under FSDP run on gathered whole tensors (it cannot step DTensor shards)."""
    if fsdp:
        return GatheredOptimizer(wrapped.parameters(), lr=LR)
    return torch.optim.Adafactor(wrapped.parameters(), lr=LR)


def train_part(out: Path) -> dict[str, dict[str, torch.Tensor]]:
    """On each rank: DDP training, FSDP training, and FSDP training of 2 steps saved with DCP."""
    ctx = init_distributed(device="cpu")
    results = {}
    for name, fsdp in (("ddp", False), ("fsdp", True)):
        wrapped = wrap_model(_model(), ctx, fsdp=fsdp)
        opt = _optimizer(wrapped, fsdp)
        _train(wrapped, opt, ctx.rank, ctx.world_size, _steps())
        results[name] = full_model_state(wrapped, ctx)
    wrapped = wrap_model(_model(), ctx, fsdp=True)
    opt = _optimizer(wrapped, fsdp=True)
    _train(wrapped, opt, ctx.rank, ctx.world_size, _steps()[:2])
    save_checkpoint(wrapped, opt, 2, out / "ckpt", ctx)
    shutdown(ctx)
    return results


@pytest.fixture(scope="module")
def dist_run(dist_session: tuple[Path, dict[str, list]]) -> tuple[Path, list[dict[str, dict[str, torch.Tensor]]]]:
    out, parts = dist_session
    return out, parts["train"]


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return _reference()


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    init = _model().state_dict()
    assert set(got) == set(want)
    moved = max(float((want[k] - init[k]).abs().max()) for k in want)
    assert moved > 1e-3  # training really changed the weights
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=1e-5, rtol=1e-4, msg=k)


def test_ddp_two_processes_match_one_process(dist_run: tuple, reference: dict) -> None:
    _, (rank0, rank1) = dist_run
    assert rank1["ddp"] == {}  # only rank 0 materialises the full state
    _assert_same(rank0["ddp"], reference)


def test_fsdp_two_processes_match_one_process(dist_run: tuple, reference: dict) -> None:
    _, (rank0, rank1) = dist_run
    assert rank1["fsdp"] == {}
    _assert_same(rank0["fsdp"], reference)


def test_fsdp_checkpoint_resumes_in_one_process(dist_run: tuple, reference: dict) -> None:
    """Saved sharded by 2 ranks after 2 steps; resumed unsharded in 1 process for step 3: equals 3 plain steps."""
    out, _ = dist_run
    ctx = init_distributed(env={})
    wrapped = wrap_model(_model(), ctx)
    opt = torch.optim.Adafactor(wrapped.parameters(), lr=LR)
    assert load_checkpoint(wrapped, opt, out / "ckpt", ctx) == 2
    _train(wrapped, opt, 0, 1, _steps()[2:])
    _assert_same(full_model_state(wrapped, ctx), reference)
