"""A study at one scale and N seeds -> its cells: ordinary `t5eval pretrain` and `t5eval run` folders.

Each level is a chain: a pre-training (or none), then a `t5eval run` of the study's tasks, whose folder is the
level's result for that seed, `runs/<level>_s<seed>`. A per-task level (leave-one-out) has one chain per task,
`runs/<level>_s<seed>-<task>`. An ensemble level's chain is each member's (member m of seed s has seed
s + 1000·m; member 0 is the seed's own), followed by one decode cell per task, `runs/<level>_s<seed>-<task>`
(`t5eval run TASK --no-finetune --model M0/TASK/best --ensemble M1/TASK/best,...`), which waits for every member.
Identical pre-training (same merged options and model, same seed) is one cell shared by every level that uses
it; an ensemble member identical to another level's run (the baseline's, for member 0) is that run.
Cells are ordered seed by seed (a seed's pre-trainings, then its runs, then its decodes), and `--cell I/N` takes
every N-th cell from the I-th: a deterministic split of the study into N disjoint slices that cover it once.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.study.derive import evaluate, expression_values, fill, is_expression
from t5eval.study.schema import KnownOptions, Level, Options, Scale, Study, check_kind

SHARED_CORPUS = "shared-unlabeled"
MAX_NAME = 60  # folder names longer than this become a readable prefix + a hash
MEMBER_SEED_STRIDE = 1000  # ensemble member m of seed s trains with seed s + 1000·m


def result_cell_name(level: str, seed: int, task: str | None = None) -> str:
    """The run folder holding a level's scores for one seed (and one task, for per-task and ensemble levels)."""
    return f"runs/{level}_s{seed}" + (f"-{task}" if task else "")


def result_cell_names(level: Level, name: str, seed: int, tasks: list[str]) -> list[str]:
    """Every folder holding the level's scores for `seed`: one, or one per task."""
    if level.per_task or level.ensemble is not None:
        return [result_cell_name(name, seed, t) for t in tasks]
    return [result_cell_name(name, seed)]


@dataclass(frozen=True)
class Cell:
    """One command of the study and the folder it writes (`name`, relative to the study folder)."""

    kind: str  # "pretrain" | "run"
    name: str  # e.g. "pretrain/objective-bert_mlm_s0", "runs/bert_style_s0"
    seed: int
    argv: tuple[str, ...]  # the command without the leading `t5eval`
    levels: tuple[str, ...]  # levels that use this cell
    needs: tuple[str, ...] = ()  # the cells it waits for (a fine-tune: its pre-training; a decode: its members)

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
    cell_options: Options = field(default_factory=dict)  # `study run --threads/--device`: every cell gets them

    def by_name(self) -> dict[str, Cell]:
        return {c.name: c for c in self.cells}

    def run_cell(self, level: str, seed: int, task: str | None = None) -> Cell:
        return self.by_name()[result_cell_name(level, seed, task)]


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
        if value is None:
            continue
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



def merged_options(study: Study, scale_name: str, scale: Scale, command: str, level_options: Options,
                   cell_options: Options | None = None) -> Options:
    """Scale options, then the study's overrides for that scale, then the level's own options, then
    `cell_options` (`study run --threads/--device`, for every cell); a None value leaves the option out."""
    merged: Options = dict(getattr(scale, command))
    if scale_name in study.scales:
        merged.update(getattr(study.scales[scale_name], command))
    merged.update(level_options)
    merged.update(cell_options or {})
    return {k: v for k, v in merged.items() if v is not None}


def study_tasks(study: Study, scale_name: str, scale: Scale) -> list[str]:
    """The tasks at a scale: the study's own for that scale, else the scale's, else the study's."""
    override = study.scales.get(scale_name)
    return (override.tasks if override is not None and override.tasks else None) or scale.tasks or study.tasks


def _placeholder(value: Path | None, name: str) -> str:
    """An absolute path (cells run from any folder), or the environment variable a user sets."""
    return str(value.resolve()) if value is not None else f"${name}"


def _chunk_tokens(options: Mapping[str, Any]) -> int | None:
    """Corpus tokens per pre-training example for these pretrain options (`Objective.tokens_per_chunk`)."""
    from t5eval.pretrain.objectives import make_objective

    def number(key: str, default: float | None) -> float | None:
        value = options.get(key, default)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

    length = options.get("inputs_length", 512)
    if not isinstance(length, int):
        return None
    objective = make_objective(str(options.get("objective", "span_corruption")), length,
                               number("noise_density", None), number("mean_span_length", 3.0) or 3.0)
    return objective.tokens_per_chunk


