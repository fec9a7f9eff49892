"""`t5eval pretrain` end to end: check every input, export examples, train, write the HF folder and the record.

Output folder (`--out DIR`): `config.json`, `model.safetensors`, `spiece.model` (what `t5eval run
--model DIR` loads), `pretrain.json` (the run record, written last: its presence marks a finished
run), `settings.json` (fingerprint a restart must match) and, while training, `checkpoint.pt`.
Every check runs before anything is written, so a refused command leaves no file behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from t5eval.errors import T5evalError, did_you_mean
from t5eval.io import atomic_write_bytes, atomic_write_json, atomic_write_jsonl
from t5eval.model import LoadedModel, load_model, save_model, state_dict_sha256
from t5eval.model.cost import cost_line, model_cost
from t5eval.pretrain.checks import check_family, check_options
from t5eval.pretrain.clean import RULES, C4Cleaner, load_bad_words
from t5eval.pretrain.corpus import MAX_DOC_TOKENS, CorpusInfo, first_tokens, iter_chunks, load_chunks, repeats
from t5eval.pretrain.loop import PretrainConfig, PretrainState, StoppedAtStep, pretrain_loop, schedule_record
from t5eval.pretrain.mixed import MixedStream, load_tasks, member_rates
from t5eval.pretrain.objectives import Objective, make_objective, official_concat_docs
from t5eval.pretrain.progress import (
    PretrainInterrupted,
    family_of,
    log_line,
    measure_throughput,
    throughput_record,
)
from t5eval.pretrain.stream import ChunkSource, ExampleStream, LocalChunks, StreamedChunks, export_rows
from t5eval.results import check_settings, env_record, now_iso, pin_git_commit, write_settings
from t5eval.tokenizer import T5Tokenizer
from t5eval.trust import (
    PRETRAIN,
    clear_for_overwrite,
    read_json_object,
    require_kind,
    sweep_temp_files,
    write_marker,
)

Log = Callable[[str], None]
DisplayFactory = Callable[[], Callable[[Any], None]]  # makes the per-step progress callback (cli: RunProgress)
RECORD, CHECKPOINT = "pretrain.json", "checkpoint.pt"
LM_LOSSES = ("targets", "all")


@dataclass(frozen=True)
class PretrainOptions:
    """What `t5eval pretrain` was asked (CLI flags, already parsed)."""

    model: str
    corpus: str
    objective: str = "span_corruption"
    init: str = "random"
    vocab: Path | None = None
    steps: int = 2**19
    batch_tokens: int = 65536
    inputs_length: int = 512
    targets_length: int | None = None
    noise_density: float | None = None
    mean_span_length: float = 3.0
    mlm_keep: float = 0.0
    concat_docs: int | None = None  # reduce_concat_tokens batch; None: the objective's official default; 0: all
    clean: str | None = None  # "c4": the paper's C4 rules (clean.py)
    bad_words: Path | None = None
    seed: int = 0
    dropout: float | None = None  # None: 0.1 for v1.0 models (paper), 0.0 for v1.1
    out: Path | None = None
    export_n: int | None = None
    export_path: Path | None = None
    save_every: int = 1000
    log_every: int = 100
    device: str = "cpu"
    overwrite: bool = False
    command: tuple[str, ...] = ()
    lm_loss: str = "targets"  # decoder-only models: "targets" (target tokens) | "all" (inputs + targets)
    corpus_tokens: int | None = None  # train on the first N tokens of the corpus, repeated (Table 9)
    mix_tasks: str | None = None  # multi-task pre-training: supervised tasks mixed with the corpus (mixed.py)
    mixing: str = "proportional"  # their rates (t5eval.train.mixing)
    corpus_rate: float | None = None  # the corpus member's fixed rate (T5's rate_unsupervised); 0 = left out
    data_dir: Path | None = None  # the tasks' data (as `run --data-dir`)


def build_stream(opts: PretrainOptions, tok: T5Tokenizer) -> tuple[ExampleStream, CorpusInfo]:
    """Objective, chunks and the example stream (every data error surfaces here; the objective's first)."""
    obj = make_objective(opts.objective, opts.inputs_length, opts.noise_density, opts.mean_span_length,
                         tok.vocab_size, opts.targets_length, opts.mlm_keep)
    rows = opts.batch_tokens // opts.inputs_length
    if rows < 1:
        raise T5evalError(f"--batch-tokens {opts.batch_tokens} is below one sequence of --inputs-length "
                          f"{opts.inputs_length}; use at least {opts.inputs_length}")
    cleaner = make_cleaner(opts)
    source: ChunkSource
    if opts.corpus_tokens is not None:  # the first N tokens (local or streamed), then repeated as needed
        info = CorpusInfo(source=opts.corpus)
        chunks = first_tokens(iter_chunks(opts.corpus, tok, obj.tokens_per_chunk, opts.seed, info,
                                          official_concat_docs(opts.objective, opts.concat_docs),
                                          cleaner.clean_pages if cleaner else None), opts.corpus_tokens, opts.corpus)
        source = LocalChunks(chunks, opts.seed)
    elif opts.corpus.startswith("hub:"):
        info = CorpusInfo(source=opts.corpus)
        source = StreamedChunks(lambda: iter_chunks(opts.corpus, tok, obj.tokens_per_chunk, opts.seed, info,
                                                    official_concat_docs(opts.objective, opts.concat_docs),
                                                    cleaner.clean_pages if cleaner else None))
        source.chunk(0)  # fails now (offline, empty) rather than mid-run
    else:
        chunks, info = load_chunks(opts.corpus, tok, obj.tokens_per_chunk, opts.seed,
                                   official_concat_docs(opts.objective, opts.concat_docs),
                                   cleaner.clean_pages if cleaner else None)
        source = LocalChunks(chunks, opts.seed)
    if cleaner is not None:
        info.cleaning = cleaner.record()  # a live view for a streamed corpus: counts grow as it is read
    if opts.mix_tasks is not None:
        return mixed_stream(opts, tok, source, obj, rows), info
    if opts.mixing != "proportional" or opts.corpus_rate is not None:
        raise T5evalError("--mixing and --corpus-rate set the rates of --mix-tasks: add --mix-tasks TASKS")
    return ExampleStream(source, obj, opts.seed, rows), info


def mixed_stream(opts: PretrainOptions, tok: T5Tokenizer, source: ChunkSource, obj: Objective,
                 rows: int) -> MixedStream:
    """`--mix-tasks`: the corpus and the tasks as one stream, at `--mixing` / `--corpus-rate` rates."""
    if opts.corpus_tokens is not None:
        raise T5evalError("--corpus-tokens counts repeats of a corpus-only run; drop it or --mix-tasks")
    chunks = len(source.chunks) if isinstance(source, LocalChunks) else None
    if chunks is None and opts.corpus_rate is None:
        raise T5evalError("--mix-tasks with a streamed corpus needs --corpus-rate R (its size is unknown)")
    tasks = load_tasks(opts.mix_tasks or "", opts.data_dir, tok, opts.inputs_length)
    rates = member_rates(opts.mixing, chunks or 0, opts.corpus_rate, tasks)
    return MixedStream(source, obj, opts.seed, rows, tasks=tasks,
                       probabilities=[r["probability"] for r in rates.values()], rates=rates)


def make_cleaner(opts: PretrainOptions) -> C4Cleaner | None:
    """The `--clean` filter (None without it); one-line errors for an unknown name or a bad word list."""
    if opts.clean is None:
        if opts.bad_words is not None:
            raise T5evalError("--bad-words only applies with --clean c4; add --clean c4 or drop it")
        return None
    if opts.clean != "c4":
        raise T5evalError(f"--clean {opts.clean!r} is not known{did_you_mean(opts.clean, ['c4'])}; use --clean c4")
    return C4Cleaner(load_bad_words(opts.bad_words) if opts.bad_words else None)


def cleaning_lines(info: CorpusInfo) -> list[str]:
    """What `--clean c4` removed, one line per rule, for the log."""
    if info.cleaning is None:
        return []
    counts = info.cleaning["counts"]
    lines = [f"clean c4: {counts.get('pages_out', 0)} of {counts.get('pages_in', 0)} pages kept"]
    lines += [f"  {rule}: {counts[rule]}" for rule in RULES]
    lines += [f"  bad words: {info.cleaning['bad_words']}; language: {info.cleaning['language']}"]
    return lines


def settings_of(opts: PretrainOptions, loaded: LoadedModel, tok: T5Tokenizer, obj: Objective,
                info: CorpusInfo, cfg: PretrainConfig, rows: int) -> dict[str, Any]:
    """Everything that shapes the weights (a restart must match it)."""
    return {"model": opts.model, "init": opts.init, "initial_weights_sha256": loaded.weights_sha256,
            "vocab_sha256": tok.sha256, "corpus": {"source": info.source, "files": info.files, "clean": opts.clean,
                                                             "bad_words": str(opts.bad_words or "")},
            "chunking": chunking_record(obj, opts.concat_docs), "objective": obj.record(), "steps": cfg.steps,
            "seed": cfg.seed,
            "dropout": cfg.dropout, "rows_per_step": rows, "batch_tokens": opts.batch_tokens,
            "save_every": cfg.save_every, "device": opts.device,
            **({"corpus_tokens": opts.corpus_tokens} if opts.corpus_tokens is not None else {}),
            **({"lm_loss": opts.lm_loss} if getattr(loaded.model, "decoder_only", False) else {})}


def chunking_record(obj: Objective, concat_docs: int | None) -> dict[str, Any]:
    """How documents become chunks (T5's pipelines), as recorded; `concat_docs` None = the official default."""
    return {"select_random_chunk_max_tokens": MAX_DOC_TOKENS,
            "reduce_concat_tokens_docs": official_concat_docs(obj.name, concat_docs) or "all (whole corpus)",
            "reduce_concat_tokens_from": "--concat-docs" if concat_docs is not None else
            f"official default of {obj.name} (1: no reduce_concat_tokens in its gin config; else 128)",
            "tokens_per_chunk": obj.tokens_per_chunk, "eos_in_documents": False,
            "order": "seeded permutation of all chunks per epoch (local); corpus order, one pass (hub)"}


def pretrain(opts: PretrainOptions, log: Log, display: DisplayFactory | None = None) -> dict[str, Any] | None:
    """Run `t5eval pretrain`: export and/or train. Returns the run record (None for an export only).

    Every refusal that needs neither corpus nor weights comes first (`checks.check_options`), then the
    objective's settings, then the corpus is read. `display()`, when given, makes the per-step callback of
    the progress display (bar or plain lines). Ctrl-C during training raises `PretrainInterrupted` after the
    current step is saved.
    """
    pin_git_commit()  # the record names the code loaded now, not the checkout at the end
    found = check_options(opts.model, opts.out, opts.export_path)
    model_dir = Path(opts.model) if Path(opts.model).is_dir() else None
    tok = T5Tokenizer.find(model_dir, opts.vocab)
    if found is not None:
        tok.check_fits(found[1].vocab_size)
    stream, info = build_stream(opts, tok)
    for line in cleaning_lines(info):
        log(line)
    loaded = load_model(opts.model, init=opts.init, seed=opts.seed, device=opts.device) if opts.out else None
    if loaded is not None:
        check_family(opts.model, family_of(loaded))  # a hub id's family is known once downloaded
        tok.check_fits(loaded.config.vocab_size)
        apply_lm_loss(opts, loaded)
    if opts.export_n is not None and opts.export_path is not None:
        atomic_write_jsonl(opts.export_path, export_rows(stream, opts.export_n, tok))
        log(f"wrote the first {opts.export_n} examples to {opts.export_path}")
    if opts.out is None or loaded is None:
        return None
    dropout = opts.dropout if opts.dropout is not None else (0.1 if loaded.config.variant == "v1.0" else 0.0)
    cfg = PretrainConfig(opts.steps, opts.seed, dropout, min(opts.save_every, opts.steps), opts.log_every)
    settings = settings_of(opts, loaded, tok, stream.objective, info, cfg, stream.rows)
    if isinstance(stream, MixedStream):
        settings["mixture"] = mixture_record(stream)
    return _train(opts, loaded, tok, stream, info, cfg, settings, log, display)


def plan_lines(opts: PretrainOptions, loaded: LoadedModel, stream: ExampleStream) -> list[str]:
    """What the run will train, for the log: P and M, the mixture's members, the repeats of --corpus-tokens."""
    lines = [cost_line(model_cost(loaded.model))]
    if isinstance(stream, MixedStream):
        lines.append("mixture: " + ", ".join(f"{name} {r['probability']:.2%} ({r['examples']:,} examples, rate "
                                             f"{r['rate']:.6g})" for name, r in stream.rates.items()))
    if opts.corpus_tokens is not None and isinstance(stream.source, LocalChunks):
        chunks, seen = len(stream.source.chunks), opts.steps * stream.rows
        lines.append(f"corpus: the first {opts.corpus_tokens:,} tokens, {chunks:,} chunks; {opts.steps:,} steps x "
                     f"{stream.rows} rows = {seen:,} examples: {repeats(seen, chunks):g} repeats")
    return lines


def mixture_record(stream: MixedStream) -> dict[str, Any]:
    """`--mix-tasks`: every member's examples, rate and probability (the corpus first), as recorded."""
    return {"members": stream.rates, "tasks": {t.name: t.provenance for t in stream.tasks}}


def truncation_record(opts: PretrainOptions, stream: ExampleStream, state: PretrainState) -> dict[str, Any]:
    """`--corpus-tokens`: N, the chunks it makes, the repeats of the whole run, and the loss history with the
    repeat count reached at each entry (the paper's Figure 6: training loss against repeats)."""
    if opts.corpus_tokens is None or not isinstance(stream.source, LocalChunks):
        return {}
    chunks = len(stream.source.chunks)
    return {"corpus_tokens": {
        "tokens": opts.corpus_tokens, "chunks": chunks, "examples_seen": stream.position,
        "repeats": repeats(stream.position, chunks),
        "rule": "the first N tokens of the chunked corpus in corpus order (last chunk cut), each pass in a "
                "fresh seeded order; repeats = examples seen / chunks (one chunk per example)",
        "loss_by_repeats": [{**h, "repeats": repeats(int(h["step"]) * stream.rows, chunks)}
                            for h in state.loss_history]}}


def apply_lm_loss(opts: PretrainOptions, loaded: LoadedModel) -> None:
    """`--lm-loss`: which tokens a decoder-only model's loss scores (an encoder-decoder scores its targets)."""
    if opts.lm_loss not in LM_LOSSES:
        raise T5evalError(f"--lm-loss {opts.lm_loss!r} is not known{did_you_mean(opts.lm_loss, LM_LOSSES)}; "
                          "use targets or all")
    if not getattr(loaded.model, "decoder_only", False):
        if opts.lm_loss != "targets":
            raise T5evalError(f"--lm-loss {opts.lm_loss} applies to decoder-only models (t5lm presets); "
                              f"{opts.model} is an encoder-decoder, whose loss is on its targets: drop --lm-loss")
        return
    setattr(loaded.model, "loss_on_targets_only", opts.lm_loss == "targets")  # noqa: B010 (T5LM's flag)


def _prepare_out(out: Path, settings: dict[str, Any], overwrite: bool, log: Log) -> dict[str, Any] | None:
    """Refuse a folder that is not a pre-training of ours, or one with other settings (unless --overwrite,
    which deletes only what a pre-training writes); return the record of this run if it is finished."""
    if overwrite:
        kept = clear_for_overwrite(out, PRETRAIN, "--out")  # refuses (deleting nothing) unless it is a pre-training
        if kept:
            log(f"--overwrite: kept what t5eval did not write in {out}: {', '.join(kept)}")
    elif require_kind(out, PRETRAIN, "--out") and check_settings(out, settings):
        if (out / RECORD).is_file():
            return read_json_object(out / RECORD, "rerun with --overwrite to pre-train again (the "
                                                  "checkpoint was dropped when the run finished)")
        for path in sweep_temp_files(out):
            log(f"removed {path} (left by an interrupted write)")
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, PRETRAIN)
    write_settings(out, settings)
    return None


