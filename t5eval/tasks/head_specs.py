"""Task heads for encoder-only fine-tuning, declared per task in `task_defs/heads.yaml` (no code per task).

    head = HeadRegistry.default().get(spec)   # HeadSpec(kind, a, b, choices) or a one-line error
    head.segments(row) -> [(A, B | None)]     # one pair per input; COPA/ReCoRD: one per choice
    head.gold(example, row) -> class index | float | None (None: the answer is no candidate)
    head.prediction_text(output, row) -> the T5 text that `postprocess` reads (label word, value, entity,
                                         referent)
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

KINDS = ("classify", "regress", "choice", "referent", "span")  # span: BERT's SQuAD start/end head (run.span)
_KEYS = {"kind", "a", "b", "choices", "candidates", "placeholder", "referent", "train_preprocessor_args"}
REFERENT_LABELS = ("False", "True")  # a `referent` head's classes: does the marked pronoun refer to it?
NOT_REFERENT = "False"  # written for a "no": names no candidate, so T5's wsc_simple scores it 0


@dataclass(frozen=True)
class HeadSpec:
    """How one task feeds an encoder and what its head predicts (task_defs/heads.yaml)."""

    task: str
    kind: str
    a: tuple[str, ...]
    b: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # the task's T5 label words (classify, choice); referent: REFERENT_LABELS
    candidates: str | None = None  # choice over a row's list field (ReCoRD entities), not fixed choice fields
    placeholder: str = "@placeholder"  # candidates: each replaces this in segment B
    referent: str | None = None  # referent: the field naming the candidate referent (WSC span1_text)
    train_preprocessor_args: tuple[tuple[str, Any], ...] = ()  # overrides for the training split's casting

    @property
    def num_outputs(self) -> int:
        """Width of the linear layer over the pooled vector: classes, or 1 (regression, per-choice score);
        span: 2 per position (start, end)."""
        if self.kind == "span":
            return 2
        return len(self.labels) if self.kind in ("classify", "referent") else 1

    def segments(self, row: dict[str, Any]) -> list[tuple[str, str | None]]:
        """The (segment A, segment B) inputs of one row: one pair, or one per choice / candidate."""
        first = " ".join(str(row[f]) for f in self.a)
        second = " ".join(str(row[f]) for f in self.b) if self.b else None
        if self.candidates is not None:
            return [(first, str(second).replace(self.placeholder, str(c))) for c in row[self.candidates]]
        if self.kind == "choice":
            return [(first, str(row[c])) for c in self.choices]
        return [(first, second)]

    def gold(self, example: Example, row: dict[str, Any]) -> int | float | None:
        """Training target: class index of the T5 label word, the raw regression label, the row's boolean
        label (referent), or the index of the example's answer among the candidates (None: not among them)."""
        if self.kind == "regress":
            return float(row["label"])
        if self.kind == "referent":
            return int(row["label"])
        if self.candidates is not None:
            found = list(row[self.candidates])
            return found.index(example.targets) if example.targets in found else None
        return self.labels.index(example.targets)

    def prediction_text(self, output: int | float, row: dict[str, Any] | None = None) -> str:
        """The text T5 would have written: the label word of a class index, a number (3 decimals), the
        chosen candidate's text, or for a referent head the referent's text ("yes") or NOT_REFERENT ("no")."""
        if self.kind == "regress":
            return f"{float(output):.3f}"
        if self.candidates is not None or self.kind == "referent":
            if row is None:
                raise ValueError(f"{self.task}: a {self.kind} head's prediction needs the example's row")
            if self.kind == "referent":
                return str(row[str(self.referent)]) if int(output) == 1 else NOT_REFERENT
            return str(row[str(self.candidates)][int(output)])
        return self.labels[int(output)]


def _check_entry(task: str, raw: Any, spec: TaskSpec, where: str, fields: list[str]) -> HeadSpec:
    if not isinstance(raw, dict) or set(raw) - _KEYS or "kind" not in raw or "a" not in raw:
        raise T5evalError(f"{where}: {task}: a head needs kind and a (optional b, choices, candidates, placeholder, "
                          f"referent, train_preprocessor_args); keys {sorted(_KEYS)}")
    kind = raw["kind"]
    if kind not in KINDS:
        raise T5evalError(f"{where}: {task}: kind {kind!r} is not one of {', '.join(KINDS)}{did_you_mean(kind, KINDS)}")
    labels = REFERENT_LABELS if kind == "referent" else tuple(spec.labels or ())
    head = HeadSpec(task, kind, tuple(raw["a"]), tuple(raw.get("b") or ()), tuple(raw.get("choices") or ()),
                    labels, raw.get("candidates"), str(raw.get("placeholder", "@placeholder")), raw.get("referent"),
                    tuple(sorted((raw.get("train_preprocessor_args") or {}).items())))
    named = [f for f in (*head.a, *head.b, *head.choices, head.candidates, head.referent) if f is not None]
    unknown = [f for f in named if fields and f not in fields]
    if unknown:
        raise T5evalError(f"{where}: {task}: field(s) {', '.join(unknown)} not in the task's rows "
                          f"({', '.join(fields)})")
    _check_kind(head, f"{where}: {task}", tuple(spec.labels or ()))
    return head


def _check_kind(head: HeadSpec, where: str, task_labels: tuple[str, ...]) -> None:
    """What each kind needs: labels for classify/choice, none for regress, a referent, candidates with b."""
    kind = head.kind
    if kind == "regress" and task_labels:
        raise T5evalError(f"{where}: a regression head on a classification task (labels "
                          f"{', '.join(task_labels)}); use kind: classify")
    if kind == "referent" and not head.referent:
        raise T5evalError(f"{where}: kind referent needs `referent:` (the field naming the candidate referent)")
    if head.candidates is not None:
        if kind != "choice" or head.choices or not head.b:
            raise T5evalError(f"{where}: `candidates:` is for kind choice, with b (the text holding "
                              f"{head.placeholder}) and no `choices:`")
        return
    if kind in ("classify", "choice") and not head.labels:
        raise T5evalError(f"{where}: kind {kind} needs the task's labels, and it has none; use kind: regress, or "
                          "choice with candidates")
    if kind == "choice" and len(head.choices) != len(head.labels):
        raise T5evalError(f"{where}: {len(head.choices)} choices for {len(head.labels)} labels; list one "
                          "field per label")


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
            if name not in tasks.tasks and name not in tasks.aliases and tasks.broken_for(name) is not None:
                continue  # its task file is broken: asking for that task names the file
            spec = tasks.get(name)
            split = str(spec.splits.get("train") or spec.splits.get("eval") or "validation")
            args = reader_args(spec, split)
            fields = [*(args.get("fields") or []), *(args.get("keep") or []), *(["label"] if args.get("label") else [])]
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
