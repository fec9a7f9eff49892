"""A study at one scale and N seeds -> its cells: ordinary `t5eval pretrain` and `t5eval run` folders.

Identical pre-training (same merged options, same seed) is one cell shared by every level that uses it.
Cells are ordered seed by seed (a seed's pre-trainings, then its fine-tunes), and `--cell I/N` takes every
N-th cell from the I-th: a deterministic split of the study into N disjoint slices that cover it once.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from t5eval.errors import T5evalError
from t5eval.study.schema import KnownOptions, Options, Scale, Study

SHARED_CORPUS = "shared-unlabeled"
MAX_NAME = 60  # folder names longer than this become a readable prefix + a hash


@dataclass(frozen=True)
class Cell:
    """One command of the study and the folder it writes (`name`, relative to the study folder)."""

    kind: str  # "pretrain" | "run"
    name: str  # e.g. "pretrain/objective-bert_mlm_s0", "runs/bert_style_s0"
    seed: int
    argv: tuple[str, ...]  # the command without the leading `t5eval`
    levels: tuple[str, ...]  # levels that use this cell (a run cell: its one level)
    needs: str | None = None  # run cells: the pre-training cell they wait for

    def command(self) -> str:
        """The shell command; a placeholder ($T5EVAL_VOCAB) stays expandable."""
        return " ".join(f'"{a}"' if a.startswith("$") else shlex.quote(a) for a in ("t5eval", *self.argv))


@dataclass
class StudyPlan:
    """Every cell of a study at one scale and seeds, in run order."""

    study: Study
    scale_name: str
    scale: Scale
    seeds: list[int]
    out: Path
    tasks: list[str]
    cells: list[Cell] = field(default_factory=list)
    corpus: str = ""  # the --corpus value every pre-training gets

    def by_name(self) -> dict[str, Cell]:
        return {c.name: c for c in self.cells}

    def run_cell(self, level: str, seed: int) -> Cell:
        return self.by_name()[f"runs/{level}_s{seed}"]


def parse_slice(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 1 <= I <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise T5evalError(f"--cell {text!r}: expected I/N with 1 <= I <= N, e.g. --cell 2/4 (the 2nd of 4 slices)")
    return int(match[1]), int(match[2])


def slice_cells(cells: list[Cell], index: int, count: int) -> list[Cell]:
    """The index-th (1-based) of `count` disjoint slices: every count-th cell starting at index - 1."""
    return cells[index - 1 :: count]


def _flag_args(command: str, options: Options, known: KnownOptions) -> list[str]:
    """Options as command-line arguments: `--name value`, a switch as its on or off flag."""
    args: list[str] = []
    for name, value in options.items():
        spec = known[command][name]
        if isinstance(value, bool):
            if value:
                args.append(spec.flag)
            elif spec.off_flag:
                args.append(spec.off_flag)
        else:
            args += [spec.flag, str(value)]
    return args


def _folder_name(changed: Options) -> str:
    """A readable folder name for a pre-training: its options that differ from the scale's."""
    if not changed:
        return "default"
    text = "_".join(f"{k}-{v}" for k, v in sorted(changed.items()))
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    if len(text) <= MAX_NAME:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return f"{text[: MAX_NAME - 11]}-{digest}"


def merged_options(study: Study, scale_name: str, scale: Scale, command: str, level_options: Options) -> Options:
    """Scale options, then the study's overrides for that scale, then the level's own options."""
    merged: Options = dict(getattr(scale, command))
    if scale_name in study.scales:
        merged.update(getattr(study.scales[scale_name], command))
    merged.update(level_options)
    return merged


def _placeholder(value: Path | None, name: str) -> str:
    """An absolute path (cells run from any folder), or the environment variable a user sets."""
    return str(value.resolve()) if value is not None else f"${name}"


def plan_study(study: Study, scale_name: str, scale: Scale, seeds: list[int], out: Path, known: KnownOptions,
               *, data_dir: Path | None = None, vocab: Path | None = None) -> StudyPlan:
    """The cells of `study` at `scale` for `seeds`, writing under `out` (absolute paths in commands)."""
    out = out.absolute()
    tasks = scale.tasks or study.tasks
    corpus = str(out / "corpus.jsonl") if scale.corpus == SHARED_CORPUS else scale.corpus
    plan = StudyPlan(study, scale_name, scale, seeds, out, tasks, corpus=corpus)
    vocab_text, data_text = _placeholder(vocab, "T5EVAL_VOCAB"), _placeholder(data_dir, "T5EVAL_DATA_DIR")
    base_pretrain = merged_options(study, scale_name, scale, "pretrain", {})
    for seed in seeds:
        pretrain_cells: dict[str, Cell] = {}
        level_needs: dict[str, str | None] = {}
        for level_name, level in study.levels.items():
            if level.pretrain == "none":
                level_needs[level_name] = None
                continue
            options = merged_options(study, scale_name, scale, "pretrain", level.pretrain or {})
            changed = {k: v for k, v in options.items() if base_pretrain.get(k, object()) != v}
            name = f"pretrain/{_folder_name(changed)}_s{seed}"
            if name in pretrain_cells:
                old = pretrain_cells[name]
                pretrain_cells[name] = Cell(old.kind, old.name, seed, old.argv, (*old.levels, level_name))
            else:
                argv = ("pretrain", "--model", scale.model, "--corpus", corpus, "--vocab", vocab_text,
                        "--seed", str(seed), "--out", str(out / name), *_flag_args("pretrain", options, known))
                pretrain_cells[name] = Cell("pretrain", name, seed, argv, (level_name,))
            level_needs[level_name] = name
        plan.cells += pretrain_cells.values()
        for level_name, level in study.levels.items():
            options = merged_options(study, scale_name, scale, "run", level.run)
            needs = level_needs[level_name]
            model = (["--model", str(out / needs)] if needs else
                     ["--model", scale.model, "--init", "random", "--vocab", vocab_text])
            name = f"runs/{level_name}_s{seed}"
            argv = ("run", ",".join(tasks), *model, "--data-dir", data_text, "--seed", str(seed),
                    "--out", str(out / name), *_flag_args("run", options, known))
            plan.cells.append(Cell("run", name, seed, argv, (level_name,), needs))
    return plan
