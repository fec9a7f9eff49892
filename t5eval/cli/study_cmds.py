"""CLI commands of the study area (see t5eval/cli/__init__.py): `t5eval study list | run | report`."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from t5eval.errors import T5evalError

study_app = typer.Typer(help="The paper's comparison tables as studies you plan, run, resume, shard and report "
                             "(docs/study.md).", no_args_is_help=True)
_KINDS = {bool: "bool", int: "int", float: "float", str: "str", Path: "str"}
_ROOT: list[typer.Typer] = []  # the `t5eval` app this module was registered on (its pretrain and run commands)


def _kind(hint: Any) -> str | None:
    """bool | int | float | str for an option's annotation (Optional unwrapped); None for anything else."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else [hint]
    return _KINDS.get(args[0]) if len(args) == 1 else None


def known_options() -> dict[str, Any]:
    """The options `t5eval pretrain` and `t5eval run` accept, read from the commands themselves, so a study
    level may use any option those commands gain later."""
    from t5eval.study.schema import COMMANDS, OptionSpec

    group = typer.main.get_command(_ROOT[0])
    known: dict[str, dict[str, OptionSpec]] = {}
    for command in COMMANDS:
        click_command = group.commands[command]  # type: ignore[attr-defined]
        hints = typing.get_type_hints(inspect.unwrap(click_command.callback))
        known[command] = {}
        for param in click_command.params:
            kind = _kind(hints.get(param.name or ""))
            if param.param_type_name != "option" or kind is None or not param.name:
                continue
            flag = max((o for o in param.opts if o.startswith("--")), key=len)
            off = param.secondary_opts[0] if param.secondary_opts else None
            known[command][param.name] = OptionSpec(param.name, flag, off, kind)
    return known


def execute_in_process(argv: Sequence[str]) -> int:
    """Run `t5eval <argv>` in this process, exactly as the command line would (same parsing, same run.json
    command); returns its exit status."""
    try:
        status = _ROOT[0](args=list(argv), standalone_mode=False)
    except KeyboardInterrupt:
        return 130
    return int(status or 0)


def _load(name_or_file: str) -> tuple[Any, Path, dict[str, Any], Any]:
    from t5eval.study.schema import find_study_file, load_scales, load_study
    from t5eval.tasks import TaskRegistry

    known = known_options()
    scales = load_scales(known=known)
    path = find_study_file(name_or_file)
    registry = TaskRegistry.default()
    names = set(registry.tasks) | set(registry.aliases) | set(registry.benchmarks)
    study = load_study(path, known, scales, task_names=names or None)
    return study, path, scales, known


def _plan(study: Any, path: Path, scale_name: str, scale: Any, seeds: int, out: Path, known: Any,
          cell_options: dict[str, Any] | None = None, **paths: Path | None) -> Any:
    """The study's cells at `scale`; a level that cannot be planned (a bad objective value, a model mapping
    without the scale's model, ...) is one line naming the study file."""
    from t5eval.study.plan import plan_study

    try:
        return plan_study(study, scale_name, scale, list(range(seeds)), out, known, cell_options=cell_options,
                          **paths)
    except T5evalError as err:
        raise T5evalError(f"{path}: {err}") from None


