"""CLI commands of this area (see t5eval/cli/__init__.py): `report`, `diff`, `check`."""

from __future__ import annotations

from pathlib import Path

import typer

from t5eval.errors import T5evalError

_RUNS_HELP = "run folders (results/<run_id>) or their run.json"


def report(
    runs: list[Path] = typer.Argument(..., help=_RUNS_HELP),
    out: str = typer.Option("-", "--out", help="Markdown file to write, e.g. reports/NAME.md (PNGs go beside it); "
                                              "'-' or omitted: print the Markdown (no plots)"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="bootstrap resamples per task for the 95% intervals (at least 1)"),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap resamples"),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="write PNG plots beside the Markdown"),
    paper: Path | None = typer.Option(None, "--paper", help="paper scores YAML (default task_defs/paper_scores.yaml)"),
) -> None:
    """Paper-style Markdown report (Table 14 layout) of one or more runs, with 95% intervals and deltas."""
    from t5eval.report.build import build_report, report_markdown
    from t5eval.report.paper import PAPER_SCORES
    from t5eval.results import check_out_path

    if bootstrap < 1:
        raise T5evalError(f"--bootstrap {bootstrap}: the report's 95% intervals need resamples; give at least 1 "
                          "(default 1000)")
    if out == "-":
        typer.echo(report_markdown(list(runs), n_boot=bootstrap, seed=seed, paper_path=paper or PAPER_SCORES))
        return
    path = Path(out)
    if path.suffix != ".md":
        raise T5evalError(f"--out {out}: give a .md file, e.g. reports/{path.stem or 'report'}.md (or - for stdout)")
    check_out_path(path)
    written = build_report(list(runs), path, n_boot=bootstrap, seed=seed, plots=plots,
                           paper_path=paper or PAPER_SCORES)
    typer.echo(f"wrote {written}")


def diff(
    run_a: Path = typer.Argument(..., help="first run folder"),
    run_b: Path = typer.Argument(..., help="second run folder"),
    task: str | None = typer.Option(None, "--task", help="one task (default: every task both runs have)"),
    show: int = typer.Option(20, "--show", help="changed examples to list per task"),
) -> None:
    """Per-example changes between two runs: which examples flipped and how each metric moved."""
    from t5eval.report.diff import diff_runs, render_diff
    from t5eval.report.loading import load_run

    a, b = load_run(run_a), load_run(run_b)
    if task is not None and task not in a.tasks and task not in b.tasks:
        task = _canonical_task(task)  # an alias such as sst2
    typer.echo(render_diff(diff_runs(a, b, task), a.run_id, b.run_id, show=show))


def _canonical_task(name: str) -> str:
    """The registry name of a task alias (`sst2` -> glue_sst2_v002); the name as is when unknown."""
    from t5eval.tasks import TaskRegistry

    try:
        return TaskRegistry.default().get(name).name
    except T5evalError:
        return name


def check(
    run: Path = typer.Argument(..., help="run folder to check"),
    against: Path = typer.Option(..., "--against", help="baseline JSON, e.g. results/baselines/NAME.json"),
    tolerance: str | None = typer.Option(None, "--tolerance", help="ci (default: the baseline's 95% interval), "
                                         "abs:X (points) or rel:R (fraction of the baseline)"),
    exact: bool = typer.Option(False, "--exact", help="demand identical metrics and predictions (deterministic CI)"),
    update: bool = typer.Option(False, "--update", help="write the run as the new baseline (prints what changed)"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="resamples for the baseline's intervals (--update)"),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap resamples (--update)"),
) -> None:
    """Compare a run with a stored baseline; exit 1 on a regression or a missing task/metric."""
    from t5eval.report.check import Tolerance, compare, failed, read_baseline, render_check, update_baseline
    from t5eval.report.loading import load_run
    from t5eval.results import check_out_path

    if update:
        check_out_path(against, "--against")
    loaded = load_run(run)
    if update:
        for line in update_baseline(loaded, against, n_boot=bootstrap, seed=seed):
            typer.echo(line)
        typer.echo(f"wrote baseline {against}")
        return
    tol = Tolerance.parse(tolerance)
    rows = compare(loaded, read_baseline(against), tol, exact=exact)
    typer.echo(render_check(rows, tol, exact))
    if failed(rows):
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("report")(report)
    app.command("diff")(diff)
    app.command("check")(check)
