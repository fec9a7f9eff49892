"""The task-head predictor: a head's outputs (logits) -> T5 label texts, instead of decoding.

Predictions are written as the text T5 would have produced (a label word, or an STS-B number), then
scored by `eval.task.score_texts` as every other prediction (T5 postprocess, metrics, rows), so `score`,
`report`, `diff` and `check` read them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from t5eval.eval.cache import DecodeStats
from t5eval.eval.task import Evaluation, score_texts
from t5eval.model.heads import pad_rows
from t5eval.tasks import Example, ExampleSet, TaskSpec
from t5eval.tasks.head_specs import HeadSpec
from t5eval.tokenizer.pairs import Encoded, PairTokenizer


@dataclass(frozen=True)
class HeadPredictor:
    """How a task head meets a task: its declared head (task_defs/heads.yaml) and the input length."""

    head: HeadSpec
    max_len: int

    def decode_record(self) -> dict[str, Any]:
        """run.json's `decode` block of a head task: the head instead of decoding settings."""
        head = self.head
        return {"head": {"kind": head.kind, "a": list(head.a), "b": list(head.b), "choices": list(head.choices),
                         "outputs": head.num_outputs, "candidates": head.candidates, "referent": head.referent,
                         "train_preprocessor_args": dict(head.train_preprocessor_args)},
                "max_len": self.max_len, "eval_inputs_truncated": True}


@dataclass
class HeadTask:
    """A task's eval split encoded for a head: one list of encodings per example (COPA: one per choice)."""

    spec: TaskSpec
    head: HeadSpec
    split: str
    examples: list[Example]
    files: dict[str, str]
    source: str
    inputs: list[list[Encoded]]
    target_values: list[Any]
    rows: list[dict[str, Any]]  # the raw row of each example (candidate / referent texts of its prediction)
    predictor: HeadPredictor
    stats: DecodeStats = field(default_factory=DecodeStats)  # examples predicted (a head decodes nothing)

    @property
    def name(self) -> str:
        return str(self.spec.name)


def encode_items(head: HeadSpec, rows: list[dict[str, Any]], tokenizer: PairTokenizer,
                 max_len: int) -> list[list[Encoded]]:
    """Each row's segments, `[CLS] A [SEP] B [SEP]`, cut longest-first to max_len tokens."""
    segments = [head.segments(row) for row in rows]
    flat = tokenizer.encode_batch([s for segs in segments for s in segs], max_len)
    out, at = [], 0
    for segs in segments:
        out.append(flat[at:at + len(segs)])
        at += len(segs)
    return out


def prepare_head_task(spec: TaskSpec, head: HeadSpec, split: str, example_set: ExampleSet,
                      rows: list[dict[str, Any]], tokenizer: PairTokenizer, max_len: int) -> HeadTask:
    """Encode the eval inputs and postprocess the targets as T5 does (seqio scores the target text)."""
    from t5eval.tasks import postprocess

    examples = list(example_set.examples)
    targets = [postprocess(spec, ex.targets, ex, is_target=True) for ex in examples]
    return HeadTask(spec, head, split, examples, dict(example_set.files), str(example_set.source),
                    encode_items(head, rows, tokenizer, max_len), targets, list(rows), HeadPredictor(head, max_len))


def head_outputs(model: torch.nn.Module, items: list[list[Encoded]], pad_id: int,
                 device: str = "cpu") -> torch.Tensor:
    """Outputs of a batch of items: (B, num_outputs), or (B, C) choice scores when items have several inputs;
    with a varying number of choices (ReCoRD entities), C is the most and missing choices score -inf."""
    flat = [e for item in items for e in item]
    ids, mask, types = pad_rows([e.ids for e in flat], [e.type_ids for e in flat], pad_id, device)
    out = model(ids, mask, types)  # (sum of choices, num_outputs)
    counts = [len(item) for item in items]
    if len(set(counts)) == 1:
        return out.view(len(items), counts[0]) if counts[0] > 1 else out
    scores = out.new_full((len(items), max(counts)), float("-inf"))  # (B, C)
    keep = torch.arange(max(counts), device=out.device)[None, :] < torch.tensor(counts, device=out.device)[:, None]
    return scores.masked_scatter(keep, out[:, 0])


def predict(task: HeadTask, model: torch.nn.Module, pad_id: int, batch_size: int = 64,
            device: str = "cpu") -> list[int | float]:
    """Class index (argmax), choice index, or regression value per example."""
    outputs: list[int | float] = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(task.inputs), batch_size):
            out = head_outputs(model, task.inputs[start:start + batch_size], pad_id, device).float().cpu()
            outputs += out[:, 0].tolist() if task.head.kind == "regress" else out.argmax(-1).tolist()
    model.train(was_training)
    return outputs


def evaluate_head(task: HeadTask, model: torch.nn.Module, pad_id: int, protocol: str, weights_sha256: str,
                  batch_size: int = 64, device: str = "cpu", advance: Callable[[int], None] | None = None,
                  ) -> Evaluation:
    """Predict label texts from the head's outputs, then score them as any predictor's (`score_texts`)."""
    outputs = predict(task, model, pad_id, batch_size, device)
    if advance is not None:
        advance(len(outputs))
    task.stats.decoded += len(outputs)
    texts = [task.head.prediction_text(o, row) for o, row in zip(outputs, task.rows, strict=True)]
    return score_texts(task.spec, task.examples, task.target_values, texts, protocol, weights_sha256)
