"""Wall time of a study's cells from measured throughput (task_defs/studies/throughput.yaml), so `study list`
and `study run --plan` can say how long a study takes on this machine before anything runs (while a study runs,
its ETA rescales these by how its finished cells compared with them: `execute.Progress`).

A pre-training cell: start-up + corpus reading + steps x input tokens per step x the objective's cost / input
tokens per second. A fine-tuning cell: start-up + per task (data loading, scaled from SST-2's by training-set
size + steps x tokens per step / tokens per second + validations x eval examples / examples per second).
A level's own preset scales the whole cell by `relative_cost`. Figures are per model preset; a preset with
none gives no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from t5eval.errors import T5evalError
from t5eval.study.plan import SHARED_CORPUS, Cell, StudyPlan
from t5eval.study.schema import STUDIES_DIR

THROUGHPUT_FILE = STUDIES_DIR / "throughput.yaml"
DEFAULT_EVAL_EXAMPLES = 1000  # a task missing from the file's eval_examples


class PresetThroughput(BaseModel):
    """Measured figures of one model preset on one machine (see the file's `measured` notes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    device: str
    pretrain_input_tokens_per_s: float
    finetune_tokens_per_s: float
    eval_examples_per_s: float
    startup_s: float  # per command run in-process: model set-up
    task_load_s: float  # reading and tokenizing SST-2's data (67,349 training examples); other tasks by size
    corpus_documents_per_s: float  # reading and tokenizing a local pre-training corpus
    measured: str  # how, when and where the figures were measured


class ThroughputFile(BaseModel):
    schema_: int = Field(1, alias="schema")
    objective_cost: dict[str, float]  # pre-training time relative to span corruption at equal steps
    objective_cost_source: str
    eval_examples: dict[str, int]  # validation examples per task
    train_examples: dict[str, int] = Field(default_factory=dict)  # training examples per task (task load time)
    shared_corpus_documents: int  # documents of the full shared unlabeled corpus
    presets: dict[str, PresetThroughput]
    # a level's own preset (Tables 2, 13): its compute per token relative to the scale's model (M ratios)
    relative_cost: dict[str, float] = Field(default_factory=dict)
    relative_cost_source: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Estimate:
    """Seconds per cell (None where the preset has no measured figures) and where the figures came from."""

    seconds: dict[str, float | None]  # cell name -> seconds
    source: str

    def total(self, names: list[str] | None = None) -> float | None:
        chosen = [self.seconds[n] for n in (names if names is not None else self.seconds)]
        return None if any(s is None for s in chosen) else float(sum(s for s in chosen if s is not None))


def load_throughput(path: Path = THROUGHPUT_FILE) -> ThroughputFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ThroughputFile.model_validate(data)
    except (OSError, yaml.YAMLError, AttributeError) as err:
        raise T5evalError(f"{path}: cannot read the throughput figures ({err}); restore the file") from None
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise T5evalError(f"{path}: {key}: {first['msg']}") from None


def _option(argv: tuple[str, ...], flag: str, default: Any) -> Any:
    return argv[argv.index(flag) + 1] if flag in argv else default


def _pretrain_seconds(cell: Cell, figures: PresetThroughput, costs: dict[str, float], documents: int) -> float:
    steps = int(_option(cell.argv, "--steps", 2**19))
    batch_tokens = int(_option(cell.argv, "--batch-tokens", 65536))
    cost = costs.get(str(_option(cell.argv, "--objective", "span_corruption")), 1.0)
    reading = documents / figures.corpus_documents_per_s
    return figures.startup_s + reading + steps * batch_tokens * cost / figures.pretrain_input_tokens_per_s


LOAD_REFERENCE = "sst2"  # the task whose loading `task_load_s` measured


def _task_load_seconds(task: str, figures: PresetThroughput, train_sizes: dict[str, int]) -> float:
    """`task_load_s` scaled by the task's training-set size relative to SST-2's (the full figure when unknown):
    CB's 250 examples load in a fraction of SST-2's 18 s, which made micro estimates 3-7x too long."""
    if task not in train_sizes or LOAD_REFERENCE not in train_sizes:
        return figures.task_load_s
    return figures.task_load_s * train_sizes[task] / train_sizes[LOAD_REFERENCE]


def _run_seconds(cell: Cell, figures: PresetThroughput, sizes: dict[str, int],
                 train_sizes: dict[str, int] | None = None) -> float:
    """A fine-tune; with --no-finetune one evaluation (an ensemble: once per member)."""
    evaluate_only = "--no-finetune" in cell.argv
    steps = 0 if evaluate_only else int(_option(cell.argv, "--steps", 2**18))
    every = int(_option(cell.argv, "--eval-every", 5000))
    members = 1 + len(str(_option(cell.argv, "--ensemble", "")).split(",")) if "--ensemble" in cell.argv else 1
    batch_tokens = int(_option(cell.argv, "--batch-tokens", 65536))
    limit = _option(cell.argv, "--limit", None)
    seconds = figures.startup_s
    for task in cell.argv[1].split(","):
        n_eval = sizes.get(task, DEFAULT_EVAL_EXAMPLES)
        n_eval = min(n_eval, int(limit)) if limit is not None else n_eval
        validations = -(-steps // every) if steps else 1  # the last step validates; the final eval hits the cache
        seconds += _task_load_seconds(task, figures, train_sizes or {}) + steps * batch_tokens / figures.finetune_tokens_per_s
        seconds += validations * members * n_eval / figures.eval_examples_per_s
    return seconds


def estimate_plan(plan: StudyPlan, throughput: ThroughputFile | None = None) -> Estimate:
    """Seconds per cell of `plan` from the figures measured for its model preset."""
    throughput = throughput or load_throughput()
    figures = throughput.presets.get(plan.scale.model)
    if figures is None:
        return Estimate({c.name: None for c in plan.cells},
                        f"no measured throughput for model {plan.scale.model!r} in {THROUGHPUT_FILE.name}")
    seconds: dict[str, float | None] = {}
    documents = 0  # a hub corpus is read while training
    if plan.scale.corpus == SHARED_CORPUS:
        documents = min(plan.scale.corpus_documents or throughput.shared_corpus_documents,
                        throughput.shared_corpus_documents)
    presets = {c.name: str(_option(c.argv, "--model", plan.scale.model)) for c in plan.cells if c.kind == "pretrain"}
    for cell in plan.cells:
        if cell.kind == "pretrain":
            seconds[cell.name] = _pretrain_seconds(cell, figures, throughput.objective_cost, documents)
            preset = presets[cell.name]
        else:
            seconds[cell.name] = _run_seconds(cell, figures, throughput.eval_examples, throughput.train_examples)
            preset = presets.get(cell.needs[0], "") if cell.needs else str(_option(cell.argv, "--model", ""))
        seconds[cell.name] = (seconds[cell.name] or 0.0) * throughput.relative_cost.get(preset, 1.0)
    source = (f"{plan.scale.model} on {figures.device}: {figures.pretrain_input_tokens_per_s:,.0f} pre-training "
              f"input tok/s, {figures.finetune_tokens_per_s:,.0f} fine-tuning tok/s, "
              f"{figures.eval_examples_per_s:,.1f} eval examples/s ({figures.measured})")
    return Estimate(seconds, source)


def human_time(seconds: float | None) -> str:
    """'42 s', '12 min', '3.4 h', '5.1 days', '310 years'; '?' when unknown."""
    if seconds is None:
        return "?"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size or (unit == "min" and seconds >= 60):
            value = seconds / size
            return f"{value:,.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"
