"""CLI commands of the pre-training area (see t5eval/cli/__init__.py): `t5eval pretrain`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from t5eval.errors import T5evalError

if TYPE_CHECKING:
    from t5eval.pretrain.job import PretrainOptions

INITS = ("random", "pretrained")


def pretrain_cmd(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", "-m", help="preset (with --init random) or a local HF T5 folder"),
    corpus: str = typer.Option(..., help=".txt (blank-line-separated documents), .jsonl (text), a folder, "
                                         "or hub:ID[:CONFIG[:SPLIT]]"),
    objective: str = typer.Option("span_corruption", help="span_corruption | iid_replace_spans | iid_drop | "
                                                          "bert_mlm | mass | deshuffle | prefix_lm"),
    init: str = typer.Option("random", help="random (seeded, from a preset) | pretrained (continue MODEL)"),
    vocab: Path | None = typer.Option(None, help="spiece.model (default: MODEL/spiece.model)"),
    steps: int = typer.Option(2**19, help="optimizer steps (paper: 2^19)"),
    batch_tokens: int = typer.Option(65536, help="input tokens per step: batch_tokens // inputs_length "
                                                 "sequences (paper: 128 x 512)"),
    inputs_length: int = typer.Option(512, help="encoder length the chunks are sized for (paper: 512)"),
    targets_length: int | None = typer.Option(None, help="T5's sequence_length['targets']; too short is an error"),
    noise_density: float | None = typer.Option(None, help="share of corrupted tokens (default 0.15)"),
    mean_span_length: float = typer.Option(3.0, help="mean noise span length (span_corruption; paper: 3)"),
    mlm_keep: float = typer.Option(0.0, help="bert_mlm: share of noise tokens left unchanged "
                                             "(paper 0: 90% mask, 10% random; BERT: 0.1)"),
    concat_docs: int | None = typer.Option(None, help="documents concatenated before splitting (default: the "
                                                     "objective's official config: 128, or 1 for deshuffle and "
                                                     "prefix_lm; 0 = the whole corpus)"),
    clean: str | None = typer.Option(None, help="c4: the paper's C4 cleaning rules (docs/pretrain.md), counts printed"),
    bad_words: Path | None = typer.Option(None, help="with --clean c4: bad-words list, one per line (LDNOOBW)"),
    dropout: float | None = typer.Option(None, help="dropout rate (default: 0.1 for v1.0 as the paper, 0 for v1.1)"),
    seed: int = typer.Option(0, help="seed for init, chunk order, noise and dropout"),
    out: Path | None = typer.Option(None, help="output folder: HF checkpoint + pretrain.json"),
    export: tuple[int, str] | None = typer.Option(None, help="N FILE: write the first N examples as JSON lines"),
    save_every: int = typer.Option(1000, help="checkpoint every N steps (resume after kill -9)"),
    log_every: int = typer.Option(100, help="loss history / progress every N steps"),
    threads: int | None = typer.Option(None, help="CPU threads for torch"),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N (default: cuda when a GPU is visible, "
                                                 "else cpu)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it holds another run"),
    corpus_tokens: int | None = typer.Option(None, help="pre-train on the first N tokens of the corpus, repeated "
                                                        "as the steps need (the paper's Table 9); repeats recorded"),
    mix_tasks: str | None = typer.Option(None, help="multi-task pre-training: mix these tasks' training examples "
                                                    "with the corpus objective (docs/pretrain.md)"),
    mixing: str = typer.Option("proportional", help="with --mix-tasks: equal | proportional | proportional:K | "
                                                    "temperature:T[:K] (as run --mixing; the corpus counts its chunks)"),
    corpus_rate: float | None = typer.Option(None, help="with --mix-tasks: the corpus member's rate (T5's "
                                                        "rate_unsupervised); 0 = tasks only"),
    data_dir: Path | None = typer.Option(None, envvar="T5EVAL_DATA_DIR", help="with --mix-tasks: the tasks' data"),
    lm_loss: str = typer.Option("targets", help="decoder-only models: loss on the targets only, or on all "
                                                "tokens of inputs + targets (the paper's LM objective for the LM)"),
) -> None:
    """Pre-train a T5 with one of the paper's objectives; or --export the examples it would see."""
    from t5eval.cli.run_cmds import check_choice, check_positive
    from t5eval.pretrain.checks import check_export_path
    from t5eval.pretrain.job import PretrainOptions
    from t5eval.pretrain.objectives import make_objective
    from t5eval.run.options import check_device, default_device

    check_choice("--init", init, INITS)
    check_positive(steps=steps, batch_tokens=batch_tokens, inputs_length=inputs_length, save_every=save_every,
                    log_every=log_every, threads=threads, corpus_tokens=corpus_tokens)
    if export is not None and export[0] < 1:
        raise T5evalError(f"--export {export[0]} must be at least 1")
    if export is not None:
        check_export_path(Path(export[1]), export[1])
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise T5evalError(f"--dropout {dropout} must be in [0, 1)")
    if concat_docs is not None and concat_docs < 0:
        raise T5evalError(f"--concat-docs {concat_docs} must be 0 (whole corpus) or a positive count")
    make_objective(objective, inputs_length, noise_density, mean_span_length, targets_length=targets_length,
                   mlm_keep_prob=mlm_keep)  # objective settings refused (one line) before any file is read
    device = check_device(device or default_device())
    opts = PretrainOptions(
        model=model, corpus=corpus, objective=objective, init=init, vocab=vocab, steps=steps,
        batch_tokens=batch_tokens, inputs_length=inputs_length, targets_length=targets_length,
        noise_density=noise_density, mean_span_length=mean_span_length, mlm_keep=mlm_keep,
        concat_docs=concat_docs, clean=clean, bad_words=bad_words, seed=seed,
        dropout=dropout, out=out, export_n=export[0] if export else None,
        export_path=Path(export[1]) if export else None,
        save_every=save_every, log_every=log_every, device=device, overwrite=overwrite,
        command=_command(ctx, export), lm_loss=lm_loss, corpus_tokens=corpus_tokens,
        mix_tasks=mix_tasks, mixing=mixing, corpus_rate=corpus_rate, data_dir=data_dir,
    )  # fmt: skip
    _run(opts, threads)


