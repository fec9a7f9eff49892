"""Study and scale files (task_defs/studies/*.yaml), typed with pydantic; every error is one line naming the
file and the key, with did-you-mean for unknown keys, options and names.

A study mirrors one paper table: a factor, a baseline level and the other levels, each level being the
`t5eval pretrain` and/or `t5eval run` options it changes (`pretrain: none` = no pre-training, random init).
Option names are the commands' own (`objective`, `noise_density`, `transfer`, ...), checked against the
options the CLI hands in, so a level that uses an option added to `pretrain` or `run` later is just YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from t5eval.errors import T5evalError, did_you_mean
from t5eval.report.paper import PAPER_SCORES, load_paper_scores
from t5eval.study.derive import expression_names, is_expression, placeholders
from t5eval.tasks.defs import builtin_task_defs, task_def_dirs

STUDIES_DIR = builtin_task_defs() / "studies"  # the repository's task_defs/, or the wheel's copy
SCALES_FILE = STUDIES_DIR / "scales.yaml"
NON_STUDY_FILES = ("scales.yaml", "throughput.yaml")
COMMANDS = ("pretrain", "run")
# Options the study sets itself for every cell; a level or scale may not set them.
RESERVED = {"pretrain": ("out", "seed", "corpus", "overwrite", "export", "init", "vocab", "data_dir", "model"),
            "run": ("target", "out", "seed", "overwrite", "model", "init", "vocab", "data_dir")}

Scalar = str | int | float | bool
Options = dict[str, Scalar | None]  # None: leave out the scale's value of that option


@dataclass(frozen=True)
class OptionSpec:
    """One option of `t5eval pretrain` or `t5eval run`, as the CLI declares it."""

    name: str  # parameter name, e.g. noise_density
    flag: str  # --noise-density
    off_flag: str | None  # --no-pack for a --pack/--no-pack switch
    kind: str  # bool | int | float | str


KnownOptions = dict[str, dict[str, OptionSpec]]  # command -> option name -> spec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommandOptions(_Strict):
    """Options of one scale: what every cell of that scale passes to pretrain and run."""

    pretrain: Options = Field(default_factory=dict)
    run: Options = Field(default_factory=dict)


class Scale(CommandOptions):
    """A named scale: model preset, corpus, tasks override and the commands' options."""

    description: str
    model: str  # preset, pre-trained from random init
    corpus: str  # "shared-unlabeled" (built from --data-dir) or a `t5eval pretrain --corpus` value
    corpus_documents: int | None = None  # shared-unlabeled: keep the first N documents (None: all)
    tasks: list[str] | None = None  # replaces the study's tasks at this scale (micro: one small task)
    runnable_here: bool = True  # False: plannable only (the paper scale needs GPUs)


class StudyScale(CommandOptions):
    """A study's overrides for one scale: options of both commands, and its tasks at that scale."""

    tasks: list[str] | None = None  # replaces the scale's (and the study's) tasks at this scale


class Ensemble(_Strict):
    """An ensemble level (Table 13): `members` models decoded as one (`t5eval run --no-finetune --ensemble`)."""

    members: int = Field(ge=2)
    # separate: each member pre-trained and fine-tuned with its own seed; shared: one pre-training (the
    # level's seed), members fine-tuned with their own seeds (the paper's "ensembled, fine-tune only")
    pretraining: Literal["separate", "shared"] = "separate"


class Level(_Strict):
    """One level of the factor: the pretrain and/or run options it changes (values may be `=` expressions
    over the scale's options and hold {tasks}/{task}/{other_tasks}: t5eval/study/derive.py)."""

    label: str
    pretrain: Options | Literal["none"] | None = None  # None: the scale's pre-training; "none": random init
    run: Options = Field(default_factory=dict)
    # the model preset instead of the scale's: one name, or per scale model ({tiny: tiny-lm, t5-base: t5-lm-base})
    model: str | dict[str, str] | None = None
    per_task: bool = False  # one pre-training + run chain per task ({task}, {other_tasks}; leave-one-out)
    ensemble: Ensemble | None = None  # the level's pretrain + run chain is each member's; then one decode per task
    paper_row: str | None = None  # row of the study's paper table (task_defs/paper_scores.yaml)

    def model_for(self, scale_model: str) -> str | None:
        """This level's preset at a scale whose model is `scale_model` (None: the scale's own)."""
        if self.model is None or isinstance(self.model, str):
            return self.model
        if scale_model not in self.model:
            raise T5evalError(f"model: no preset for the scale's model {scale_model!r} (this level maps "
                              f"{', '.join(self.model)}); add `{scale_model}: PRESET`")
        return self.model[scale_model]