def _train(opts: PretrainOptions, loaded: LoadedModel, tok: T5Tokenizer, stream: ExampleStream,
           info: CorpusInfo, cfg: PretrainConfig, settings: dict[str, Any], log: Log,
           display: DisplayFactory | None) -> dict[str, Any]:
    out = Path(opts.out or ".")
    done = _prepare_out(out, settings, opts.overwrite, log)
    if done is not None:
        log(f"{out} already holds this finished run; nothing to do")
        return done
    for line in plan_lines(opts, loaded, stream):
        log(line)
    checkpoint = out / CHECKPOINT
    if checkpoint.is_file():
        log(f"resuming from {checkpoint}")
    device = torch.device(opts.device)
    flops_per_token, peak = measure_throughput(loaded, stream, device)
    cfg = replace(cfg, flops_per_token=flops_per_token, peak_gflops=peak)
    log(f"pretrain {stream.objective.name}: planned {cfg.steps:,} steps x {stream.rows} rows of "
        f"{opts.inputs_length} input tokens on {opts.device}; matmul peak {peak:,.1f} GFLOP/s measured now, "
        f"{flops_per_token / 1e6:,.2f} MFLOP per token (MFU is their share)")
    started = time.perf_counter()
    try:
        state = pretrain_loop(loaded.model, stream, cfg, checkpoint, device,
                              lambda entry: log(log_line(entry, cfg.steps)), display() if display else None)
    except StoppedAtStep as stop:
        raise PretrainInterrupted(out, stop.step) from None
    save_model(loaded.model, out)
    atomic_write_bytes(out / "spiece.model", tok.path.read_bytes())
    record = _record(opts, loaded, tok, stream, info, cfg, state, settings, time.perf_counter() - started)
    atomic_write_json(out / RECORD, record)
    checkpoint.unlink(missing_ok=True)
    log(f"pre-trained model: {out} (t5eval run TASK --model {out})")
    return record


