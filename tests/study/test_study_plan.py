"""Study files, plans, slices, `study list` and `--plan` (nothing is trained here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from t5eval.study.schema import builtin_study_files, find_study_file, load_scales, load_study

from .helpers import cli

BUILTIN = ("table1", "table2", "table4", "table5", "table6", "table7", "table9", "table10", "table11", "table12", "table13")


@pytest.fixture(scope="module")
def known() -> dict:
    from t5eval.cli.study_cmds import known_options

    return known_options()


def _plan(name: str, scale: str, seeds: int, known: dict, out: Path = Path("/tmp/study")):
    from t5eval.study.plan import plan_study

    scales = load_scales(known=known)
    study = load_study(find_study_file(name), known, scales)
    return plan_study(study, scale, scales[scale], list(range(seeds)), out, known,
                      data_dir=Path("/data"), vocab=Path("/vocab/spiece.model"))


def test_every_builtin_study_is_there() -> None:
    assert set(BUILTIN) <= set(builtin_study_files())


@pytest.mark.parametrize("name", BUILTIN)
def test_slices_cover_every_cell_exactly_once(name: str, known: dict) -> None:
    from t5eval.study.plan import slice_cells

    plan = _plan(name, "tiny", 3, known)
    names = [c.name for c in plan.cells]
    assert len(set(names)) == len(names)
    for count in (1, 2, 3, 4):
        parts = [[c.name for c in slice_cells(plan.cells, i, count)] for i in range(1, count + 1)]
        flat = [n for part in parts for n in part]
        assert sorted(flat) == sorted(names), count  # every cell once: no gap, no repeat
        assert len(flat) == len(set(flat))


def test_identical_pretraining_is_one_cell_per_seed(known: dict) -> None:
    table10 = _plan("table10", "tiny", 2, known)
    pretrains = [c for c in table10.cells if c.kind == "pretrain"]
    assert [c.name for c in pretrains] == ["pretrain/default_s0", "pretrain/default_s1"]
    assert len(pretrains[0].levels) == 6  # all parameters, 4 adapter sizes, gradual unfreezing
    runs = [c for c in table10.cells if c.kind == "run"]
    assert len(runs) == 12 and {c.needs for c in runs} == {("pretrain/default_s0",), ("pretrain/default_s1",)}
    table1 = _plan("table1", "tiny", 1, known)
    none = table1.run_cell("none", 0)
    assert none.needs == () and "--init" in none.argv and none.argv[none.argv.index("--init") + 1] == "random"
    table4 = _plan("table4", "tiny", 1, known)
    assert sum(c.kind == "pretrain" for c in table4.cells) == 4  # four objectives, nothing shared


def test_a_level_is_the_plain_command_with_its_options(known: dict) -> None:
    plan = _plan("table6", "tiny", 1, known, Path("/tmp/s6"))
    cell = plan.by_name()["pretrain/noise_density-0.25_s0"]
    assert cell.command() == (
        "t5eval pretrain --model tiny --corpus /tmp/s6/corpus.jsonl --vocab /vocab/spiece.model --seed 0 "
        "--out /tmp/s6/pretrain/noise_density-0.25_s0 --objective iid_replace_spans --steps 100 --inputs-length 128 "
        "--batch-tokens 2048 --concat-docs 0 --save-every 25 --log-every 25 --threads 1 --noise-density 0.25")
    run = plan.run_cell("rate_25", 0)
    assert run.command() == (
        "t5eval run sst2,mrpc,rte --model /tmp/s6/pretrain/noise_density-0.25_s0 "
        "--data-dir /data --seed 0 --out /tmp/s6/runs/rate_25_s0 --steps 300 --eval-every 300 --batch-tokens 1024 "
        "--threads 1")


def test_plan_for_the_paper_scale_prints_the_gpu_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli(["study", "run", "table4", "--scale", "paper", "--seeds", "1", "--out", tmp_path, "--plan"]) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if line.startswith("t5eval ")]
    assert len(commands) == 8 and not list(tmp_path.iterdir())  # 4 pre-trainings + 4 fine-tunes; nothing written
    pretrain = [c for c in commands if c.startswith("t5eval pretrain")]
    # the paper: T5-Base, 2^19 = 524,288 steps of 128 x 512 = 65,536 tokens; fine-tuning 2^18 = 262,144 steps
    assert all("--model t5-base" in c and "--steps 524288" in c and "--batch-tokens 65536" in c
               and "--inputs-length 512" in c and "--device cuda" in c for c in pretrain)
    # the paper's baseline objective (i.i.d. replace corrupted spans) and Table 4's three
    assert {re.search(r"--objective (\S+)", c)[1] for c in pretrain} == {"iid_replace_spans", "prefix_lm", "bert_mlm",
                                                                         "deshuffle"}
    runs = [c for c in commands if c.startswith("t5eval run")]
    assert all("--steps 262144" in c and "--eval-every 5000" in c and "--batch-tokens 65536" in c for c in runs)
    assert all('--vocab "$T5EVAL_VOCAB"' in c for c in pretrain)  # left for the GPU user to set


def test_cell_slice_plan_lists_only_its_cells(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seen: list[str] = []
    for index in (1, 2, 3):
        assert cli(["study", "run", "table7", "--scale", "tiny", "--seeds", "2", "--out", tmp_path, "--plan",
                    "--cell", f"{index}/3"]) == 0
        seen += [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("# pretrain/")
                 or line.startswith("# runs/")]
    assert len(seen) == len(set(seen)) == 20  # 5 levels x 2 seeds x (pre-training + fine-tune)


def test_study_list_shows_every_builtin_study_with_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["study", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│") and
            line.split("│")[1].strip() in BUILTIN}
    assert set(rows) == set(BUILTIN)
    for line in rows.values():
        times = [c.strip() for c in line.split("│")[-4:-1]]  # micro, tiny, paper
        assert all(re.fullmatch(r"[\d.,]+ (s|min|h|days|years)", t) for t in times), times
    assert "measured" in out and "tok/s" in out


@pytest.mark.parametrize(("body", "expected"), [
    ("levls: {}", "unknown key 'levls' (did you mean levels?)"),
    ("levels:\n  a: {label: A, pretrain: {objectiv: prefix_lm}}\n  b: {label: B}", "has no option 'objectiv' (did you mean objective?)"),
    ("levels:\n  a: {label: A, run: {seed: 3}}\n  b: {label: B}", "levels.a.run.seed: the study sets --seed itself"),
    # found by hand: pretrain.model gave a second --model (the cell trained tiny-2x, the estimate costed tiny)
    ("levels:\n  a: {label: A, pretrain: {model: tiny-2x}}\n  b: {label: B}",
     "levels.a.pretrain.model: the study sets --model itself for every cell; remove it (a level's own `model:` key"),
    ("levels:\n  a: {label: A, run: {steps: many}}\n  b: {label: B}", "levels.a.run.steps: 'many' is not a int"),
    ("baseline: c\nlevels:\n  a: {label: A}\n  b: {label: B}", "baseline: 'c' is not a level"),
    ("levels: [a, b", "not readable YAML"),
    # found by hand: option values the commands check were only refused when their cell ran, mid-study
    ("levels:\n  a: {label: A, pretrain: {objective: bert_mlmx}}\n  b: {label: B}",
     "levels.a.pretrain: unknown objective 'bert_mlmx' (did you mean bert_mlm?)"),
    ("levels:\n  a: {label: A, pretrain: {objective: deshuffle, noise_density: 0.3}}\n  b: {label: B}",
     "levels.a.pretrain: --noise-density does not apply to deshuffle"),
])
def test_a_broken_study_file_is_one_error_line(body: str, expected: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    head = "schema: 1\nname: mine\ntitle: Mine\nfactor: f\ntasks: [rte]\n"
    text = head + ("" if body.startswith("baseline") else "baseline: a\n") + body + "\n"
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    assert cli(["study", "run", path, "--scale", "micro", "--seeds", "1", "--out", tmp_path / "o", "--plan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and expected in err[0], err
    assert cli(["study", "list"]) == 0  # a user's broken file breaks no other command


def test_micro_plan_says_where_the_corpus_its_commands_read_comes_from(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    """Found by hand: the pasted pre-training command reads OUT/corpus.jsonl, which nothing in --plan explained."""
    assert cli(["study", "run", "table4", "--scale", "micro", "--seeds", "1", "--out", tmp_path, "--plan"]) == 0
    out = capsys.readouterr().out
    assert f"# corpus: {tmp_path.absolute() / 'corpus.jsonl'}: the first 300 documents of the shared unlabeled" in out
    assert not (tmp_path / "corpus.jsonl").exists()  # --plan still runs and writes nothing


def _list_column(out: str, study: str, column: int) -> str:
    """One column of `study list`'s row for `study`, its folded continuation lines joined."""
    lines, pieces = out.splitlines(), []
    for i, line in enumerate(lines):
        if line.startswith("│") and line.split("│")[1].strip() == study:
            for row in [line, *lines[i + 1:]]:
                cells = row.split("│")
                if row is not line and (len(cells) < 3 or cells[1].strip()):
                    break
                pieces.append(cells[column + 1].strip())
    return " ".join(p for p in pieces if p)


