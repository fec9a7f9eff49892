"""The `t5eval` command line. Each area registers its commands from its own module.

Modules (one owner each): `tasks_cmds` (tasks, export, score), `model_cmds` (parity),
`run_cmds` (run), `pretrain_cmds` (pretrain), `report_cmds` (report, diff, check), `bench_cmds` (bench),
`study_cmds` (study list | run | report).
Commands parse arguments and call library functions; they hold no logic of their own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
import typer.rich_utils

from t5eval.errors import T5evalError

HELP_WIDTH = 120  # --help written to a file or pipe: wide enough that no option name is cut with "…"

app = typer.Typer(
    name="t5eval",
    help="Paper-faithful T5 evaluation: GLUE, SuperGLUE, SQuAD, CNN/DM, WMT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from t5eval import __version__

        typer.echo(f"t5eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    include_path: list[Path] = typer.Option(
        [], "--include-path", metavar="DIR",
        help="Also read task (and study) YAML files from DIR (repeatable); put it before the command: "
             "t5eval --include-path DIR run MYTASK ..."),
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print the t5eval version and exit."),
) -> None:
    """Paper-faithful T5 evaluation: GLUE, SuperGLUE, SQuAD, CNN/DM, WMT."""
    if include_path:
        from t5eval.tasks.defs import set_include_paths

        set_include_paths(include_path)


@app.command()
def version() -> None:
    """Print the t5eval version."""
    from t5eval import __version__

    typer.echo(__version__)


def _register_all() -> None:
    from t5eval.cli import (
        bench_cmds,
        model_cmds,
        pretrain_cmds,
        report_cmds,
        run_cmds,
        study_cmds,
        tasks_cmds,
    )

    for module in (tasks_cmds, model_cmds, run_cmds, pretrain_cmds, report_cmds, bench_cmds, study_cmds):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app, shows warnings as `warning: …` lines (each once) and turns
    `T5evalError` into a one-line error."""
    from t5eval.cli.warn import one_line_warnings

    if not os.environ.get("TERMINAL_WIDTH") and not sys.stdout.isatty():
        typer.rich_utils.MAX_WIDTH = HELP_WIDTH  # a terminal keeps its own width; rich wraps the help text
    try:
        with one_line_warnings():
            app(args=argv, standalone_mode=True)
    except T5evalError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
