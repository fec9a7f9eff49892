"""CLI commands of this area (see t5eval/cli/__init__.py): `t5eval run`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer

from t5eval.errors import T5evalError
from t5eval.results import is_subset


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """`run.options.check_choice` (imported lazily: torch loads with it); cli.pretrain_cmds uses it."""
    from t5eval.run.options import check_choice as check

    check(name, value, choices)


def check_positive(**values: int | None) -> None:
    """`run.options.check_positive` (imported lazily); cli.pretrain_cmds uses it."""
    from t5eval.run.options import check_positive as check

    check(**values)


def canonical_command(ctx: typer.Context) -> tuple[str, ...]:
    """The current `t5eval run` invocation as argv: arguments, then every non-default option."""
    argv = ["t5eval", ctx.info_name or "run"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.param_type_name == "argument":
            argv.append(str(value))
        elif value is not None and value != param.default:
            flag = max(param.opts, key=len)
            argv += [flag] if value is True else [flag, str(value)]
    return tuple(argv)


def head_hyperparameters(**given: Any) -> Any:
    """BERT's hyper-parameters with the options given on the command line (None when none was: the defaults)."""
    from t5eval.train.head_step import HeadHyperparameters

    chosen = {k: v for k, v in given.items() if v is not None}
    return HeadHyperparameters(**chosen) if chosen else None


def parse_lr_grid(text: str | None, lr: float | None, no_finetune: bool) -> tuple[float, ...] | None:
    """--lr-grid 5e-5,4e-5,3e-5,2e-5 -> (5e-05, 4e-05, 3e-05, 2e-05); one-line errors for what cannot be one."""
    if text is None:
        return None
    if lr is not None or no_finetune:
        raise T5evalError(f"--lr-grid {text} chooses the learning rate by fine-tuning once per value: drop "
                          + ("--lr" if lr is not None else "--no-finetune"))
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise T5evalError(f"--lr-grid {text!r}: give comma-separated learning rates, e.g. 5e-5,4e-5,3e-5,2e-5") from None


def summary_table(record: dict[str, Any]) -> Any:
    """A one-screen rich table: task, n, metrics, best step, train and decode tokens/s, averages."""
    from rich.table import Table

    limit = (record.get("settings") or {}).get("limit")
    subsets = {name for name, task in record["tasks"].items() if is_subset(task["n"], limit)}
    caption = (f"* subset: the first {limit} examples of the split (--limit {limit}), not comparable with "
               "full-split scores" if subsets else None)
    table = Table(title=f"t5eval run {record['run_id']}", title_justify="left", caption=caption,
                  caption_justify="left")
    table.add_column("task (split)", overflow="fold")
    table.add_column("n", justify="right")
    table.add_column("metrics", overflow="fold")
    table.add_column("best step", justify="right")
    table.add_column("tok/s train/decode", justify="right")
    for name, task in record["tasks"].items():
        metrics = ", ".join(f"{k} {v:.2f}" for k, v in task["metrics"].items())
        n = f"{task['n']}*" if name in subsets else str(task["n"])
        tput = task.get("throughput", {})
        best = task.get("best_step")
        speed = f"{tput.get('train_tokens_per_s', 0):.0f}/{tput.get('decode_tokens_per_s', 0):.0f}"
        table.add_row(f"{name} ({task['split']})", n, metrics, "-" if best is None else str(best), speed)
    marked = _benchmarks_of(subsets)
    for bench, avg in record.get("benchmarks", {}).items():
        text = _average_text(avg) + (" * (subset)" if bench in marked and avg.get("average") is not None else "")
        table.add_row(f"{bench} average", "", text, "", "")
    return table


def _benchmarks_of(tasks: set[str]) -> set[str]:
    """The benchmarks these tasks belong to."""
    from t5eval.tasks import TaskRegistry

    registry = TaskRegistry.default()
    return {registry.get(name).benchmark for name in tasks if name in registry.tasks}


def _average_text(avg: dict[str, Any]) -> str:
    """'81.20', or '77.06 over 1 of 8 groups (incomplete)' when some of the benchmark's tasks were not run."""
    value = avg.get("average")
    if value is None:
        return "n/a"
    if avg.get("complete"):
        return f"{value:.2f}"
    done = len(avg.get("groups", {}))
    return f"{value:.2f} over {done} of {done + len(avg.get('missing', []))} groups (incomplete)"


