"""Multi-task pre-training (the paper's §3.5.2–3.5.3): the corpus objective mixed with supervised tasks.

`t5eval pretrain --mix-tasks TASKS` trains on a mixture whose members are the corpus (its objective, e.g. span
corruption; T5's `c4_v020_unsupervised`) and each task's training examples (text-to-text, as `t5eval run`
tokenizes them). Example i comes from member m with probability rate_m / Σ rate, drawn from a Generator
seeded by (seed, i); each member then yields its own next example: the corpus its next chunk in the usual
per-epoch permutation (so with no task the stream is exactly the plain one), a task its next example in a
fresh seeded permutation per pass over its examples, as T5's shuffled and repeated datasets. The stream's
state is the position plus each member's count, so a resumed run continues the same sequence.
Rates: `t5eval.train.mixing` (`--mixing`), the corpus counting its chunks as examples unless `--corpus-rate`
fixes its rate (T5's `rate_unsupervised`); `--corpus-rate 0` leaves it out (supervised multi-task pre-training).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from t5eval.errors import T5evalError
from t5eval.pretrain.stream import ExampleStream
from t5eval.tokenizer import T5Tokenizer
from t5eval.train.mixing import mixing_rates, parse_mixing

_MIX, _TASK = 4, 5  # seed-sequence tags: member draw per example, task order per pass
CORPUS = "corpus"


@dataclass
class TaskExamples:
    """One supervised member: token ids of its training examples (EOS appended) and T5's published weight."""

    name: str
    inputs: list[list[int]]
    targets: list[list[int]]
    weight: float
    provenance: dict[str, Any] = field(default_factory=dict)  # task_defs sha256, split, data files (sha256)


def load_tasks(names: str, data_dir: Path | None, tok: T5Tokenizer, inputs_length: int) -> list[TaskExamples]:
    """The training examples of every task in `names` (benchmarks expand; an eval-only task trains through its
    `train_task`, as in `run --mixture`); inputs cut to min(train length, inputs_length), targets to theirs."""
    from t5eval.tasks import TaskRegistry, has_split, load_examples

    registry = TaskRegistry.default()
    members: dict[str, Any] = {}
    for spec in registry.resolve(names):
        train = registry.get(spec.train_task) if spec.mixture_weight <= 0 and spec.train_task else spec
        if train.mixture_weight > 0:
            members.setdefault(train.name, train)
    if not members:
        raise T5evalError(f"--mix-tasks {names}: no task with training data in T5's mixtures (all have weight 0)")
    out = []
    for spec in members.values():
        split = spec.splits.get("train")
        if split is None or not has_split(spec, str(split), data_dir):
            raise T5evalError(f"--mix-tasks: no train split for {spec.name} in {data_dir or 'the data source'}; "
                              "pass --data-dir with its data, or leave the task out")
        loaded = load_examples(spec, str(split), data_dir=data_dir)
        examples = loaded.examples
        in_len = min(spec.train_lengths["inputs"], inputs_length)
        out.append(TaskExamples(spec.name, [tok.encode(e.inputs, max_len=in_len) for e in examples],
                                [tok.encode(e.targets, max_len=spec.train_lengths["targets"]) for e in examples],
                                spec.mixture_weight, {"task_def_sha256": spec.sha256, "split": str(split),
                                                      "files": loaded.files}))
    return out


def member_rates(mixing: str, corpus_examples: int, corpus_rate: float | None,
                 tasks: list[TaskExamples]) -> dict[str, dict[str, Any]]:
    """{member: {"examples", "rate", "probability"}}: `--mixing` for the tasks and the corpus (its chunks as its
    examples and weight), or `corpus_rate` for the corpus when given."""
    rule = parse_mixing(mixing)
    examples = {CORPUS: corpus_examples, **{t.name: len(t.inputs) for t in tasks}}
    published = {CORPUS: float(corpus_examples), **{t.name: t.weight for t in tasks}}
    rates = mixing_rates(rule, examples, published)
    if corpus_rate is not None:
        if corpus_rate < 0:
            raise T5evalError(f"--corpus-rate {corpus_rate} must be 0 (no corpus member) or positive")
        rates[CORPUS]["rate"] = float(corpus_rate)
        total = sum(r["rate"] for r in rates.values())
        if total <= 0:
            raise T5evalError("--corpus-rate 0 and no task rate above 0: nothing to train on")
        for r in rates.values():
            r["probability"] = r["rate"] / total
    return rates


@dataclass
class MixedStream(ExampleStream):
    """`ExampleStream` whose example i comes from the corpus or a task (see the module docstring)."""

    tasks: list[TaskExamples] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)  # corpus first, then the tasks in order
    rates: dict[str, dict[str, Any]] = field(default_factory=dict)  # `member_rates`, recorded
    counts: list[int] = field(default_factory=list)  # examples drawn so far per member
    _cursor: int = 0  # the example index `counts` stand at

    def __post_init__(self) -> None:
        self.counts = [0] * (1 + len(self.tasks))
        self._perms: dict[int, tuple[int, np.ndarray]] = {}  # member -> (pass, its order)

    def _member(self, i: int) -> int:
        return int(np.random.default_rng([self.seed, _MIX, i]).choice(len(self.probabilities), p=self.probabilities))

    def example(self, i: int) -> tuple[list[int], list[int], dict[str, Any]]:
        """(inputs, targets, origin) of example i; examples are drawn in order (an earlier i replays from 0)."""
        if i < self._cursor:
            self.counts, self._cursor = [0] * len(self.counts), 0
        while self._cursor < i:
            self.counts[self._member(self._cursor)] += 1
            self._cursor += 1
        member = self._member(i)
        k = self.counts[member]
        self.counts[member] += 1
        self._cursor += 1
        if member == 0:
            inputs, targets, origin = ExampleStream.example(self, k)
            return inputs, targets, {"member": CORPUS, **origin}
        task = self.tasks[member - 1]
        epoch, pos = divmod(k, len(task.inputs))
        if self._perms.get(member, (-1,))[0] != epoch:
            order = np.random.default_rng([self.seed, _TASK, member, epoch]).permutation(len(task.inputs))
            self._perms[member] = (epoch, order)
        index = int(self._perms[member][1][pos])
        return task.inputs[index], task.targets[index], {"member": task.name, "epoch": epoch, "example": index}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "counts": list(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.counts = [int(c) for c in state["counts"]]
        self._cursor = self.position
