"""CLI commands of the model area: `parity` (see t5eval/cli/__init__.py)."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import typer


def parity(
    model: Path = typer.Option(..., "--model", help="Local HF T5 or GPT-2 directory (config.json + weights)."),
    vocab: Path = typer.Option(None, "--vocab", help="spiece.model (T5) or a folder with vocab.json + merges.txt (GPT-2); default: MODEL's own."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Local data folder (else $T5EVAL_DATA_DIR, else hub)."),
    n: int = typer.Option(64, "--n", help="Number of real texts to compare on."),
    tasks: str = typer.Option("rte", "--tasks", help="Tasks whose eval inputs/targets are used, e.g. rte,cola."),
    max_decode_len: int = typer.Option(32, "--max-decode-len", help="Greedy decode length for the id check."),
    json_out: Path = typer.Option(None, "--json", help="Also write the result as JSON here."),
) -> None:
    """Compare the native model (T5 or GPT-2, from config.json's model_type) with transformers: max abs
    logit diff and share of identical greedy outputs."""
    from t5eval.model.load import model_family
    from t5eval.parity.gpt2 import run_gpt2_parity
    from t5eval.parity.t5 import run_parity

    if not model.is_dir():
        from t5eval.errors import T5evalError

        raise T5evalError(f"model directory {model} not found; pass an existing HF model directory")
    family = model_family(model).name
    check = run_gpt2_parity if family == "gpt2" else run_parity
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        result = check(model, vocab, data_dir, n, tasks, max_decode_len, json_out)
    for w in caught:
        if not issubclass(w.category, DeprecationWarning):
            typer.secho(f"warning: {w.message}", fg=typer.colors.YELLOW, err=True)
    typer.echo(json.dumps(asdict(result)))


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("parity")(parity)
