"""`finetune` under FSDP on 2 gloo ranks: sharded in place, whole weights only while validating, DCP resume.

Each run fine-tunes the `tiny` T5 (dropout 0.1, per-micro-batch seeds) for 4 Adafactor steps and
validates at steps 2 and 4 by greedy-decoding fixed inputs with the model object itself; the "metric"
is a function of those predictions, so history and best step follow the decoded outputs. A crash is
an exception in the step-4 validation on both ranks (the step-2 checkpoint is on disk); the resumed
run must end as the uninterrupted one. Checkpoints made by DDP resume under FSDP and back, and one
process resumes a sharded one.
"""

from __future__ import annotations

import dataclasses
import gc
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.distributed.tensor import DTensor

from t5eval.batching import pad_ids
from t5eval.distributed.context import DistContext, init_distributed, shutdown
from t5eval.distributed.parallel import wrap_model
from t5eval.model import DecodeConfig, generate, load_model
from t5eval.model.checkpoint import state_dict_sha256
from t5eval.train.fsdp import whole_weights
from t5eval.train.loop import TrainState, finetune
from t5eval.train.text_step import Snapshot, TrainConfig
from t5eval.train.stream import TrainSource, TrainStream

CFG = TrainConfig(steps=4, eval_every=2, batch_tokens=96, grad_accum=2, seed=5, fsdp=True)
PROBE = DecodeConfig(beam_size=1, max_decode_len=6)


def _model() -> torch.nn.Module:
    return load_model("tiny", init="random", seed=0).model


def _stream() -> TrainStream:
    gen = torch.Generator().manual_seed(7)
    inputs = [[*torch.randint(3, 300, (int(n),), generator=gen).tolist(), 1] for n in torch.randint(3, 12, (48,), generator=gen)]
    targets = [[3 + i % 4, 1] for i in range(48)]
    return TrainStream([TrainSource("toy", inputs, targets)], CFG.batch_tokens, CFG.seed)


def _probe_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    return pad_ids([[*torch.randint(3, 300, (n,), generator=gen).tolist(), 1] for n in (4, 7, 9)])  # (3, S)


def _float_bytes() -> int:
    """Bytes of every live plain floating-point tensor storage in this process (each storage once)."""
    gc.collect()
    storages: dict[int, int] = {}
    for obj in gc.get_objects():
        if issubclass(type(obj), torch.Tensor) and not isinstance(obj, DTensor) and obj.is_floating_point():
            storage = obj.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


class _Probe:
    """The callbacks of one run: decodes with the model at each validation, inspects it in between."""

    def __init__(self, snap: Snapshot, crash_at: int | None = None) -> None:
        self.baseline = _float_bytes()  # before the model exists: `between` counts what training adds
        self.model, self.snap, self.crash_at = _model(), snap, crash_at
        self.preds: dict[int, list[list[int]]] = {}
        self.whole_while_validating: list[bool] = []
        self.sha_of_plain_copy: list[bool | None] = []
        self.between: list[dict[str, Any]] = []

    def evaluate(self, step: int) -> dict[str, dict[str, float]]:
        if step == self.crash_at:
            raise RuntimeError("simulated crash")
        params = list(self.model.parameters())
        self.whole_while_validating.append(all(not isinstance(p, DTensor) for p in params))
        with torch.inference_mode():
            self.preds[step] = generate(self.model, *_probe_inputs(), PROBE)
        plain = self.snap.plain
        self.sha_of_plain_copy.append(None if plain is None else state_dict_sha256(plain) == self.snap.sha256)
        return {"toy": {"score": float(sum(map(sum, self.preds[step])) % 101)}}

    def progress(self, state: TrainState) -> None:
        params = list(self.model.parameters())
        sharded = all(isinstance(p, DTensor) for p in params)
        ratio = max(p.to_local().numel() / p.numel() for p in params) if sharded else 1.0
        self.between.append({"sharded": sharded, "ratio": ratio, "bytes": _float_bytes() - self.baseline})