def _run(opts: PretrainOptions, threads: int | None) -> None:
    """Pre-train with run's progress display; Ctrl-C saves the current step and prints the resume command."""
    import torch
    from rich.console import Console

    from t5eval.pretrain.job import PretrainInterrupted, pretrain
    from t5eval.run.progress import RunProgress, TrainPlan

    if threads:
        torch.set_num_threads(threads)
    console = Console(stderr=True)
    rows = opts.batch_tokens // opts.inputs_length
    plan = TrainPlan(f"pretrain {opts.objective}", opts.steps, rows * opts.inputs_length, opts.device)
    resume = shlex.join(opts.command)
    try:
        with RunProgress(console) as bars:
            pretrain(opts, lambda msg: console.print(msg, markup=False, highlight=False, soft_wrap=True),
                     display=lambda: bars.training(plan))
    except PretrainInterrupted as stop:
        typer.secho(f"interrupted: step {stop.step} is saved in {stop.out}; resume with: {resume}",
                    fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        saved = f"the last checkpoint in {opts.out} is kept; resume with: {resume}" if opts.out else "nothing saved"
        typer.secho(f"interrupted: {saved}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None


def _command(ctx: typer.Context, export: tuple[int, str] | None) -> tuple[str, ...]:
    """The invocation as argv (`canonical_command`), with `--export N FILE` as two arguments."""
    from t5eval.cli.run_cmds import canonical_command

    argv = list(canonical_command(ctx))
    if export is not None:
        at = argv.index("--export")
        argv[at + 1: at + 2] = [str(export[0]), str(export[1])]
    return tuple(argv)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("pretrain")(pretrain_cmd)
