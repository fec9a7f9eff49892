"""Evaluate one task: decode its eval split (cached), post-process, score, build prediction rows.

`EvalTask` holds what does not change between checkpoints (examples, encoded inputs, postprocessed
targets, the decode cache); `evaluate` scores one set of weights on it. The data flow is the one
of docs/ARCHITECTURE.md: ids → `tokenizer.decode` → `tasks.postprocess` → `tasks.compute_metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from t5eval.eval.cache import DecodeCache, DecodeStats, MemoryCache, decode_all
from t5eval.eval.predictor import Predictor, Seq2SeqPredictor
from t5eval.model import DecodeConfig, LMDecodeConfig
from t5eval.model.checkpoint import state_dict_sha256
from t5eval.results import prediction_row
from t5eval.tasks import Example, ExampleSet, TaskSpec
from t5eval.tokenizer import Tokenizer

Advance = Callable[[int], None]


@dataclass
class EvalTask:
    """A task's eval split, ready to score any weights on. Eval inputs are not cut (spec §0)."""

    spec: TaskSpec
    split: str
    examples: list[Example]
    files: dict[str, str]
    source: str
    input_ids: list[list[int]]
    target_values: list[Any]
    cache: MemoryCache  # a DecodeCache on rank 0 (file-backed), in memory on other ranks
    decode_config: DecodeConfig | LMDecodeConfig
    predictor: Predictor  # how the model family meets the task (eval.predictor)
    stats: DecodeStats = field(default_factory=DecodeStats)

    @property
    def name(self) -> str:
        """The task's canonical name."""
        return str(self.spec.name)


@dataclass
class Evaluation:
    """Scores of one set of weights on one task."""

    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    weights_sha256: str


def prepare_eval_task(spec: TaskSpec, split: str, example_set: ExampleSet, tokenizer: Tokenizer, task_dir: Path,
                      predictor: Predictor | None = None) -> EvalTask:
    """Encode inputs (T5: full length, as T5 computes eval lengths from the data; a prompt task: cut by its
    declared rule to the model's window) and postprocess targets. Without a predictor: T5's (`Seq2SeqPredictor`)."""
    from t5eval.tasks import postprocess

    predictor = predictor or Seq2SeqPredictor(tokenizer, DecodeConfig(**spec.decode))
    examples = list(example_set.examples)
    input_ids = [predictor.encode(ex) for ex in examples]
    # seqio scores against the postprocessed raw target string, with the whole example (spec §0)
    targets = [postprocess(spec, ex.targets, ex, is_target=True) for ex in examples]
    return EvalTask(
        spec=spec, split=split, examples=examples, files=dict(example_set.files),
        source=str(example_set.source), input_ids=input_ids, target_values=targets,
        cache=DecodeCache(task_dir / "decode_cache.jsonl"), decode_config=predictor.decode_config, predictor=predictor,
    )  # fmt: skip


def evaluate(
    task: EvalTask,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    *,
    protocol: str,
    batch_tokens: int,
    advance: Advance | None = None,
    weights_sha256: str | None = None,
    dtype: str = "float32",
) -> Evaluation:
    """Decode `task` with `model` (cache first, forward passes in `dtype`), score it, build prediction rows."""
    from t5eval.model import generate

    sha = weights_sha256 or state_dict_sha256(model)
    if task.predictor.scores_choices:
        texts, stats = rank_choices(model, task, tokenizer, advance)
    else:
        generated, stats = decode_all(
            model, task.input_ids, task.decode_config, generate,
            batch_tokens=batch_tokens, weights_sha256=sha, cache=task.cache, advance=advance, dtype=dtype,
        )  # fmt: skip
        texts = [task.predictor.text(ids) for ids in generated]
    _accumulate(task.stats, stats)
    return score_texts(task.spec, task.examples, task.target_values, texts, protocol, sha)


def score_texts(spec: TaskSpec, examples: list[Example], target_values: list[Any], texts: list[str], protocol: str,
                weights_sha256: str) -> Evaluation:
    """Prediction texts -> `tasks.postprocess` -> `tasks.compute_metrics` -> prediction rows (every predictor)."""
    from t5eval.tasks import compute_metrics, postprocess

    values = [postprocess(spec, t, ex, is_target=False) for t, ex in zip(texts, examples, strict=True)]
    metrics = compute_metrics(spec, target_values, values, protocol=protocol)
    rows = [
        prediction_row(ex.index, ex.inputs, ex.targets, text, tv, pv)
        for ex, text, tv, pv in zip(examples, texts, target_values, values, strict=True)
    ]
    return Evaluation({k: float(v) for k, v in metrics.items()}, rows, weights_sha256)


def rank_choices(model: torch.nn.Module, task: EvalTask, tokenizer: Tokenizer,
                 advance: Advance | None) -> tuple[list[str], DecodeStats]:
    """Per example, the candidate (of `predictor.choices`: {"candidate", "prompt", "continuation"}) the predictor scores
    highest (ties keep the first): WSC referents, or label words under --scoring rank. Not cached."""
    stats, texts = DecodeStats(), []
    start = time.perf_counter()
    for ex in task.examples:
        choices = task.predictor.choices(ex)
        scores = task.predictor.score(model, choices)
        texts.append(choices[max(range(len(scores)), key=scores.__getitem__)]["candidate"])  # ties: the first
        stats.decoded += 1
        if advance:
            advance(1)
    stats.seconds = time.perf_counter() - start
    return texts, stats


def _accumulate(total: DecodeStats, part: DecodeStats) -> None:
    total.decoded += part.decoded
    total.cached += part.cached
    total.generated_tokens += part.generated_tokens
    total.seconds += part.seconds