def _record(opts: PretrainOptions, loaded: LoadedModel, tok: T5Tokenizer, stream: ExampleStream,
            info: CorpusInfo, cfg: PretrainConfig, state: PretrainState, settings: dict[str, Any],
            wall: float) -> dict[str, Any]:
    """The run record (`pretrain.json`)."""
    return {
        "schema": 1, "status": "complete", "command": list(opts.command), "created": now_iso(),
        "wall_time_s": wall,
        "model": {"source": opts.model, "init": opts.init, "variant": loaded.config.variant,
                  "initial_weights_sha256": loaded.weights_sha256,
                  "weights_sha256": state_dict_sha256(loaded.model), "config": loaded.config.to_hf(),
                  "cost": model_cost(loaded.model)},
        "vocab": {"path": str(tok.path), "sha256": tok.sha256},
        "corpus": asdict(info), "chunking": settings["chunking"], "objective": settings["objective"],
        "settings": {"steps": cfg.steps, "seed": cfg.seed, "dropout": cfg.dropout, "rows_per_step": stream.rows,
                     "batch_tokens": opts.batch_tokens, "save_every": cfg.save_every, "device": opts.device,
                     "optimizer": schedule_record(cfg), "lm_loss": settings.get("lm_loss")},
        "steps": state.step, "tokens_seen": state.train_tokens, "train_seconds": state.train_seconds,
        "examples_seen": stream.position,
        "padding": {"real_tokens": stream.real_tokens, "padded_tokens": stream.padded_tokens,
                    "fill": stream.real_tokens / max(stream.padded_tokens, 1)},
        "loss_history": state.loss_history, "resumed_from": state.resumed_from,
        "throughput": throughput_record(cfg, state),
        **truncation_record(opts, stream, state),
        **({"mixture": mixture_record(stream)} if isinstance(stream, MixedStream) else {}),
        "env": env_record(opts.device, torch.get_num_threads()),
    }  # fmt: skip
