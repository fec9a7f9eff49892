"""The task registry: every `task_defs/<benchmark>/<task>.yaml` plus `task_defs/benchmarks.yaml`.

Explicit, not magic: `TaskRegistry.from_dir(path)` reads the files; nothing registers at import.
Every function a YAML names must be in the greppable dicts (readers, preprocessors,
postprocessors); a wrong name is an error naming the file and field.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.tasks.postprocess import POSTPROCESSORS
from t5eval.tasks.preprocess import PREPROCESSORS
from t5eval.tasks.readers import READERS
from t5eval.tasks.rows import LABEL_KINDS
from t5eval.tasks.scoring import benchmark_average
from t5eval.tasks.spec import BenchmarkSpec, TaskSpec, load_task_file, parse_benchmarks

DEFAULT_TASK_DEFS = Path(__file__).resolve().parents[2] / "task_defs"
IGNORED_FILES = {"paper_scores.yaml", "benchmarks.yaml", "heads.yaml"}  # report; task heads (tasks.head_specs)
IGNORED_DIRS = {"studies"}  # task_defs/studies/: `t5eval study` definitions (t5eval.study.schema)


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


@functools.lru_cache(maxsize=1)
def _default_registry() -> TaskRegistry:
    return TaskRegistry.from_dir(DEFAULT_TASK_DEFS)


class TaskRegistry:
    """Task specs by canonical T5 name, with aliases and benchmark groups."""

    def __init__(self, tasks: Mapping[str, TaskSpec], benchmarks: Mapping[str, BenchmarkSpec]) -> None:
        self.tasks = dict(tasks)
        self.benchmarks = dict(benchmarks)
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
    def from_dir(cls, root: Path) -> TaskRegistry:
        """Read every task YAML under `root` (strictly) and `root/benchmarks.yaml`."""
        if not root.is_dir():
            raise T5evalError(f"task definitions folder {root} not found")
        tasks: dict[str, TaskSpec] = {}
        for path in sorted(root.rglob("*.yaml")):
            if path.name in IGNORED_FILES or IGNORED_DIRS & set(path.relative_to(root).parts):
                continue
            spec = load_task_file(path)
            _check_names(spec)
            if spec.name in tasks:
                raise T5evalError(f"{path}: task {spec.name} is already defined in {tasks[spec.name].path}")
            tasks[spec.name] = spec
        bench_file = root / "benchmarks.yaml"
        benchmarks = parse_benchmarks(bench_file) if bench_file.is_file() else {}
        return cls(tasks, benchmarks)

    @classmethod
    def default(cls) -> TaskRegistry:
        """The repository's `task_defs/` (read once per process; specs are frozen)."""
        return _default_registry()

    def names(self) -> list[str]:
        """Canonical task names, sorted."""
        return sorted(self.tasks)

    def get(self, name: str) -> TaskSpec:
        """A task by canonical T5 name or alias; unknown -> error with did-you-mean."""
        if name in self.tasks:
            return self.tasks[name]
        if name in self.aliases:
            return self.tasks[self.aliases[name]]
        choices = [*self.tasks, *self.aliases]
        raise T5evalError(f"unknown task {name!r}{did_you_mean(name, choices)}; `t5eval tasks` lists them")

    def benchmark(self, name: str) -> BenchmarkSpec:
        """A benchmark by name (glue, super_glue, glue_test, super_glue_test, squad, cnn_dailymail, wmt)."""
        if name not in self.benchmarks:
            raise T5evalError(f"unknown benchmark {name!r}{did_you_mean(name, self.benchmarks)}; "
                              f"known: {', '.join(sorted(self.benchmarks))}")
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
