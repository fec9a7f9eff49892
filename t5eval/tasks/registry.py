"""The task registry: every `task_defs/<benchmark>/<task>.yaml` plus `task_defs/benchmarks.yaml`.

Explicit, not magic: `TaskRegistry.from_dirs(paths)` reads the files; nothing registers at import.
Every function a YAML names must be in the greppable dicts (readers, preprocessors,
postprocessors); a wrong name is an error naming the file and field.

A broken file blocks only itself: the registry keeps its error (file, line) and the names it seems to
define, and raises it when one of those names (or a benchmark needing it) is asked for; every other task
works, and `t5eval tasks` lists the broken files. Folders given with `--include-path` add task files
(`t5eval.tasks.defs`); `studies/` folders hold study files, not tasks, and are skipped here.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.tasks.defs import builtin_task_defs, task_def_dirs
from t5eval.tasks.postprocess import POSTPROCESSORS
from t5eval.tasks.preprocess import PREPROCESSORS
from t5eval.tasks.readers import READERS
from t5eval.tasks.rows import LABEL_KINDS
from t5eval.tasks.scoring import benchmark_average
from t5eval.tasks.spec import BenchmarkSpec, TaskSpec, load_task_file, parse_benchmarks

DEFAULT_TASK_DEFS = builtin_task_defs()
IGNORED_FILES = {"paper_scores.yaml", "benchmarks.yaml", "heads.yaml"}  # report; task heads (tasks.head_specs)
IGNORED_DIRS = {"studies"}  # task_defs/studies/: `t5eval study` definitions (t5eval.study.schema)
_NAME_LINE = re.compile(r"^(name|t5_name):\s*['\"]?([\w./-]+)", re.MULTILINE)
_ALIAS_LINE = re.compile(r"^aliases:\s*\[([^\]]*)\]", re.MULTILINE)


@dataclass(frozen=True)
class BrokenFile:
    """A definition file that could not be used: its one-line error and the names it seems to define."""

    path: Path
    error: str
    names: frozenset[str]


def _names_in(path: Path) -> frozenset[str]:
    """Best-effort names a (possibly unparsable) task file defines: name, t5_name, aliases, file stem."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    names = {m.group(2) for m in _NAME_LINE.finditer(text)} | {path.stem}
    for m in _ALIAS_LINE.finditer(text):
        names |= {a.strip().strip("'\"") for a in m.group(1).split(",") if a.strip()}
    return frozenset(names)


def _check_names(spec: TaskSpec) -> None:
    """Every named function must be registered; errors name the file and the field."""
    checks = [("preprocessor", spec.preprocessor, PREPROCESSORS), ("postprocessor", spec.postprocessor,
                                                                    POSTPROCESSORS)]
    checks += [(f"source.local.{s}.reader", c.reader, READERS) for s, cs in spec.local.items() for c in cs]
    for field_name, name, table in checks:
        if name not in table:
            raise T5evalError(f"{spec.path}: field {field_name!r}: {name!r} is not registered"
                              f"{did_you_mean(name, table)}; known: {', '.join(sorted(table))}")
    for split, cands in spec.local.items():
        for c in cands:
            kind = c.reader_args.get("label", {}).get("kind", "none")
            if kind not in LABEL_KINDS:
                raise T5evalError(f"{spec.path}: field 'source.local.{split}' label kind {kind!r} unknown; "
                                  f"use one of {', '.join(LABEL_KINDS)}")
    if spec.preprocessor == "glue" and not spec.labels:
        raise T5evalError(f"{spec.path}: field 'labels' is required by the glue preprocessor")


def _check_mixture_extra(bench: BenchmarkSpec, name: str, tasks: Mapping[str, TaskSpec]) -> None:
    """A `mixture_extra` entry must be a task outside the members, with a mixture weight > 0."""
    where = f"benchmarks.yaml: benchmark {bench.name}: mixture_extra"
    if name not in tasks:
        raise T5evalError(f"{where} {name!r} is not a task{did_you_mean(name, tasks)}")
    if name in bench.members:
        raise T5evalError(f"{where} {name!r} is already a member of {bench.name}; list it in one place")
    if tasks[name].mixture_weight <= 0:
        raise T5evalError(f"{where} {name!r} has mixture_weight 0 in {tasks[name].path}; a training-only "
                          "member needs a weight > 0")