def check_objective(options: Mapping[str, Any]) -> None:
    """The pre-training's objective settings as `t5eval pretrain` checks them before reading any file
    (unknown objective, a density it does not take, ...), so a bad level fails at plan time, not mid-study."""
    from t5eval.pretrain.objectives import make_objective

    def value(key: str) -> Any:
        found = options.get(key)
        return None if isinstance(found, str) and found.startswith("=") else found

    make_objective(str(options.get("objective", "span_corruption")), int(value("inputs_length") or 512),
                   value("noise_density"), float(value("mean_span_length") or 3.0),
                   targets_length=value("targets_length"), mlm_keep_prob=float(value("mlm_keep") or 0.0))


def _registry_tasks(name: str) -> list[str]:
    """A study task entry (task, alias or benchmark) -> the run.json task names it stands for."""
    from t5eval.tasks import TaskRegistry

    return [spec.name for spec in TaskRegistry.default().resolve(name)]


@dataclass
class _Planner:
    """Builds the cells of one study at one scale (see the module docstring)."""

    study: Study
    scale_name: str
    scale: Scale
    out: Path
    known: KnownOptions
    tasks: list[str]
    corpus: str
    vocab_text: str
    data_text: str
    cell_options: Options = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)
    run_keys: dict[tuple[str, ...], str] = field(default_factory=dict)  # argv without --out -> run cell

    def base(self, command: str) -> Options:
        return merged_options(self.study, self.scale_name, self.scale, command, {}, self.cell_options)

    def resolve(self, level_name: str, command: str, level_options: Options, task: str | None) -> Options:
        """The level's options for `command`: merged over the scale's, placeholders filled, expressions
        evaluated over the scale's options, each result checked against the option's kind."""
        where = f"study {self.study.name}, scale {self.scale_name}: levels.{level_name}.{command}"
        literal = {k: v for k, v in level_options.items() if not is_expression(v)}
        options = merged_options(self.study, self.scale_name, self.scale, command, literal, self.cell_options)
        key = ""
        try:
            for key, value in options.items():
                options[key] = fill(value, self.tasks, task) if isinstance(value, str) else value
            expressions = {k: str(v) for k, v in level_options.items() if is_expression(v)}
            if expressions:
                pretrain = options if command == "pretrain" else self.base("pretrain")
                values = expression_values({"pretrain": self.base("pretrain"), "run": self.base("run")}, pretrain,
                                           _chunk_tokens)
                for key, text in expressions.items():
                    options[key] = self._typed(command, key, evaluate(text, values))
        except T5evalError as err:
            raise T5evalError(f"{where}.{key}: {err}") from None
        return options

    def _typed(self, command: str, key: str, value: float | int) -> int | float:
        spec = self.known[command][key]
        if spec.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if spec.kind == "int" and not isinstance(value, int):
            raise T5evalError(f"evaluates to {value}, not a whole number; wrap it in round()")
        check_kind("value", command, spec, value)
        return value

    def model(self, level_name: str, level: Level) -> str:
        try:
            return level.model_for(self.scale.model) or self.scale.model
        except T5evalError as err:
            raise T5evalError(f"study {self.study.name}, scale {self.scale_name}: levels.{level_name}.{err}") from None

    def add(self, cell: Cell, level_name: str) -> str:
        """Add `cell`, or record that `level_name` uses the identical cell already there."""
        old = self.cells.get(cell.name)
        if old is None:
            self.cells[cell.name] = cell
        elif level_name not in old.levels:
            self.cells[cell.name] = Cell(old.kind, old.name, old.seed, old.argv, (*old.levels, level_name), old.needs)
        return cell.name

    def pretrain(self, level_name: str, level: Level, seed: int, task: str | None) -> str | None:
        """The level's pre-training cell for `seed` (None: random init)."""
        if level.pretrain == "none":
            return None
        options = self.resolve(level_name, "pretrain", level.pretrain or {}, task)
        try:
            check_objective(options)
        except T5evalError as err:
            raise T5evalError(f"study {self.study.name}, scale {self.scale_name}: levels.{level_name}.pretrain: "
                              f"{err}") from None
        base, model = self.base("pretrain"), self.model(level_name, level)
        changed: Options = {k: v for k, v in options.items() if base.get(k, object()) != v}
        changed |= {k: "none" for k in base if k not in options}
        if model != self.scale.model:
            changed["model"] = model
        name = f"pretrain/{_folder_name(changed)}_s{seed}"
        data = ("--data-dir", self.data_text) if options.get("mix_tasks") else ()  # the mixture's tasks
        argv = ("pretrain", "--model", model, "--corpus", self.corpus, "--vocab", self.vocab_text, *data,
                "--seed", str(seed), "--out", str(self.out / name), *_flag_args("pretrain", options, self.known))
        return self.add(Cell("pretrain", name, seed, argv, (level_name,)), level_name)

    def run(self, name: str, level_name: str, level: Level, seed: int, task: str | None, needs: str | None,
            *, share: bool = False) -> str:
        """A `t5eval run` cell fine-tuning (or evaluating) the chain's model on its tasks; `share`: an identical
        run already planned (another level's) is used instead of a new folder."""
        options = self.resolve(level_name, "run", level.run, task)
        model = (["--model", str(self.out / needs)] if needs else
                 ["--model", self.model(level_name, level), "--init", "random", "--vocab", self.vocab_text])
        tasks = task or ",".join(self.tasks)
        head = ("run", tasks, *model, "--data-dir", self.data_text, "--seed", str(seed))
        tail = tuple(_flag_args("run", options, self.known))
        key = (*head, *tail)
        if share and key in self.run_keys:
            return self.add(self.cells[self.run_keys[key]], level_name)
        argv = (*head, "--out", str(self.out / name), *tail)
        self.run_keys.setdefault(key, name)
        return self.add(Cell("run", name, seed, argv, (level_name,), (needs,) if needs else ()), level_name)

    def chains(self, level_name: str, level: Level, seed: int) -> None:
        """The level's pre-training and run for `seed` (per task: one pair per task)."""
        for task in (self.tasks if level.per_task else [None]):
            needs = self.pretrain(level_name, level, seed, task)
            self.run(result_cell_name(level_name, seed, task), level_name, level, seed, task, needs)

    def ensemble(self, level_name: str, level: Level, seed: int) -> list[Cell]:
        """The members' chains, then one decode cell per task waiting for all of them."""
        assert level.ensemble is not None
        members = []
        for m in range(level.ensemble.members):
            member_seed = seed + MEMBER_SEED_STRIDE * m
            pretrain_seed = seed if level.ensemble.pretraining == "shared" else member_seed
            needs = self.pretrain(level_name, level, pretrain_seed, None)
            members.append(self.run(f"runs/{level_name}_s{seed}_m{m}", level_name, level, member_seed, None,
                                    needs, share=True))
        decodes = []
        options = {k: v for k, v in self.base("run").items()} | {"no_finetune": True}
        options |= {k: v for k, v in level.run.items() if k.startswith("ensemble") and v is not None}
        for entry in self.tasks:
            for task in _registry_tasks(entry):
                best = [str(self.out / member / task / "best") for member in members]
                name = result_cell_name(level_name, seed, task)
                argv = ("run", task, "--model", best[0], "--ensemble", ",".join(best[1:]), "--data-dir",
                        self.data_text, "--seed", str(seed), "--out", str(self.out / name),
                        *_flag_args("run", options, self.known))
                decodes.append(Cell("run", name, seed, argv, (level_name,), tuple(members)))
        return decodes