def check_ensemble_and_mixing(ensemble: str | None, reduce: str, mixing: str, mixture: bool, no_finetune: bool,
                              scoring: str) -> tuple[str, ...]:
    """--mixing needs --mixture; --ensemble decodes fine-tuned models as they are. Returns the members."""
    from t5eval.model.ensemble import REDUCTIONS
    from t5eval.train.mixing import parse_mixing

    parse_mixing(mixing)
    if mixing != "proportional" and not mixture:
        raise T5evalError(f"--mixing {mixing} sets the rates of a multi-task mixture: add --mixture")
    check_choice("--ensemble-reduce", reduce, REDUCTIONS)
    if ensemble is None:
        return ()
    members = tuple(m.strip() for m in ensemble.split(",") if m.strip())
    if not members:
        raise T5evalError("--ensemble names no model; pass DIR,DIR,... (the members besides --model)")
    if not no_finetune or scoring != "generate":
        raise T5evalError("--ensemble decodes models fine-tuned separately (the paper's ensembles): add "
                          "--no-finetune, and use --scoring generate")
    return members


def _check_before_loading(target: str, out: Path | None, data_dir: Path | None, model: str) -> None:
    """Refusals that need no torch (imported later, which takes seconds): the output folder, the hub when no
    --data-dir is given, and a model source that is no model (a missing folder, an unfinished pre-training,
    a run folder)."""
    from t5eval.model.load import check_model_source
    from t5eval.results import check_out_path
    from t5eval.run.options import require_data_source
    from t5eval.tasks import TaskRegistry

    check_out_path(out or Path("results"), "--out" if out else "results folder", folder=True)
    require_data_source(TaskRegistry.default().resolve(target), data_dir)
    check_model_source(model)


def run_cmd(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="benchmark (glue, super_glue, squad, cnn_dailymail, wmt), task, or comma list"),
    model: str = typer.Option(..., "--model", "-m", help="hub id, local HF dir, or a preset with --init random"),
    init: str = typer.Option("pretrained", help="pretrained | random (seeded; presets)"),
    vocab: Path | None = typer.Option(None, help="spiece.model (default: MODEL_DIR/spiece.model, else $T5EVAL_VOCAB)"),
    data_dir: Path | None = typer.Option(None, envvar="T5EVAL_DATA_DIR", help="local data folder"),
    out: Path | None = typer.Option(None, help="run folder (default results/<date-time>_<model>_<target>)"),
    limit: int | None = typer.Option(None, help="evaluate on the first N examples of each task"),
    seed: int = typer.Option(0, help="seed for random init, batch order and dropout"),
    steps: int = typer.Option(2**18, help="fine-tuning steps (paper: 2^18)"),
    eval_every: int = typer.Option(5000, help="checkpoint + validation every N steps (paper: 5000)"),
    batch_tokens: int = typer.Option(65536, help="tokens per batch: packed rows of --pack-length (the default: "
                                     "batch_tokens // pack_length rows), or padded tokens with --no-pack "
                                     "(paper: 128 x 512)"),
    grad_accum: int = typer.Option(1, help="micro-batches per optimizer step"),
    pack: bool | None = typer.Option(None, "--pack/--no-pack",
                                     help="pack several examples per row, as T5 fine-tuned (default for "
                                          "encoder-decoder fine-tuning); --no-pack: padded length buckets"),
    pack_length: int = typer.Option(512, help="input and target tokens per packed row (T5: 512)"),
    max_input_len: int | None = typer.Option(None, help="cap training inputs below the task's 512"),
    no_finetune: bool = typer.Option(False, "--no-finetune", help="evaluate the checkpoint as is"),
    mixture: bool = typer.Option(False, "--mixture", help="fine-tune one model on T5's proportional mixture"),
    protocol: str = typer.Option("current", help="current | paper (metric variants, spec)"),
    split: str | None = typer.Option(None, help="evaluate this split (e.g. test) instead; needs --no-finetune"),
    threads: int | None = typer.Option(None, help="CPU threads for torch"),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N | mps (default: cuda if available, else cpu)"),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 (bf16 autocast of forward passes; fp32 weights)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it holds another run"),
    fsdp: bool = typer.Option(False, "--fsdp", help="under torchrun (>= 2 processes): shard fine-tuning with FSDP2"),
    skip_missing: bool = typer.Option(False, "--skip-missing",
                                      help="leave out tasks with no eval data (listed in run.json)"),
    lr: float | None = typer.Option(None, help="task heads (BERT): learning rate (default 2e-5)"),
    epochs: int | None = typer.Option(None, help="task heads: epochs (default 3)"),
    batch_size: int | None = typer.Option(None, help="task heads: examples per batch (default 32)"),
    max_len: int | None = typer.Option(None, help="task heads: tokens per input, cut longest-first (default 128)"),
    warmup: float | None = typer.Option(None, help="task heads: share of steps warming up (default 0.1)"),
    dropout: float | None = typer.Option(None, help="task heads: dropout everywhere (default 0.1)"),
    train_limit: int | None = typer.Option(None, help="task heads: train on the first N examples only"),
    lr_grid: str | None = typer.Option(None, help="task heads: fine-tune once per lr (e.g. 5e-5,4e-5,3e-5,2e-5, BERT's "
                                       "grid), keep the best on validation; each a cell <task>/lr_<lr>/"),
    bert_recipe: str | None = typer.Option(None, help="task heads: official (BERT's AdamWeightDecay, decay over all "
                                           "steps, clip 1.0, final epoch; default) | torch (AdamW, best epoch); docs/bert.md"),
    transfer: str = typer.Option("all", help="what fine-tuning trains: all | frozen | adapters:D | adapters-houlsby:D | gradual-unfreezing "
                                             "(the T5 paper's §3.5.1; text-to-text T5 and task heads, docs/bert.md)"),
    head: str | None = typer.Option(None, help="classify: task heads on T5's encoder instead of text-to-text"),
    scoring: str = typer.Option("generate", help="generate | rank (classification by label log-likelihood)"),
    mixing: str = typer.Option("proportional", help="with --mixture: equal | proportional (T5's weights) | "
                                                    "proportional:K | temperature:T[:K] (docs/train.md)"),
    ensemble: str | None = typer.Option(None, help="DIR,DIR,...: decode --model and these fine-tuned models as "
                                                   "one ensemble (with --no-finetune; docs/model.md)"),
    ensemble_reduce: str = typer.Option("prob", help="prob (mean of probabilities, Mesh TF's default) | logit "
                                                     "(mean of logits)"),
    kernels: str = typer.Option("mkl", help="fp32 CPU decoding's linear kernels: mkl (torch's default) | auto "
                                            "(oneDNN per GEMM class where measured faster in situ and rows stay "
                                            "identical on the first batch) | onednn (docs/bench.md)"),
) -> None:
    """Fine-tune (unless --no-finetune) and evaluate; write results/<run>/run.json and predictions."""
    _check_before_loading(target, out, data_dir, model)
    _execute(run_options(ctx, dict(locals())))


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("run")(run_cmd)