@study_app.command("list")
def list_cmd(seeds: int = typer.Option(3, help="seeds per level for the cell counts and times")) -> None:
    """Every built-in study: table, factor, levels, tasks, cells at tiny and estimated wall time per scale."""
    from rich.console import Console
    from rich.table import Table

    from t5eval.study.estimate import estimate_plan, human_time, load_throughput
    from t5eval.study.plan import study_tasks
    from t5eval.study.schema import builtin_study_files

    throughput = load_throughput()
    table = Table(title=f"built-in studies ({seeds} seeds per level)", title_justify="left")
    for column in ("study", "table / factor", "levels (baseline first)", "tasks", "cells at tiny", "micro", "tiny", "paper"):
        table.add_column(column, overflow="fold")
    sources: dict[str, str] = {}
    problems: list[str] = []
    for name in builtin_study_files():
        try:  # a broken file is one line; the other studies still list
            study, path, scales, known = _load(name)
            plans = {s: _plan(study, path, s, scales[s], seeds, Path("STUDY_DIR"), known) for s in ("micro", "tiny", "paper")}
        except T5evalError as err:
            problems.append(str(err))
            continue
        times = []
        for scale_name, plan in plans.items():
            estimate = estimate_plan(plan, throughput)
            sources[scale_name] = estimate.source
            times.append(human_time(estimate.total()))
        pretrain = sum(c.kind == "pretrain" for c in plans["tiny"].cells)  # micro's tasks differ (cb; cb, copa)
        counts = f"{pretrain} pre-train + {len(plans['tiny'].cells) - pretrain} fine-tune"
        levels = [study.baseline, *(lv for lv in study.levels if lv != study.baseline)]
        table.add_row(name, f"{study.title.split(':')[0]}: {study.factor}", ", ".join(levels),
                      ", ".join(study.tasks) + " (micro: " + ", ".join(study_tasks(study, "micro", scales["micro"])) + ")",
                      counts, *times)
    console = Console(width=None if Console().is_terminal else 160)
    console.print(table)
    for scale_name, source in sources.items():
        console.print(f"{scale_name}: estimated from {source}", markup=False, highlight=False, soft_wrap=True)
    for problem in problems:
        typer.secho(f"error: {problem}", fg=typer.colors.RED, err=True)
    if problems:
        raise typer.Exit(2)


@study_app.command("run")
def run_cmd(
    study_name: str = typer.Argument(..., metavar="NAME|FILE", help="built-in study (t5eval study list) or a YAML file"),
    scale: str = typer.Option("tiny", help="micro | tiny | paper (task_defs/studies/scales.yaml)"),
    seeds: int = typer.Option(3, help="seeds per level (0 .. N-1)"),
    out: Path = typer.Option(..., help="study folder: one pretrain/run folder per cell, study.json"),
    data_dir: Path | None = typer.Option(None, envvar="T5EVAL_DATA_DIR",
                                     help="GLUE/SuperGLUE data folder: the tasks and the pre-training text"),
    vocab: Path | None = typer.Option(None, envvar="T5EVAL_VOCAB",
                                  help="T5 spiece.model (needed to run: every study pre-trains from random init)"),
    plan: bool = typer.Option(False, "--plan", help="print the cells, their commands and estimated time; run nothing"),
    cell: str | None = typer.Option(None, "--cell", help="I/N: run only the I-th of N disjoint slices"),
    threads: int | None = typer.Option(None, min=1, help="CPU threads for torch, passed to every cell "
                                       "(default: the scale's, micro and tiny: 1)"),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N | mps, passed to every cell (default: the "
                                      "scale's, else each command's own)"),
) -> None:
    """Run a study's cells (skipping finished ones, resuming a killed one), or --plan them."""
    from t5eval.run.options import check_device
    from t5eval.study.estimate import estimate_plan, human_time
    from t5eval.study.execute import prepare_corpus, run_cells, write_study_record
    from t5eval.study.plan import parse_slice, slice_cells

    if seeds < 1:
        raise T5evalError(f"--seeds must be at least 1, got {seeds}")
    if device is not None:  # --plan prints commands for another machine: only the name is checked then
        check_device(device, here=not plan)
    study, path, scales, known = _load(study_name)
    if scale not in scales:
        from t5eval.errors import did_you_mean

        raise T5evalError(f"--scale {scale!r} is not one of {', '.join(scales)}{did_you_mean(scale, scales)}")
    the_plan = _plan(study, path, scale, scales[scale], seeds, out, known, {"threads": threads, "device": device},
                     data_dir=data_dir, vocab=vocab)
    index, count = parse_slice(cell) if cell else (1, 1)
    cells = slice_cells(the_plan.cells, index, count)
    estimate = estimate_plan(the_plan)
    if plan:
        _print_plan(the_plan, cells, estimate, (index, count), human_time)
        return
    if not scales[scale].runnable_here:
        raise T5evalError(f"scale {scale!r} is plannable only here ({scales[scale].description}); "
                          f"use --plan to print its commands")
    if vocab is None:
        raise T5evalError("--vocab (or T5EVAL_VOCAB) is needed: the study pre-trains presets from random init")
    err = typer.get_text_stream("stderr")
    log = lambda msg: print(msg, file=err, flush=True)  # noqa: E731
    write_study_record(the_plan, path)
    prepare_corpus(the_plan, data_dir, log)
    if not cells:
        typer.echo(f"study {study.name} ({scale}): slice {index}/{count} holds no cell (the study has "
                   f"{len(the_plan.cells)} cells, so slices past {len(the_plan.cells)} are empty); nothing to do")
        return
    run_cells(the_plan, cells, execute_in_process, estimate, log)
    what = "all cells" if count == 1 else f"the {len(cells)} cells of slice {index}/{count}"
    typer.echo(f"study {study.name} ({scale}, {seeds} seed{'s' if seeds > 1 else ''}): {what} finished in {out}; "
               f"report: t5eval study report {out} --out REPORT.md")