def test_study_list_counts_the_cells_of_the_tiny_scale(capsys: pytest.CaptureFixture[str]) -> None:
    """Found by hand: the cells column counted micro's cells (its tasks: cb, or cb and copa), so table12 showed
    18 + 18 where `study run table12 --scale tiny --plan` has 42 cells. By hand, per seed at tiny (3 tasks):
    baseline 1, multi-task training 1, multi-task pre-training 1, leave-one-out one chain per task 3,
    supervised pre-training 1 = 7 pre-trainings and 7 runs; 3 seeds: 21 + 21."""
    assert cli(["study", "list"]) == 0
    out = capsys.readouterr().out
    assert "cells at tiny" in out
    assert _list_column(out, "table12", 4) == "21 pre-train + 21 fine-tune"
    assert _list_column(out, "table4", 4) == "12 pre-train + 12 fine-tune"  # 4 objectives x 3 seeds


def test_study_list_orders_tables_by_number(capsys: pytest.CaptureFixture[str]) -> None:
    """Found by hand: table10..table13 were listed before table2."""
    assert cli(["study", "list"]) == 0
    names = [line.split("│")[1].strip() for line in capsys.readouterr().out.splitlines()
             if line.startswith("│") and line.split("│")[1].strip() in BUILTIN]
    assert names == list(BUILTIN)


def test_task_load_time_scales_with_the_tasks_training_set() -> None:
    """Found by hand: every task was charged SST-2's 18 s of loading, so a micro CB fine-tune (measured 2-6 s)
    was estimated at 23 s. By hand: 18 s x 250 / 67,349 = 0.0668 s for CB; SST-2 keeps 18 s; unknown: 18 s."""
    from t5eval.study.estimate import _task_load_seconds, load_throughput

    throughput = load_throughput()
    figures = throughput.presets["tiny"]
    assert figures.task_load_s == 18
    assert _task_load_seconds("cb", figures, throughput.train_examples) == pytest.approx(18 * 250 / 67349)
    assert _task_load_seconds("sst2", figures, throughput.train_examples) == 18
    assert _task_load_seconds("unknown_task", figures, throughput.train_examples) == 18
