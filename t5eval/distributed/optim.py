"""Adafactor under FSDP: step each parameter on its whole tensor, keep the (small) factored state replicated.

torch 2.13's `torch.optim.Adafactor` cannot step FSDP2's sharded (DTensor) parameters: its factored
second moment squares a row/column norm in place, which DTensor refuses on a partial reduction
("aten.pow_.Scalar: in-place operations that require placement changes are not supported").
Stepping on each rank's local shard instead would factor over that shard's rows only, which is not
T5's Adafactor. So `GatheredOptimizer` gathers one parameter and its gradient at a time, runs the
real torch optimizer on the whole tensor (the same update as one process, bit for bit up to the
gather), and writes back this rank's shard. Adafactor's state is a row and a column vector per
matrix, so keeping it whole on every rank costs little; transient memory is one parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor


def _whole(t: torch.Tensor) -> torch.Tensor:
    """The full tensor behind a DTensor shard (an all-gather), or the tensor itself."""
    return t.full_tensor() if isinstance(t, DTensor) else t


def _write_back(param: torch.Tensor, whole: torch.Tensor) -> None:
    """Copy this rank's part of the updated whole tensor into `param` (no communication)."""
    if isinstance(param, DTensor):
        local = distribute_tensor(whole, param.device_mesh, param.placements, src_data_rank=None)
        param.to_local().copy_(local.to_local())
    else:
        param.copy_(whole)


class GatheredOptimizer(torch.optim.Optimizer):
    """Run `inner_cls` (default `torch.optim.Adafactor`) parameter by parameter on whole tensors.

    Param groups and state use the inner optimizer's keys and shapes, so a checkpoint saved under
    FSDP with this class loads into the plain inner optimizer of a one-process run, and back.
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        inner_cls: type[torch.optim.Optimizer] = torch.optim.Adafactor,
        **hyper: Any,
    ) -> None:
        probe = inner_cls([nn.Parameter(torch.zeros(1))], **hyper)
        super().__init__(params, dict(probe.defaults))
        self.inner_cls = inner_cls

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One optimizer step over every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            for param in group["params"]:
                if param.grad is not None:
                    self._step_one(param, hyper)
        return loss

    def _step_one(self, param: torch.Tensor, hyper: dict[str, Any]) -> None:
        """Gather param and grad, step the inner optimizer on them, keep its state, write back."""
        assert param.grad is not None  # step() skips parameters without a gradient
        proxy = nn.Parameter(_whole(param.detach()).clone())  # full shape of the parameter
        proxy.grad = _whole(param.grad).clone()
        inner = self.inner_cls([proxy], **hyper)
        if self.state.get(param):
            inner.state[proxy] = self.state[param]
        inner.step()
        self.state[param] = inner.state[proxy]
        _write_back(param, proxy.detach())