def _whole(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole weights (gathered on every rank when sharded), by name."""
    return {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().clone()
            for k, v in sorted(model.state_dict().items())}


def _run(ctx: DistContext, ckpt: Path, fsdp: bool, crash_at: int | None = None) -> dict[str, Any]:
    """One fine-tuning (or its crash); what the tests compare."""
    snap = Snapshot()
    probe = _Probe(snap, crash_at)
    model, cfg = probe.model, dataclasses.replace(CFG, fsdp=fsdp)
    try:
        state = finetune(model, _stream(), cfg, ckpt, probe.evaluate, lambda task, step: None,
                         progress=probe.progress, dist=ctx, snapshot=snap)
    except RuntimeError as err:
        return {"crashed": str(err)}
    return {"history": state.history, "best": state.best, "resumed_from": state.resumed_from,
            "preds": probe.preds, "weights": _whole(model), "whole": probe.whole_while_validating,
            "sha_ok": probe.sha_of_plain_copy, "between": probe.between,
            "files": sorted(str(p.relative_to(ckpt.parent)) for p in ckpt.parent.rglob("*") if p.is_file())}


def _hash_part(ctx: DistContext) -> tuple[str, str]:
    """(sha256 of a plain model, sha256 `whole_weights` gives once FSDP has sharded it)."""
    model = _model()
    plain_sha = state_dict_sha256(model)
    wrapped = wrap_model(model, ctx, fsdp=True)
    with whole_weights(wrapped, model, ctx) as (sha, _):
        return plain_sha, sha


def fsdp_run_part(out: Path) -> dict[str, Any]:
    """On each rank: uninterrupted FSDP, crash + resume (FSDP, DDP->FSDP, FSDP->DDP), the hash check."""
    ctx = init_distributed(device="cpu")
    result = {"fresh": _run(ctx, out / "fresh" / "ckpt.pt", fsdp=True)}
    ckpt = out / "resumed" / "ckpt.pt"
    result["crash"] = _run(ctx, ckpt, fsdp=True, crash_at=4)
    if ctx.is_main:  # a torn save of a later step: no done.json
        (out / "resumed" / "ckpt_dcp" / "step_00000006").mkdir()
        (out / "resumed" / "ckpt_dcp" / "step_00000006" / ".metadata").write_bytes(b"torn")
    result["resumed"] = _run(ctx, ckpt, fsdp=True)
    _run(ctx, out / "from_ddp" / "ckpt.pt", fsdp=False, crash_at=4)
    result["from_ddp"] = _run(ctx, out / "from_ddp" / "ckpt.pt", fsdp=True)
    _run(ctx, out / "to_ddp" / "ckpt.pt", fsdp=True, crash_at=4)
    if ctx.is_main:  # kept for the one-process resume in the test process
        shutil.copytree(out / "to_ddp", out / "to_one")
    result["to_ddp"] = _run(ctx, out / "to_ddp" / "ckpt.pt", fsdp=False)
    result["hash"] = _hash_part(ctx)
    shutdown(ctx)
    return result


@pytest.fixture(scope="module")
def runs(dist_session: tuple[Path, dict[str, list]]) -> tuple[Path, list[dict[str, Any]]]:
    out, parts = dist_session
    return out, parts["fsdp_run"]


def _same_run(got: dict[str, Any], want: dict[str, Any], atol: float) -> None:
    """Same predictions, metrics, best step; losses and weights to float rounding."""
    assert got["preds"] == want["preds"]
    assert got["best"] == want["best"]
    for task, entries in want["history"].items():
        for a, b in zip(entries, got["history"][task], strict=True):
            assert (b["step"], b["metrics"]) == (a["step"], a["metrics"])
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    assert got["weights"].keys() == want["weights"].keys()
    for name, tensor in want["weights"].items():
        torch.testing.assert_close(got["weights"][name], tensor, atol=atol, rtol=0, msg=name)


def test_fsdp_run_resumes_from_its_sharded_checkpoint_as_if_uninterrupted(runs: tuple) -> None:
    _, ranks = runs
    for rank in ranks:
        fresh, resumed = rank["fresh"], rank["resumed"]
        assert rank["crash"] == {"crashed": "simulated crash"}
        assert len({str(p) for p in fresh["preds"].values()}) == 2  # the weights moved between validations
        assert resumed["resumed_from"] == [2] and sorted(resumed["preds"]) == [4]  # step 2 was not redone
        _same_run(resumed, {**fresh, "preds": {4: fresh["preds"][4]}}, atol=1e-6)  # history: step 2 from the checkpoint


def test_only_the_newest_complete_sharded_step_is_kept_and_a_torn_one_is_ignored(runs: tuple) -> None:
    """The torn step_6 (no done.json) was not resumed from (resumed at 2) and was deleted by the step-4 save."""
    out, ranks = runs
    files = ranks[0]["resumed"]["files"]
    assert "ckpt.pt" not in files
    steps = {f.split("/")[1] for f in files if f.startswith("ckpt_dcp/")}
    assert steps == {"step_00000004"}
    assert {"ckpt_dcp/step_00000004/done.json", "ckpt_dcp/step_00000004/extra.pt"} <= set(files)
    assert ranks[0]["fresh"]["files"] == files
    assert not (out / "resumed" / "ckpt_dcp" / "step_00000006").exists()


def test_between_validations_the_model_holds_only_its_shards(runs: tuple) -> None:
    """Every parameter is a DTensor of ~1/2 of the whole, and the trainer adds < 0.75 whole models of floats."""
    _, ranks = runs
    model = _model()
    whole_bytes = sum(p.numel() * p.element_size() for p in model.parameters())  # tied head once
    for rank in ranks:
        between = rank["fresh"]["between"]
        assert len(between) == 5  # before step 1, then after each of the 4 steps
        for seen in between:
            assert seen["sharded"] and seen["ratio"] <= 0.51, seen
            assert 0.4 * whole_bytes < seen["bytes"] < 0.75 * whole_bytes, (seen, whole_bytes)
        assert rank["fresh"]["whole"] == [True, True]  # unsharded for each validation's decoding


def test_validation_hash_is_the_plain_model_hash(runs: tuple) -> None:
    _, ranks = runs
    plain_sha, sharded_sha = ranks[0]["hash"]
    assert plain_sha == sharded_sha and ranks[1]["hash"] == ranks[0]["hash"]
    assert ranks[0]["fresh"]["sha_ok"] == [True, True]  # rank 0's plain copy hashes as broadcast
    assert ranks[1]["fresh"]["sha_ok"] == [None, None]  # only rank 0 holds a plain copy


def test_ddp_checkpoint_resumes_under_fsdp_and_back(runs: tuple) -> None:
    """Either kind converts: DDP's one file loads before FSDP shards; DCP reshards onto DDP."""
    _, ranks = runs
    for rank in ranks:
        for name, kept, dropped in (("from_ddp", "ckpt_dcp/", "ckpt.pt"), ("to_ddp", "ckpt.pt", "ckpt_dcp/")):
            run = rank[name]
            assert run["resumed_from"] == [2]
            assert any(f.startswith(kept) for f in run["files"]) and not any(
                f.startswith(dropped) for f in run["files"]), run["files"]
            want = {**rank["fresh"], "preds": {4: rank["fresh"]["preds"][4]}}
            _same_run(run, want, atol=1e-5)


def test_sharded_checkpoint_resumes_in_one_process(runs: tuple) -> None:
    out, ranks = runs
    snap = Snapshot()
    probe = _Probe(snap)
    model, cfg = probe.model, dataclasses.replace(CFG, fsdp=False)
    state = finetune(model, _stream(), cfg, out / "to_one" / "ckpt.pt", probe.evaluate, lambda t, s: None,
                     snapshot=snap)
    assert state.resumed_from == [2] and (out / "to_one" / "ckpt.pt").is_file()
    assert not (out / "to_one" / "ckpt_dcp").exists()
    got = {"history": state.history, "best": state.best, "preds": probe.preds, "weights": _whole(model)}
    _same_run(got, {**ranks[0]["fresh"], "preds": {4: ranks[0]["fresh"]["preds"][4]}}, atol=1e-5)
