"""The built-in studies of Tables 2, 9, 11, 12 and 13: their cells at each scale against lists written by hand
(names, shared pre-training, dependencies, the options each cell passes), and the derived values worked by hand
(repeat counts, step budgets, mixing rates). Nothing is trained here."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import cli

OUT = Path("/tmp/s")


@pytest.fixture(scope="module")
def known() -> dict:
    from t5eval.cli.study_cmds import known_options

    return known_options()


def _plan(name: str, scale: str, known: dict, seeds: int = 1, path: Path | None = None):
    from t5eval.study.plan import plan_study
    from t5eval.study.schema import find_study_file, load_scales, load_study

    scales = load_scales(known=known)
    study = load_study(path or find_study_file(name), known, scales)
    return plan_study(study, scale, scales[scale], list(range(seeds)), OUT, known, data_dir=Path("/data"),
                      vocab=Path("/vocab/spiece.model"))


def _value(argv: tuple[str, ...], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def _cells(plan) -> list[tuple[str, tuple[str, ...]]]:
    return [(c.name, c.needs) for c in plan.cells]


def test_table2_ten_rows_five_architectures_two_objectives(known: dict) -> None:
    plan = _plan("table2", "micro", known)
    pretrains = {
        "enc_dec_denoising": "pretrain/default_s0",
        "enc_dec_shared_denoising": "pretrain/model-tiny-shared_s0",
        "enc_dec_half_denoising": "pretrain/model-tiny-half_s0",
        "lm_denoising": "pretrain/model-tiny-lm_s0",
        "prefix_lm_denoising": "pretrain/model-tiny-prefix-lm_s0",
        "enc_dec_lm": "pretrain/objective-prefix_lm_s0",
        "enc_dec_shared_lm": "pretrain/model-tiny-shared_objective-prefix_lm_s0",
        "enc_dec_half_lm": "pretrain/model-tiny-half_objective-prefix_lm_s0",
        "lm_lm": "pretrain/lm_loss-all_model-tiny-lm_objective-prefix_lm_s0",
        "prefix_lm_lm": "pretrain/model-tiny-prefix-lm_objective-prefix_lm_s0",
    }
    assert _cells(plan) == [(p, ()) for p in pretrains.values()] + [
        (f"runs/{level}_s0", (p,)) for level, p in pretrains.items()]
    cells = plan.by_name()
    models = {level: _value(cells[p].argv, "--model") for level, p in pretrains.items()}
    assert models == {"enc_dec_denoising": "tiny", "enc_dec_shared_denoising": "tiny-shared",
                      "enc_dec_half_denoising": "tiny-half", "lm_denoising": "tiny-lm",
                      "prefix_lm_denoising": "tiny-prefix-lm", "enc_dec_lm": "tiny", "enc_dec_shared_lm": "tiny-shared",
                      "enc_dec_half_lm": "tiny-half", "lm_lm": "tiny-lm", "prefix_lm_lm": "tiny-prefix-lm"}
    objectives = {level: _value(cells[p].argv, "--objective") for level, p in pretrains.items()}
    assert all(o == "iid_replace_spans" for lv, o in objectives.items() if lv.endswith("_denoising"))
    assert all(o == "prefix_lm" for lv, o in objectives.items() if lv.endswith("_lm"))
    # only the plain language model with the LM objective scores every token
    assert [lv for lv, p in pretrains.items() if "--lm-loss" in cells[p].argv] == ["lm_lm"]
    assert _value(cells[pretrains["lm_lm"]].argv, "--lm-loss") == "all"
    # the paper scale maps each architecture to its T5-Base preset
    paper = _plan("table2", "paper", known).by_name()
    assert _value(paper["pretrain/model-t5-lm-base_s0"].argv, "--model") == "t5-lm-base"
    assert {_value(c.argv, "--model") for c in paper.values() if c.kind == "pretrain"} == {
        "t5-base", "t5-base-shared", "t5-base-half", "t5-lm-base", "t5-prefix-lm-base"}


def test_table9_repeat_counts_are_computed_per_scale(known: dict) -> None:
    # tiny: 100 steps x (2048 // 128 = 16) rows x 127 tokens per chunk (iid objective: inputs_length - 1) = 203,200
    # tokens; / 64 = 3,175; / 256 = 793.75 -> 794; / 1,024 = 198.4 -> 198; / 4,096 = 49.6 -> 50, below one
    # 127-token chunk, so one chunk (at least one chunk: 1,600 repeats, not 4,096)
    tiny = _plan("table9", "tiny", known)
    tokens = {c.levels[0]: _value(c.argv, "--corpus-tokens") for c in tiny.cells if c.kind == "pretrain"}
    assert tokens == {"full_dataset": None, "repeats_64": "3175", "repeats_256": "794", "repeats_1024": "198",
                      "repeats_4096": "127"}
    # paper: 2^19 steps x 128 rows x 511 tokens / R
    paper = _plan("table9", "paper", known)
    tokens = [_value(c.argv, "--corpus-tokens") for c in paper.cells if c.kind == "pretrain"]
    assert tokens == [None, str(2**19 * 128 * 511 // 64), str(2**19 * 128 * 511 // 256),
                      str(2**19 * 128 * 511 // 1024), str(2**19 * 128 * 511 // 4096)]
    assert tokens[1] == "535822336"
    # micro: 2 steps x 4 rows x 31 tokens = 248 tokens: every truncation is one 31-token chunk, one shared cell
    micro = _plan("table9", "micro", known)
    assert _cells(micro) == [("pretrain/default_s0", ()), ("pretrain/corpus_tokens-31_s0", ()),
                             ("runs/full_dataset_s0", ("pretrain/default_s0",)),
                             *[(f"runs/repeats_{r}_s0", ("pretrain/corpus_tokens-31_s0",)) for r in (64, 256, 1024, 4096)]]
    assert micro.by_name()["pretrain/corpus_tokens-31_s0"].levels == ("repeats_64", "repeats_256", "repeats_1024",
                                                                       "repeats_4096")


def test_table11_multi_task_levels_are_a_mixture_pretraining_then_scoring(known: dict) -> None:
    plan = _plan("table11", "tiny", known)
    mixes = [c for c in plan.cells if c.kind == "pretrain" and "--mix-tasks" in c.argv]
    assert len(mixes) == 10 and len(plan.cells) == 22  # 1 + 10 pre-trainings, 11 runs
    by_level = {c.levels[0]: c for c in mixes}
    # steps: 100 pre-training + 300 fine-tuning steps x 1,024 tokens / 2,048 tokens per pre-training step = 250
    assert {_value(c.argv, "--steps") for c in mixes} == {"250"}
    assert {_value(c.argv, "--mix-tasks") for c in mixes} == {"sst2,mrpc,rte"}
    assert _value(by_level["equal"].argv, "--mixing") == "equal" and "--corpus-rate" not in by_level["equal"].argv
    for e in range(16, 22):
        cell = by_level[f"proportional_2e{e}"]
        assert (_value(cell.argv, "--mixing"), _value(cell.argv, "--corpus-rate")) == (f"proportional:{2**e}",
                                                                                      str(2**e))
    # temperature T: the corpus at (2^21)^(1/T): 2^10.5 = 1024 x sqrt(2) = 1448.15, 2^5.25 = 38.05, 2^2.625 = 6.17
    rates = {t: float(_value(by_level[f"temperature_{t}"].argv, "--corpus-rate") or 0) for t in (2, 4, 8)}
    assert rates == pytest.approx({2: 1448.1547, 4: 38.0546, 8: 6.1688}, abs=1e-4)
    for level, cell in by_level.items():
        run = plan.run_cell(level, 0)
        assert run.needs == (cell.name,) and "--no-finetune" in run.argv  # scored with the mixture's weights
    baseline = plan.run_cell("baseline", 0)
    assert baseline.needs == ("pretrain/default_s0",) and "--no-finetune" not in baseline.argv


def test_table12_chains_and_leave_one_out_per_task(known: dict) -> None:
    plan = _plan("table12", "micro", known)  # micro: tasks cb and copa (leave-one-out needs two)
    assert plan.tasks == ["cb", "copa"]
    cells = plan.by_name()
    mix = [c for c in plan.cells if c.kind == "pretrain" and "--mix-tasks" in c.argv]
    described = {(c.levels, _value(c.argv, "--mix-tasks"), _value(c.argv, "--corpus-rate"), _value(c.argv, "--steps"))
                 for c in mix}
    assert described == {(("multi_task_training",), "cb,copa", "524288", "10"),  # 2 + 2 x 512 / 128
                         (("multi_task_pretraining",), "cb,copa", "524288", "2"),
                         (("leave_one_out",), "copa", "524288", "2"),  # for cb: the others
                         (("leave_one_out",), "cb", "524288", "2"),
                         (("supervised_pretraining",), "cb,copa", "0", "2")}
    assert all(_value(c.argv, "--data-dir") == "/data" for c in mix)  # the mixture's tasks are read from it
    assert "--data-dir" not in cells["pretrain/default_s0"].argv
    loo = {task: cells[f"runs/leave_one_out_s0-{task}"] for task in ("cb", "copa")}
    for task, other in (("cb", "copa"), ("copa", "cb")):
        assert loo[task].argv[1] == task  # fine-tuned on the held-out task only
        assert _value(cells[loo[task].needs[0]].argv, "--mix-tasks") == other
    assert "--no-finetune" in plan.run_cell("multi_task_training", 0).argv
    assert sum(c.kind == "run" and "--no-finetune" in c.argv for c in plan.cells) == 1
    assert len(plan.cells) == 12  # 6 pre-trainings (leave-one-out: one per task), 6 runs


def test_table13_ensembles_wait_for_their_members(known: dict) -> None:
    plan = _plan("table13", "micro", known)
    cb = "super_glue_cb_v102"
    members_sep = ["runs/baseline_s0", "runs/ensemble_4x_s0_m1", "runs/ensemble_4x_s0_m2", "runs/ensemble_4x_s0_m3"]
    members_ft = ["runs/baseline_s0", *[f"runs/ensemble_4x_finetune_only_s0_m{m}" for m in (1, 2, 3)]]
    assert _cells(plan) == [
        ("pretrain/default_s0", ()), ("pretrain/steps-8_s0", ()), ("pretrain/batch_tokens-512_s0", ()),
        ("pretrain/model-tiny-2x_steps-4_s0", ()), ("pretrain/model-tiny-4x_s0", ()),
        ("pretrain/default_s1000", ()), ("pretrain/default_s2000", ()), ("pretrain/default_s3000", ()),
        ("runs/baseline_s0", ("pretrain/default_s0",)), ("runs/size_1x_steps_4x_s0", ("pretrain/steps-8_s0",)),
        ("runs/size_1x_batch_4x_s0", ("pretrain/batch_tokens-512_s0",)),
        ("runs/size_2x_steps_2x_s0", ("pretrain/model-tiny-2x_steps-4_s0",)),
        ("runs/size_4x_steps_1x_s0", ("pretrain/model-tiny-4x_s0",)),
        ("runs/ensemble_4x_s0_m1", ("pretrain/default_s1000",)), ("runs/ensemble_4x_s0_m2", ("pretrain/default_s2000",)),
        ("runs/ensemble_4x_s0_m3", ("pretrain/default_s3000",)),
        ("runs/ensemble_4x_finetune_only_s0_m1", ("pretrain/default_s0",)),
        ("runs/ensemble_4x_finetune_only_s0_m2", ("pretrain/default_s0",)),
        ("runs/ensemble_4x_finetune_only_s0_m3", ("pretrain/default_s0",)),
        (f"runs/ensemble_4x_s0-{cb}", tuple(members_sep)),
        (f"runs/ensemble_4x_finetune_only_s0-{cb}", tuple(members_ft))]
    cells = plan.by_name()
    # 4x steps scales both stages: 2 -> 8 pre-training steps, 2 -> 8 fine-tuning steps (validation every 8)
    steps = cells["runs/size_1x_steps_4x_s0"].argv
    assert (_value(steps, "--steps"), _value(steps, "--eval-every")) == ("8", "8")
    assert _value(cells["runs/size_1x_batch_4x_s0"].argv, "--batch-tokens") == "2048"  # 4 x 512
    assert [_value(cells[m].argv, "--seed") for m in members_ft] == ["0", "1000", "2000", "3000"]
    assert cells["runs/baseline_s0"].levels == ("baseline", "ensemble_4x", "ensemble_4x_finetune_only")
    decode = cells[f"runs/ensemble_4x_s0-{cb}"].argv
    assert decode[:2] == ("run", cb) and "--no-finetune" in decode
    assert _value(decode, "--model") == str(OUT / "runs/baseline_s0" / cb / "best")
    assert _value(decode, "--ensemble") == ",".join(str(OUT / m / cb / "best") for m in members_sep[1:])
    # tiny: one decode per task of the study
    tiny = _plan("table13", "tiny", known)
    assert sorted(c.name for c in tiny.cells if c.name.startswith("runs/ensemble_4x_s0-")) == [
        "runs/ensemble_4x_s0-glue_mrpc_v002", "runs/ensemble_4x_s0-glue_rte_v002", "runs/ensemble_4x_s0-glue_sst2_v002"]


@pytest.mark.parametrize("name", ["table2", "table9", "table11", "table12", "table13"])
def test_new_studies_slice_into_disjoint_covers(name: str, known: dict) -> None:
    from t5eval.study.plan import slice_cells

    plan = _plan(name, "tiny", known, seeds=2)
    names = [c.name for c in plan.cells]
    assert len(names) == len(set(names))
    for count in (1, 2, 3, 4):
        flat = [c.name for i in range(1, count + 1) for c in slice_cells(plan.cells, i, count)]
        assert sorted(flat) == sorted(names) and len(flat) == len(set(flat))
    position = {n: i for i, n in enumerate(names)}
    assert all(position[need] < position[c.name] for c in plan.cells for need in c.needs)  # run order


LEVELS = "schema: 1\nname: mine\ntitle: Mine\nfactor: f\ntasks: [rte]\nbaseline: a\nlevels:\n  a: {label: A}\n"


@pytest.mark.parametrize(("level", "expected"), [
    ("b: {label: B, pretrain: {steps: \"=pretrain.step * 2\"}}", "levels.b.pretrain.steps: '=pretrain.step * 2': "
     "pretrain.step is not set at this scale (did you mean pretrain.steps"),
    ("b: {label: B, pretrain: {steps: \"=pretrain.steps / 3\"}}", "evaluates to 0.6666666666666666, not a whole "
     "number; wrap it in round()"),
    ("b: {label: B, pretrain: {steps: \"=__import__('os')\"}}", "unknown name '__import__'"),
    ("b: {label: B, pretrain: {mix_tasks: \"{taks}\"}}", "levels.b.pretrain.mix_tasks: '{taks}': unknown placeholder {taks} (did you mean tasks"),
    ("b: {label: B, model: {t5-base: t5-base-half}}", "levels.b.model: no preset for the scale's model 'tiny'"),
])
def test_a_bad_derived_value_is_one_error_line(level: str, expected: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(LEVELS + "  " + level + "\n")
    assert cli(["study", "run", path, "--scale", "micro", "--seeds", "1", "--out", tmp_path / "o", "--plan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert "levels.b" in err[0] or str(path) in err[0], err