@functools.lru_cache(maxsize=4)
def _registry_of(roots: tuple[Path, ...]) -> TaskRegistry:
    registry = TaskRegistry.from_dirs(roots)
    for bad in registry.broken:  # once per process: the other tasks still work
        warnings.warn(f"skipped a broken definition file: {bad.error}", stacklevel=2)
    return registry


def _task_files(root: Path) -> list[Path]:
    """The task YAML files under `root` (not benchmarks/paper scores/heads, not studies)."""
    return [p for p in sorted(root.rglob("*.yaml")) if p.name not in IGNORED_FILES
            and not IGNORED_DIRS & set(p.relative_to(root).parts[:-1])]


def _read_tasks(roots: Iterable[Path]) -> tuple[dict[str, TaskSpec], list[BrokenFile]]:
    """Every task file under `roots`; a file that fails (syntax, schema, a name clash) goes to the broken list."""
    specs: list[TaskSpec] = []
    broken: list[BrokenFile] = []
    for root in roots:
        for path in _task_files(root):
            try:
                spec = load_task_file(path)
                _check_names(spec)
            except T5evalError as err:
                broken.append(BrokenFile(path, str(err), _names_in(path)))
                continue
            specs.append(spec)
    owners: dict[str, list[TaskSpec]] = {}  # every name or alias -> the specs claiming it
    for spec in specs:
        for alias in dict.fromkeys((spec.name, spec.t5_name, *spec.aliases)):
            owners.setdefault(alias, []).append(spec)
    tasks: dict[str, TaskSpec] = {}
    for spec in specs:
        clash = next((a for a in (spec.name, spec.t5_name, *spec.aliases) if len(owners[a]) > 1), None)
        if clash is None:
            tasks[spec.name] = spec
            continue
        files = " and ".join(str(s.path) for s in owners[clash])
        broken.append(BrokenFile(Path(spec.path), f"{spec.path}: name or alias {clash!r} is used by more than one task "
                                            f"({files}); keep it in one file", _names_in(Path(spec.path))))
    return tasks, broken


def _read_benchmarks(roots: Iterable[Path], tasks: Mapping[str, TaskSpec],
                     broken: list[BrokenFile]) -> dict[str, BenchmarkSpec]:
    """Every `benchmarks.yaml` under `roots`; a benchmark that names a broken or unknown task is kept out."""
    benchmarks: dict[str, BenchmarkSpec] = {}
    for root in roots:
        path = root / "benchmarks.yaml"
        if not path.is_file():
            continue
        try:
            parsed = parse_benchmarks(path)
        except T5evalError as err:
            broken.append(BrokenFile(path, str(err), frozenset()))
            continue
        for name, bench in parsed.items():
            try:
                if name in benchmarks:
                    raise T5evalError(f"{path}: benchmark {name} is already defined in another benchmarks.yaml")
                TaskRegistry(tasks, {name: bench})  # member and mixture_extra checks of this one benchmark
            except T5evalError as err:
                bad = next((b for b in broken if b.names & {*bench.members, *bench.mixture_extra}), None)
                error = f"{path}: benchmark {name} needs a broken task file: {bad.error}" if bad else str(err)
                broken.append(BrokenFile(path, error, frozenset({name})))
                continue
            benchmarks[name] = bench
    return benchmarks