class Study(_Strict):
    """A study file: one paper table."""

    schema_: int = Field(alias="schema")
    name: str
    title: str
    paper_table: str | None = None  # table key in paper_scores.yaml; None: not transcribed
    paper_column: str = "glue_avg"  # concordance fallback when no task has a paper per-task column (paper_rows)
    factor: str
    baseline: str
    tasks: list[str]
    levels: dict[str, Level]
    scales: dict[str, StudyScale] = Field(default_factory=dict)  # per-scale overrides of options and tasks
    notes: list[str] = Field(default_factory=list)

    @field_validator("levels")
    @classmethod
    def _two_levels(cls, levels: dict[str, Level]) -> dict[str, Level]:
        if len(levels) < 2:
            raise ValueError("a study compares at least two levels")
        return levels


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("str", "int", "float", "bool", "literal['none']",
                                                      "function-after[_two_levels(), dict[str,Level]]"))


def _one_line(path: Path, err: ValidationError, model: type[BaseModel]) -> T5evalError:
    """The first pydantic error as `file: key: message`, with did-you-mean for an unknown key."""
    first = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]  # a misspelt key explains a missing one
    key = _key_path(first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        name = str(first["loc"][-1])
        parent = model.model_fields if len(first["loc"]) == 1 else {}
        choices = [f.alias or n for n, f in parent.items()] or list(dict.fromkeys([*Level.model_fields, *Scale.model_fields]))
        return T5evalError(f"{path}: unknown key {key!r}{did_you_mean(name, choices)}; remove or rename it")
    return T5evalError(f"{path}: {key}: {first['msg']}")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise T5evalError(f"{path}: no such study file; pass a built-in study name or a YAML file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        detail = str(err).replace("\n", " ")
        raise T5evalError(f"{path}: not readable YAML ({detail}); fix the file") from None


def check_options(where: str, command: str, options: Options, known: KnownOptions) -> None:
    """Each option must be one the command accepts, of its type, and not one the study sets itself."""
    specs = known[command]
    for name, value in options.items():
        if name in RESERVED[command]:
            hint = " (a level's own `model:` key picks another preset)" if name == "model" else ""
            raise T5evalError(f"{where}.{name}: the study sets --{name.replace('_', '-')} itself for every "
                              f"cell; remove it{hint}")
        spec = specs.get(name)
        if spec is None:
            hint = did_you_mean(name, specs) or f" (see `t5eval {command} --help`)"
            raise T5evalError(f"{where}: `t5eval {command}` has no option {name!r}{hint}")
        if value is None:  # leave the scale's value out
            continue
        if is_expression(value) and spec.kind in ("int", "float"):
            try:
                expression_names(str(value))
            except T5evalError as err:
                raise T5evalError(f"{where}.{name}: {err}") from None
            continue
        if isinstance(value, str):
            try:
                placeholders(value)
            except T5evalError as err:
                raise T5evalError(f"{where}.{name}: {err}") from None
        check_kind(f"{where}.{name}", command, spec, value)


def check_kind(where: str, command: str, spec: OptionSpec, value: object) -> None:
    """`value` must be of the option's kind (an int option refuses 2.5, accepts 2)."""
    fits = {"bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "str": isinstance(value, str | int | float) and not isinstance(value, bool)}[spec.kind]
    if not fits:
        raise T5evalError(f"{where}: {value!r} is not a {spec.kind} (`t5eval {command} {spec.flag}`)")


def load_scales(path: Path = SCALES_FILE, known: KnownOptions | None = None) -> dict[str, Scale]:
    """The named scales (micro, tiny, paper)."""
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("scales"), dict):
        raise T5evalError(f"{path}: expected a mapping with a 'scales' key")
    scales = {}
    for name, body in data["scales"].items():
        try:
            scales[str(name)] = Scale.model_validate(body)
        except ValidationError as err:
            raise _one_line(path, err, Scale) from None
        if known is not None:
            for command in COMMANDS:
                check_options(f"{path}: scales.{name}.{command}", command, getattr(scales[name], command), known)
    return scales


def load_study(path: Path, known: KnownOptions, scales: dict[str, Scale], task_names: set[str] | None = None) -> Study:
    """Read and check one study file; every problem is a one-line `T5evalError` naming file and key."""
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise T5evalError(f"{path}: expected a mapping of study keys (name, title, factor, baseline, levels, ...)")
    try:
        study = Study.model_validate(data)
    except ValidationError as err:
        raise _one_line(path, err, Study) from None
    if study.schema_ != 1:
        raise T5evalError(f"{path}: schema {study.schema_}, this t5eval reads 1")
    if study.baseline not in study.levels:
        raise T5evalError(f"{path}: baseline: {study.baseline!r} is not a level{did_you_mean(study.baseline, study.levels)}")
    for name, level in study.levels.items():
        if isinstance(level.pretrain, dict):
            check_options(f"{path}: levels.{name}.pretrain", "pretrain", level.pretrain, known)
        check_options(f"{path}: levels.{name}.run", "run", level.run, known)
    for scale, overrides in study.scales.items():
        if scale not in scales:
            raise T5evalError(f"{path}: scales.{scale}: no such scale{did_you_mean(scale, scales)}")
        for command in COMMANDS:
            check_options(f"{path}: scales.{scale}.{command}", command, getattr(overrides, command), known)
    for name, level in study.levels.items():
        if level.ensemble is not None and level.pretrain == "none" and level.ensemble.pretraining == "shared":
            raise T5evalError(f"{path}: levels.{name}.ensemble.pretraining: 'shared' needs a pre-training; "
                              "remove `pretrain: none` or use 'separate'")
    check_paper_refs(path, study)
    if task_names is not None:
        lists = [("tasks", study.tasks), *[(f"scales.{s}.tasks", o.tasks or []) for s, o in study.scales.items()]]
        for key, tasks in lists:
            for task in tasks:
                if task not in task_names:
                    raise T5evalError(f"{path}: {key}: unknown task {task!r}{did_you_mean(task, task_names)}")
    return study


def check_paper_refs(path: Path, study: Study) -> None:
    """`paper_table`, `paper_column` and every level's `paper_row` name what task_defs/paper_scores.yaml holds
    (a name it lacks would silently show no paper row)."""
    named = [name for name, level in study.levels.items() if level.paper_row is not None]
    if study.paper_table is None:
        if named:
            raise T5evalError(f"{path}: levels.{named[0]}.paper_row: the study names no paper_table; "
                              "add `paper_table:` or remove the paper_row")
        return
    tables = load_paper_scores()
    if study.paper_table not in tables:
        raise T5evalError(f"{path}: paper_table: {study.paper_table!r} is not a table of {PAPER_SCORES.name}"
                          f"{did_you_mean(study.paper_table, tables)}; name one of its tables or remove the key")
    table = tables[study.paper_table]
    for name in named:
        row = study.levels[name].paper_row or ""
        if row not in table.rows:
            raise T5evalError(f"{path}: levels.{name}.paper_row: {row!r} is not a row of {study.paper_table} in "
                              f"{PAPER_SCORES.name}{did_you_mean(row, table.rows)}")
    columns = {column for values in table.rows.values() for column in values}
    if study.paper_column not in columns:
        raise T5evalError(f"{path}: paper_column: {study.paper_column!r} is not a column of {study.paper_table}"
                          f"{did_you_mean(study.paper_column, columns)}")


def builtin_study_files(folder: Path | None = None) -> dict[str, Path]:
    """name (file stem) -> path of each study file in `folder`, by default `studies/` of the built-in task
    definitions and of every `--include-path` folder (`t5eval.tasks.defs`); table2 before table10."""
    def natural(path: Path) -> list[str | int]:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem)]

    folders = [folder] if folder is not None else [d / "studies" for d in task_def_dirs()]
    return {p.stem: p for f in folders for p in sorted(f.glob("*.yaml"), key=natural) if p.name not in NON_STUDY_FILES}


def find_study_file(name_or_file: str, folder: Path | None = None) -> Path:
    """A built-in study name (`table4`) or a path to a study YAML file."""
    builtins = builtin_study_files(folder)
    if name_or_file in builtins:
        return builtins[name_or_file]
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    raise T5evalError(f"no built-in study {name_or_file!r}{did_you_mean(name_or_file, builtins)}; "
                      f"built-in: {', '.join(builtins)}, or pass a YAML file")
