"""CLI commands of the bench area: `t5eval bench` (see t5eval/cli/__init__.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def bench(
    preset: str = typer.Option("t5-small", help="Model shape (random seeded weights, no hub)."),
    model: Path | None = typer.Option(None, help="Local HF-format checkpoint dir instead of a preset."),
    batch_size: int = typer.Option(32, min=1, help="Rows per batch."),
    input_len: int = typer.Option(128, min=2, help="Input tokens per row (synthetic measures)."),
    new_tokens: int = typer.Option(32, min=1, help="Exactly this many generated tokens per row."),
    beam_size: int = typer.Option(4, min=2, help="Beam size of the beam measure."),
    threads: int | None = typer.Option(None, min=1, help="torch.set_num_threads (default: torch's)."),
    device: str = typer.Option("cpu", help="cpu or cuda[:i]."),
    repeats: int = typer.Option(3, min=1, help="Timed repeats per implementation (after 1 warm-up)."),
    seed: int = typer.Option(0, help="Seed of the random weights and inputs."),
    skip: list[str] = typer.Option([], help="Measures to skip: encoder, greedy, beam, train, pretrain, e2e."),
    task: str = typer.Option("glue_rte_v002", help="Task of the end-to-end measure."),
    limit: int | None = typer.Option(64, min=1, help="Examples of the end-to-end measure."),
    e2e_repeats: int = typer.Option(1, min=1, help="Timed repeats of the end-to-end measure."),
    e2e_max_decode_len: int | None = typer.Option(None, min=1, help="Cap the task's max_decode_len."),
    data_dir: Path | None = typer.Option(None, help="Data folder (default: $T5EVAL_DATA_DIR)."),
    vocab: Path | None = typer.Option(None, help="spiece.model (default: MODEL_DIR/spiece.model, else $T5EVAL_VOCAB)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the full report here."),
    markdown: bool = typer.Option(False, help="Also print the table as Markdown."),
    int8: bool = typer.Option(False, "--int8", help="Also time an int8-quantized native copy (CPU; not exact: "
                              "reported apart with its agreement with fp32)."),
    dtype: str = typer.Option("float32", help="bfloat16: also time a bf16 copy of the native model (not exact: "
                              "reported apart with its agreement with fp32; against CTranslate2's bf16, or its "
                              "float32 where this CPU has no bf16)."),
    kernels: str = typer.Option("auto", help="fp32 linear kernels on the CPU: auto (the faster of MKL and oneDNN "
                                "per GEMM shape class, measured, kept only where outputs stay exact), mkl, onednn."),
    against: str = typer.Option("transformers", help="transformers, or ctranslate2: CTranslate2 (converted from "
                                "the same weights) joins as a third implementation; with --int8 its int8 too."),
) -> None:
    """Time native T5 against transformers' T5 on identical weights, and check their outputs agree."""
    from rich.console import Console

    if model is not None and model.is_dir() and _is_gpt2(model):
        _bench_gpt2(model, batch_size, input_len, new_tokens, repeats, seed, threads, json_out)
        return
    from t5eval.bench.suite import BenchConfig, run_bench
    from t5eval.bench.table import markdown_table, rich_table
    from t5eval.results import check_out_path

    if json_out is not None:
        check_out_path(json_out, "--json")

    cfg = BenchConfig(preset=preset, model=model, batch_size=batch_size, input_len=input_len,
                      new_tokens=new_tokens, beam_size=beam_size, threads=threads, device=device,
                      repeats=repeats, seed=seed, skip=tuple(skip), task=task, limit=limit,
                      e2e_max_decode_len=e2e_max_decode_len, e2e_repeats=e2e_repeats, data_dir=data_dir, vocab=vocab,
                      int8=int8, dtype=dtype, kernels=kernels, against=against)
    console = Console(stderr=True)
    report = run_bench(cfg, progress=lambda msg: console.log(msg))
    Console(width=max(Console().width, 200)).print(rich_table(report))
    if markdown:
        typer.echo(markdown_table(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=1) + "\n")
        console.log(f"wrote {json_out}")


def _is_gpt2(model: Path) -> bool:
    from t5eval.model.load import model_family

    return model_family(model).name == "gpt2"


def _bench_gpt2(model: Path, batch_size: int, input_len: int, new_tokens: int, repeats: int, seed: int,
                threads: int | None, json_out: Path | None) -> None:
    """A GPT-2 folder: greedy decoding, native vs transformers (t5eval.bench.gpt2); prints the JSON report."""
    from t5eval.bench.gpt2 import run_gpt2_bench

    report = run_gpt2_bench(model, batch_size, input_len, new_tokens, repeats, seed, threads)
    typer.echo(json.dumps(report, indent=1))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=1) + "\n")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("bench")(bench)
