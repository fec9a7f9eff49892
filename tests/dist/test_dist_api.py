"""One-process behaviour of t5eval.distributed.context / dist_train / dist_checkpoint (no process group)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from t5eval.distributed.checkpoint import latest_step, load_checkpoint, save_checkpoint, step_dir
from t5eval.distributed.parallel import LossModule, micro_batch_seed, plan_batches, unwrap_model, wrap_model
from t5eval.distributed.context import (
    DistContext,
    gather_by_index,
    init_distributed,
    shard_batches,
    shard_indices,
)
from t5eval.errors import T5evalError


def test_no_torchrun_env_means_single_process_without_group() -> None:
    ctx = init_distributed(env={})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.backend) == (0, 1, 0, None)
    assert ctx.is_main and not ctx.is_distributed
    assert not dist.is_initialized()


def test_partial_torchrun_env_names_the_missing_variables() -> None:
    with pytest.raises(T5evalError, match="MASTER_ADDR, MASTER_PORT not set"):
        init_distributed(env={"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_non_integer_rank_and_bad_timeout_are_user_errors() -> None:
    env = {"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"}
    with pytest.raises(T5evalError, match="must be integers"):
        init_distributed(device="cpu", env=env)
    with pytest.raises(T5evalError, match="T5EVAL_DIST_TIMEOUT_S"):
        init_distributed(env={"T5EVAL_DIST_TIMEOUT_S": "ten"})


def test_timeout_comes_from_env_when_not_given() -> None:
    assert init_distributed(env={"T5EVAL_DIST_TIMEOUT_S": "42"}).timeout_s == 42.0
    assert init_distributed(timeout_s=5, env={"T5EVAL_DIST_TIMEOUT_S": "42"}).timeout_s == 5.0


def _ctx(rank: int, world: int) -> DistContext:
    return DistContext(rank=rank, world_size=world, local_rank=rank, backend="gloo")


def test_shard_indices_contiguous_and_strided_by_hand() -> None:
    # 10 items over 3 ranks: sizes 4, 3, 3
    assert [shard_indices(10, _ctx(r, 3)) for r in range(3)] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [shard_indices(10, _ctx(r, 3), strided=True) for r in range(3)] == [
        [0, 3, 6, 9],
        [1, 4, 7],
        [2, 5, 8],
    ]
    assert [shard_indices(1, _ctx(r, 2)) for r in range(2)] == [[0], []]


def test_shard_batches_strides_whole_batches() -> None:
    batches = [[0, 1], [2], [3, 4], [5], [6]]
    assert shard_batches(batches, _ctx(0, 2)) == [[0, 1], [3, 4], [6]]
    assert shard_batches(batches, _ctx(1, 2)) == [[2], [5]]


def test_gather_by_index_single_process_orders_and_checks_count() -> None:
    ctx = DistContext()
    assert list(gather_by_index({3: "c", 1: "a", 2: "b"}, ctx).items()) == [(1, "a"), (2, "b"), (3, "c")]
    with pytest.raises(RuntimeError, match="expected 4"):
        gather_by_index({1: "a"}, ctx, expected=4)


def test_plan_batches_arithmetic_and_error() -> None:
    plan = plan_batches(grad_accum=4, world_size=2)
    assert (plan.local_accum, plan.owned(0), plan.owned(1)) == (2, [0, 2], [1, 3])
    assert plan_batches(3, 1).owned(0) == [0, 1, 2]  # one process trains every micro-batch
    with pytest.raises(T5evalError, match="use --grad-accum 4"):
        plan_batches(grad_accum=3, world_size=2)


def test_micro_batch_seed_depends_on_seed_step_and_index_only() -> None:
    seeds = {micro_batch_seed(s, t, m) for s in (0, 1) for t in (1, 2) for m in (0, 1)}
    assert len(seeds) == 8 and micro_batch_seed(3, 2, 1) == micro_batch_seed(3, 2, 1)
    assert all(0 <= x < 2**63 for x in seeds)  # a valid torch.manual_seed




class _Toy(nn.Module):
    """A model with T5's `loss(input_ids, attention_mask, labels)` signature."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(11, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.head = nn.Linear(4, 11)

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.emb(input_ids) * attention_mask[..., None]  # (B, S, 4)
        for block in self.blocks:
            h = torch.tanh(block(h))
        logits = self.head(h.mean(1, keepdim=True)).expand(-1, labels.shape[1], -1)  # (B, T, 11)
        return nn.functional.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[1, 2, 3], [4, 5, 0]])
    return ids, (ids > 0).long(), torch.tensor([[6, 7], [8, -100]])


def test_single_process_wrap_is_a_plain_loss_module() -> None:
    torch.manual_seed(0)
    model = _Toy()
    wrapped = wrap_model(model, DistContext())
    assert isinstance(wrapped, LossModule) and unwrap_model(wrapped) is model
    assert torch.equal(wrapped(*_batch()), model.loss(*_batch()))


def test_checkpoint_roundtrip_and_incomplete_saves_are_ignored(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ctx = DistContext()
    wrapped = wrap_model(_Toy(), ctx)
    opt = torch.optim.Adafactor(wrapped.parameters(), lr=1e-2)
    wrapped(*_batch()).backward()
    opt.step()
    save_checkpoint(wrapped, opt, 1, tmp_path, ctx)
    step_dir(tmp_path, 2).mkdir()  # a save that died before done.json
    assert latest_step(tmp_path) == 1
    want = {k: v.clone() for k, v in wrapped.state_dict().items()}
    want_vr = {k: v.clone() for k, v in opt.state[next(iter(wrapped.parameters()))].items()}

    torch.manual_seed(1)
    fresh = wrap_model(_Toy(), ctx)
    fresh_opt = torch.optim.Adafactor(fresh.parameters(), lr=1e-2)
    assert load_checkpoint(fresh, fresh_opt, tmp_path, ctx) == 1
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, want[k]), k
    got_vr = fresh_opt.state[next(iter(fresh.parameters()))]
    assert all(torch.equal(torch.as_tensor(got_vr[k]), torch.as_tensor(v)) for k, v in want_vr.items())


def test_load_without_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    wrapped = wrap_model(_Toy(), DistContext())
    with pytest.raises(T5evalError, match="no complete checkpoint"):
        load_checkpoint(wrapped, torch.optim.SGD(wrapped.parameters(), lr=0.1), tmp_path, DistContext())