def _print_plan(plan: Any, cells: list[Any], estimate: Any, part: tuple[int, int], human_time: Any) -> None:
    from t5eval.study.execute import cell_done
    from t5eval.study.plan import SHARED_CORPUS

    shared = [c for c in cells if c.kind == "pretrain" and len(c.levels) > 1]
    typer.echo(f"# study {plan.study.name}: {plan.study.title}")
    typer.echo(f"# scale {plan.scale_name}: {plan.scale.description}")
    typer.echo(f"# seeds {plan.seeds}; tasks {', '.join(plan.tasks)}; slice {part[0]}/{part[1]}: {len(cells)} of "
               f"{len(plan.cells)} cells; {len(shared)} pre-trainings shared between levels")
    typer.echo(f"# estimated from {estimate.source}")
    if plan.cell_options:
        given = " ".join(f"--{k} {v}" for k, v in plan.cell_options.items())
        typer.echo(f"# every cell gets {given} (study run options, over the scale's)")
    if plan.scale.corpus == SHARED_CORPUS:
        documents = f"the first {plan.scale.corpus_documents:,}" if plan.scale.corpus_documents else "all the"
        typer.echo(f"# corpus: {plan.corpus}: {documents} documents of the shared unlabeled text (GLUE/SuperGLUE "
                   "train splits, no labels), written by `t5eval study run` (this line without --plan) before its "
                   "first cell; to paste a pre-training command by hand, start the study once (Ctrl-C after its "
                   "`corpus:` line)")
    done = [c for c in cells if cell_done(plan.out, c)]
    left = [c.name for c in cells if c not in done]
    typer.echo(f"# {len(done)} finished, {len(left)} left; estimated time left: {human_time(estimate.total(left))} "
               f"(one process; slices run in parallel)")
    for cell in cells:
        status = "done" if cell in done else human_time(estimate.seconds.get(cell.name))
        wait = f", after {', '.join(cell.needs)}" if cell.needs else ""
        typer.echo(f"\n# {cell.name} [{', '.join(cell.levels)}] ({status}{wait})")
        typer.echo(cell.command())


@study_app.command("report")
def report_cmd(
    folder: Path = typer.Argument(..., metavar="FOLDER", help="a study folder written by `t5eval study run`"),
    out: Path = typer.Option(..., help="Markdown file; the forest plot is written beside it (FILE_forest.png)"),
    n_boot: int = typer.Option(1000, "--bootstrap", help="bootstrap resamples for the paired differences"),
) -> None:
    """The study in the paper's layout: mean ± std over seeds, paired Δ against the baseline, bold rule,
    the paper's rows, concordance and a forest plot."""
    from t5eval.study.report import write_study_report

    if n_boot < 1:
        raise T5evalError(f"--bootstrap must be at least 1, got {n_boot}")
    path = write_study_report(folder, out, n_boot=n_boot)
    typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`; cells run through `app`'s own pretrain and run commands."""
    _ROOT[:] = [app]
    app.add_typer(study_app, name="study")
