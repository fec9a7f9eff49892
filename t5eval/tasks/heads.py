"""Task heads for encoder-only fine-tuning, declared per task in `task_defs/heads.yaml` (no code per task).

    head = HeadRegistry.default().get(spec)   # HeadSpec(kind, a, b, choices) or a one-line error
    head.segments(row) -> [(A, B | None)]     # one pair per input; COPA: one per choice
    head.gold(example, row) -> class index | float
    head.prediction_text(output) -> the T5 label word / value text that `postprocess` reads
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from t5eval.errors import T5evalError, did_you_mean
from t5eval.tasks.data import Example
from t5eval.tasks.registry import DEFAULT_TASK_DEFS
from t5eval.tasks.spec import TaskSpec

KINDS = ("classify", "regress", "choice")
_KEYS = {"kind", "a", "b", "choices"}


@dataclass(frozen=True)
class HeadSpec:
    """How one task feeds an encoder and what its head predicts (task_defs/heads.yaml)."""

    task: str
    kind: str
    a: tuple[str, ...]
    b: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # the task's T5 label words (classify, choice)

    @property
    def num_outputs(self) -> int:
        """Width of the linear layer over the pooled vector: classes, or 1 (regression, per-choice score)."""
        return len(self.labels) if self.kind == "classify" else 1

    def segments(self, row: dict[str, Any]) -> list[tuple[str, str | None]]:
        """The (segment A, segment B) inputs of one row: one pair, or one per choice."""
        first = " ".join(str(row[f]) for f in self.a)
        if self.kind == "choice":
            return [(first, str(row[c])) for c in self.choices]
        return [(first, " ".join(str(row[f]) for f in self.b) if self.b else None)]

    def gold(self, example: Example, row: dict[str, Any]) -> int | float:
        """Training target: the class index of the T5 label word, or the raw regression label."""
        if self.kind == "regress":
            return float(row["label"])
        return self.labels.index(example.targets)

    def prediction_text(self, output: int | float) -> str:
        """The text T5 would have written: the label word of a class index, or a number (3 decimals)."""
        if self.kind == "regress":
            return f"{float(output):.3f}"
        return self.labels[int(output)]


def _check_entry(task: str, raw: Any, spec: TaskSpec, where: str, fields: list[str]) -> HeadSpec:
    if not isinstance(raw, dict) or set(raw) - _KEYS or "kind" not in raw or "a" not in raw:
        raise T5evalError(f"{where}: {task}: a head needs kind and a (optional b, choices); keys {sorted(_KEYS)}")
    kind = raw["kind"]
    if kind not in KINDS:
        raise T5evalError(f"{where}: {task}: kind {kind!r} is not one of {', '.join(KINDS)}{did_you_mean(kind, KINDS)}")
    head = HeadSpec(task, kind, tuple(raw["a"]), tuple(raw.get("b") or ()), tuple(raw.get("choices") or ()),
                    tuple(spec.labels or ()))
    unknown = [f for f in (*head.a, *head.b, *head.choices) if fields and f not in fields]
    if unknown:
        raise T5evalError(f"{where}: {task}: field(s) {', '.join(unknown)} not in the task's rows "
                          f"({', '.join(fields)})")
    if kind == "regress" and head.labels:
        raise T5evalError(f"{where}: {task}: a regression head on a classification task (labels "
                          f"{', '.join(head.labels)}); use kind: classify")
    if kind in ("classify", "choice") and not head.labels:
        raise T5evalError(f"{where}: {task}: kind {kind} needs the task's labels, and it has none; use kind: regress")
    if kind == "choice" and len(head.choices) != len(head.labels):
        raise T5evalError(f"{where}: {task}: {len(head.choices)} choices for {len(head.labels)} labels; list one "
                          "field per label")
    return head


class HeadRegistry:
    """Every task head of `task_defs/heads.yaml`, checked against the task registry."""

    def __init__(self, heads: dict[str, HeadSpec], path: Path) -> None:
        self.heads, self.path = heads, path

    @classmethod
    def load(cls, path: Path, tasks: Any) -> HeadRegistry:
        """Parse `path` strictly against `tasks` (a TaskRegistry): names, kinds, fields, labels."""
        from t5eval.tasks.data import reader_args

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise T5evalError(f"{path}: cannot read task heads ({err.__class__.__name__})") from err
        heads = {}
        for name, raw in data.items():
            spec = tasks.get(name)
            split = str(spec.splits.get("train") or spec.splits.get("eval") or "validation")
            fields = list(reader_args(spec, split).get("fields") or [])
            heads[spec.name] = _check_entry(name, raw, spec, str(path), fields)
        return cls(heads, path)

    @classmethod
    def default(cls) -> HeadRegistry:
        from t5eval.tasks.registry import TaskRegistry

        return cls.load(DEFAULT_TASK_DEFS / "heads.yaml", TaskRegistry.default())

    def get(self, spec: TaskSpec) -> HeadSpec:
        """The head of `spec`, or a one-line error naming the tasks that have one."""
        if spec.name not in self.heads:
            raise T5evalError(f"task {spec.name} has no task head in {self.path}; encoder-only models (BERT, "
                              f"--head classify) run only tasks with one: {', '.join(sorted(self.heads))}")
        return self.heads[spec.name]