def plan_study(study: Study, scale_name: str, scale: Scale, seeds: list[int], out: Path, known: KnownOptions,
               *, data_dir: Path | None = None, vocab: Path | None = None,
               cell_options: Options | None = None) -> StudyPlan:
    """The cells of `study` at `scale` for `seeds`, writing under `out` (absolute paths in commands);
    `cell_options` (options both `pretrain` and `run` take, e.g. threads, device) override every cell's."""
    out = out.absolute()
    tasks = study_tasks(study, scale_name, scale)
    corpus = str(out / "corpus.jsonl") if scale.corpus == SHARED_CORPUS else scale.corpus
    given: Options = {k: v for k, v in (cell_options or {}).items() if v is not None}
    plan = StudyPlan(study, scale_name, scale, seeds, out, tasks, corpus=corpus, cell_options=given)
    for seed in seeds:
        planner = _Planner(study, scale_name, scale, out, known, tasks, corpus, _placeholder(vocab, "T5EVAL_VOCAB"),
                           _placeholder(data_dir, "T5EVAL_DATA_DIR"), given)
        for level_name, level in study.levels.items():  # own chains first: ensemble members reuse them
            if level.ensemble is None:
                planner.chains(level_name, level, seed)
        decodes = [c for name, lv in study.levels.items() if lv.ensemble is not None
                   for c in planner.ensemble(name, lv, seed)]
        cells = list(planner.cells.values())
        plan.cells += [c for c in cells if c.kind == "pretrain"] + [c for c in cells if c.kind == "run"] + decodes
    return plan
