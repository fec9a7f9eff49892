"""CLI commands of the model area: `parity` (see t5eval/cli/__init__.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer


def parity(
    model: Path = typer.Option(..., "--model", help="Local HF T5, GPT-2 or BERT directory (config.json + weights)."),
    vocab: Path = typer.Option(None, "--vocab", help="spiece.model (T5; else $T5EVAL_VOCAB), a folder with vocab.json + merges.txt (GPT-2) or vocab.txt (BERT); default: MODEL's own."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Local data folder (else $T5EVAL_DATA_DIR, else hub)."),
    n: int = typer.Option(64, "--n", help="Number of real texts to compare on."),
    tasks: str = typer.Option("rte", "--tasks", help="Tasks whose eval inputs/targets are used, e.g. rte,cola."),
    max_decode_len: int = typer.Option(32, "--max-decode-len", help="Greedy decode length for the id check."),
    json_out: Path = typer.Option(None, "--json", help="Also write the result as JSON here."),
) -> None:
    """Compare the native model (T5, GPT-2 or BERT, from config.json's model_type) with transformers: max abs
    logit (BERT: hidden-state) diff and share of identical greedy outputs (null for BERT, which generates nothing)."""
    from t5eval.model.load import model_family
    from t5eval.parity.bert import run_bert_parity
    from t5eval.parity.gpt2 import run_gpt2_parity
    from t5eval.parity.t5 import run_parity
    from t5eval.results import check_out_path

    if json_out is not None:
        check_out_path(json_out, "--json")
    if not model.is_dir():
        from t5eval.errors import T5evalError

        raise T5evalError(f"model directory {model} not found; pass an existing HF model directory")
    family = model_family(model).name
    if family == "gpt2":
        result = asdict(run_gpt2_parity(model, vocab, data_dir, n, tasks, max_decode_len, json_out))
    elif family == "bert":
        result = asdict(run_bert_parity(model, vocab, data_dir, n, tasks, max_decode_len, json_out))
    else:
        result = asdict(run_parity(model, vocab, data_dir, n, tasks, max_decode_len, json_out))
    typer.echo(json.dumps(result))


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("parity")(parity)
