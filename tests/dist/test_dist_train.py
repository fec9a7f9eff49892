"""Two-process DDP and FSDP fine-tuning of a tiny T5 give the parameters of one process, same global batch.

Reference: a plain loop written here (every token loss of the step summed, divided by the step's target
tokens, as Mesh TF normalises over micro-batches; torch.optim.Adafactor), independent
of `t5eval.distributed.parallel`. Adafactor's update depends only on the averaged gradient, so the runs agree
to float rounding. Dropout is off (ranks draw their own dropout masks by design).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from t5eval.distributed.checkpoint import full_model_state, load_checkpoint, save_checkpoint
from t5eval.distributed.parallel import micro_batch_seed, optimizer_for, plan_batches, train_step, wrap_model
from t5eval.distributed.context import DistContext, init_distributed, shutdown
from t5eval.model import T5, T5Config

STEPS, GRAD_ACCUM, LR = 3, 4, 1e-2
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _model(dropout: float = 0.0) -> T5:
    torch.manual_seed(0)
    return T5(dataclasses.replace(T5Config.preset("tiny"), dropout_rate=dropout))


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


def _reference(dropout: float = 0.0) -> dict[str, torch.Tensor]:
    """One process; with dropout, micro-batch m of step s draws its masks from micro_batch_seed(0, s, m)."""
    model = _model(dropout)
    opt = torch.optim.Adafactor(model.parameters(), lr=LR)
    for step, micro_batches in enumerate(_steps(), start=1):
        targets = sum(int((labels != -100).sum()) for _, _, labels in micro_batches)
        for m, batch in enumerate(micro_batches):
            torch.manual_seed(micro_batch_seed(0, step, m))
            (model.loss(*batch, reduction="sum") / targets).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Stream:
    """The test's micro-batches in order, as `TrainStream.next_batch` would hand them out."""

    def __init__(self, steps: list[list[Batch]]) -> None:
        self._batches = iter([b for step in steps for b in step])

    def next_batch(self) -> SimpleNamespace:
        ids, mask, labels = next(self._batches)
        return SimpleNamespace(input_ids=ids, attention_mask=mask, labels=labels, n_tokens=int(mask.sum()))


def _train(model: T5, ctx: DistContext, fsdp: bool, steps: list[list[Batch]]) -> tuple[torch.nn.Module, Any]:
    """Wrap, build the optimizer as the runner does (on the plain model first), train `steps`."""
    opt = torch.optim.Adafactor(model.parameters(), lr=LR)
    wrapped = wrap_model(model, ctx, fsdp=fsdp)
    opt = optimizer_for(opt, wrapped, fsdp)
    stream, plan = _Stream(steps), plan_batches(GRAD_ACCUM, ctx.world_size)
    for step in range(1, len(steps) + 1):
        train_step(wrapped, opt, stream, plan, ctx, dropout_seed=(0, step))
    return wrapped, opt


def train_part(out: Path) -> dict[str, dict[str, torch.Tensor]]:
    """On each rank: DDP training, FSDP training, and FSDP training of 2 steps saved with DCP."""
    ctx = init_distributed(device="cpu")
    results = {}
    for name, fsdp in (("ddp", False), ("fsdp", True)):
        wrapped, _ = _train(_model(), ctx, fsdp, _steps())
        results[name] = full_model_state(wrapped, ctx)
    wrapped, _ = _train(_model(dropout=0.1), ctx, False, _steps())
    results["ddp_dropout"] = full_model_state(wrapped, ctx)
    wrapped, opt = _train(_model(), ctx, True, _steps()[:2])
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


@pytest.fixture(scope="module")
def reference_dropout() -> dict[str, torch.Tensor]:
    return _reference(dropout=0.1)


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


def test_ddp_with_dropout_matches_one_process_under_the_micro_batch_seed_policy(
    dist_run: tuple, reference: dict, reference_dropout: dict
) -> None:
    _, (rank0, _) = dist_run
    _assert_same(rank0["ddp_dropout"], reference_dropout)
    differs = max(float((reference_dropout[k] - reference[k]).abs().max()) for k in reference)
    assert differs > 1e-4  # dropout really acted


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
    train_step(wrapped, opt, _Stream(_steps()[2:]), plan_batches(GRAD_ACCUM, 1), ctx, dropout_seed=(0, 3))
    _assert_same(full_model_state(wrapped, ctx), reference)