class TaskRegistry:
    """Task specs by canonical T5 name, with aliases and benchmark groups."""

    def __init__(self, tasks: Mapping[str, TaskSpec], benchmarks: Mapping[str, BenchmarkSpec],
                 broken: Iterable[BrokenFile] = ()) -> None:
        self.tasks = dict(tasks)
        self.benchmarks = dict(benchmarks)
        self.broken = list(broken)  # files that could not be used; their errors surface when needed
        self.aliases: dict[str, str] = {}
        for spec in self.tasks.values():
            for alias in (spec.t5_name, *spec.aliases):
                owner = self.aliases.get(alias)
                if owner is not None and owner != spec.name:
                    raise T5evalError(f"{spec.path}: alias {alias!r} is already used by task {owner}")
                self.aliases[alias] = spec.name
        for bench in self.benchmarks.values():
            for member in bench.members:
                if member not in self.tasks:
                    raise T5evalError(f"benchmark {bench.name}: member {member!r} is not a task"
                                      f"{did_you_mean(member, self.tasks)}")
            for extra in bench.mixture_extra:
                _check_mixture_extra(bench, extra, self.tasks)

    @classmethod
    def from_dirs(cls, roots: Iterable[Path]) -> TaskRegistry:
        """Read every task YAML under `roots` (each strictly) and each root's `benchmarks.yaml`."""
        roots = list(roots)
        for root in roots:
            if not root.is_dir():
                raise T5evalError(f"task definitions folder {root} not found")
        tasks, broken = _read_tasks(roots)
        return cls(tasks, _read_benchmarks(roots, tasks, broken), broken)

    @classmethod
    def from_dir(cls, root: Path) -> TaskRegistry:
        """`from_dirs([root])`."""
        return cls.from_dirs([root])

    @classmethod
    def default(cls) -> TaskRegistry:
        """The built-in `task_defs/` plus any `--include-path` folders (read once per process)."""
        return _registry_of(tuple(task_def_dirs()))

    def broken_for(self, name: str) -> BrokenFile | None:
        """The broken file that seems to define task or benchmark `name`, if any."""
        return next((b for b in self.broken if name in b.names), None)

    def _broken_note(self) -> str:
        if not self.broken:
            return ""
        files = ", ".join(sorted({str(b.path) for b in self.broken}))
        return f" (note: these definition files are broken and were skipped: {files}; the warnings above say why)"

    def names(self) -> list[str]:
        """Canonical task names, sorted."""
        return sorted(self.tasks)

    def get(self, name: str) -> TaskSpec:
        """A task by canonical T5 name or alias; unknown -> error with did-you-mean."""
        if name in self.tasks:
            return self.tasks[name]
        if name in self.aliases:
            return self.tasks[self.aliases[name]]
        if (bad := self.broken_for(name)) is not None:
            raise T5evalError(f"{name!r} cannot be used: {bad.error}")
        choices = list(dict.fromkeys([*self.tasks, *self.aliases]))
        raise T5evalError(f"unknown task {name!r}{did_you_mean(name, choices)}; `t5eval tasks` lists them"
                          + self._broken_note())

    def benchmark(self, name: str) -> BenchmarkSpec:
        """A benchmark by name (glue, super_glue, glue_test, super_glue_test, squad, cnn_dailymail, wmt)."""
        if name not in self.benchmarks:
            if (bad := self.broken_for(name)) is not None:
                raise T5evalError(f"benchmark {name!r} cannot be used: {bad.error}")
            raise T5evalError(f"unknown benchmark {name!r}{did_you_mean(name, self.benchmarks)}; "
                              f"known: {', '.join(sorted(self.benchmarks))}" + self._broken_note())
        return self.benchmarks[name]

    def resolve(self, names: str) -> list[TaskSpec]:
        """Comma-separated task names, aliases or benchmark names -> task specs (no duplicates)."""
        out: dict[str, TaskSpec] = {}
        for name in (n.strip() for n in names.split(",")):
            if not name:
                continue
            if name in self.benchmarks:
                out.update({m: self.tasks[m] for m in self.benchmarks[name].members})
            else:
                spec = self.get(name)
                out[spec.name] = spec
        if not out:
            raise T5evalError("no task named; give task or benchmark names, e.g. glue,squad")
        return list(out.values())

    def average(self, bench: str, scores: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
        """`benchmark_average` with task names or aliases as keys."""
        canonical = {self.get(task).name: metrics for task, metrics in scores.items()}
        return benchmark_average(self.benchmark(bench), canonical)
