"""T5's SuperGLUE mixture trains on DPR too: `mixture_extra` in benchmarks.yaml, strictly validated."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from t5eval.errors import T5evalError
from t5eval.run.flow import mixture_train_specs, train_source
from t5eval.run.options import RunOptions
from t5eval.tasks import TaskRegistry

# spec §2, "SuperGLUE mixture weights (by example count)"
SUPER_GLUE_MIXTURE = {
    "dpr_v001_simple": 1322, "super_glue_wsc_v102_simple_train": 259, "super_glue_boolq_v102": 9427,
    "super_glue_cb_v102": 250, "super_glue_copa_v102": 400, "super_glue_multirc_v102": 27243,
    "super_glue_record_v102": 138854, "super_glue_rte_v102": 2490, "super_glue_wic_v102": 5428,
}  # fmt: skip


def _ctx(target: str, data_dir=None) -> SimpleNamespace:
    logged: list[str] = []
    opts = RunOptions(target=target, model="tiny", data_dir=data_dir)
    return SimpleNamespace(opts=opts, registry=TaskRegistry.default(), log=logged.append, logged=logged)


def test_the_super_glue_mixture_is_t5s_super_glue_v102_proportional():
    ctx = _ctx("super_glue")
    members = mixture_train_specs(ctx, ctx.registry.resolve("super_glue"))
    assert {m.name: m.mixture_weight for m in members} == SUPER_GLUE_MIXTURE
    assert "dpr_v001_simple: trained on in the mixture (weight 1322), not evaluated" in ctx.logged
    assert "dpr_v001_simple" not in [s.name for s in ctx.registry.resolve("super_glue")]  # never evaluated


def test_a_task_list_adds_no_training_only_member():
    ctx = _ctx("cb,copa")
    members = mixture_train_specs(ctx, ctx.registry.resolve("cb,copa"))
    assert [m.name for m in members] == ["super_glue_cb_v102", "super_glue_copa_v102"]


def test_a_member_without_local_train_data_is_named(data_dir):
    ctx = _ctx("super_glue", data_dir)
    assert train_source(ctx, ctx.registry.get("dpr"), 1322, mixture=True) is None  # no dpr/ in shared data
    assert ctx.logged == [f"no train split for dpr_v001_simple in {data_dir}: the mixture trains without it"]


@pytest.mark.parametrize(("extra", "message"), [
    ("dpr_v01_simple", "mixture_extra 'dpr_v01_simple' is not a task (did you mean dpr_v001_simple"),
    ("super_glue_cb_v102", "mixture_extra 'super_glue_cb_v102' is already a member of super_glue"),
    ("super_glue_axb_v102", "mixture_extra 'super_glue_axb_v102' has mixture_weight 0"),
])  # fmt: skip
def test_mixture_extra_is_validated_strictly(extra, message):
    reg = TaskRegistry.default()
    bench = replace(reg.benchmark("super_glue"), mixture_extra=(extra,))
    with pytest.raises(T5evalError) as err:
        TaskRegistry(reg.tasks, {**reg.benchmarks, "super_glue": bench})
    assert str(err.value).startswith("benchmarks.yaml: benchmark super_glue: ") and message in str(err.value)


def test_mixture_extra_parses_from_yaml(tmp_path):
    from t5eval.tasks.spec import parse_benchmarks

    path = tmp_path / "benchmarks.yaml"
    path.write_text("b:\n  split: validation\n  members: [x]\n  mixture_extra: [y]\n")
    assert parse_benchmarks(path)["b"].mixture_extra == ("y",)
    path.write_text("b:\n  split: validation\n  mixture_extra: y\n")
    with pytest.raises(T5evalError, match="mixture_extra"):
        parse_benchmarks(path)