def run_options(ctx: typer.Context, given: dict[str, Any]) -> Any:
    """`RunOptions` from the parsed command line (`run_cmd`'s parameters); parsing only, the plan step validates."""
    from t5eval.run.options import RunOptions, default_device

    g = given
    return RunOptions(
        target=g["target"], model=g["model"], init=g["init"], vocab=g["vocab"], data_dir=g["data_dir"], out=g["out"],
        limit=g["limit"], seed=g["seed"], steps=g["steps"], eval_every=g["eval_every"], batch_tokens=g["batch_tokens"],
        grad_accum=g["grad_accum"], pack=g["pack"], pack_length=g["pack_length"], max_input_len=g["max_input_len"],
        finetune=not g["no_finetune"], mixture=g["mixture"], protocol=g["protocol"], split=g["split"],
        threads=g["threads"], overwrite=g["overwrite"], device=g["device"] or default_device(), dtype=g["dtype"],
        fsdp=g["fsdp"], skip_missing=g["skip_missing"], scoring=g["scoring"], command=canonical_command(ctx),
        head=g["head"], transfer=g["transfer"], mixing=g["mixing"], ensemble_reduce=g["ensemble_reduce"],
        kernels=g["kernels"],
        head_hyperparameters=head_hyperparameters(
            lr=g["lr"], epochs=g["epochs"], batch_size=g["batch_size"], max_len=g["max_len"], warmup=g["warmup"],
            dropout=g["dropout"], train_limit=g["train_limit"], bert_recipe=g["bert_recipe"],
            lr_grid=parse_lr_grid(g["lr_grid"], g["lr"], g["no_finetune"])),
        ensemble=check_ensemble_and_mixing(g["ensemble"], g["ensemble_reduce"], g["mixing"], g["mixture"],
                                           g["no_finetune"], g["scoring"]))  # fmt: skip


def _execute(opts: Any) -> None:
    """Run `opts` with progress on stderr; Ctrl-C prints the resume command (exit 130); rank 0 prints the summary."""
    from rich.console import Console

    from t5eval.run.orchestrate import RunInterrupted, run
    from t5eval.run.progress import RunProgress

    err_console = Console(stderr=True)
    try:
        record = run(opts, RunProgress(err_console), log=lambda msg: err_console.print(msg, markup=False, highlight=False, soft_wrap=True))
    except RunInterrupted as stop:
        command = shlex.join(opts.command if opts.out else (*opts.command, "--out", str(stop.run_dir)))
        typer.secho(f"interrupted: finished work is saved in {stop.run_dir}; resume with: {command}",
                    fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None
    from t5eval.distributed.context import is_main_process

    if is_main_process():  # under torchrun, rank 0 prints the summary (docs/distributed.md)
        from t5eval.cli.console import stdout_console

        stdout_console().print(summary_table(record))
        typer.echo(f"results: {opts.out or opts.results_root / record['run_id']}")
