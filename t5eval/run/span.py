"""`t5eval run squad --model <BERT>`: BERT's SQuAD v1.1 span head (run_squad.py), scored with T5's SQuAD metric.

Windows, gold positions and n-best decoding: `t5eval.eval.squad_span`. The head starts from the checkpoint's
`qa_outputs` when it has them (BertForQuestionAnswering), else fresh (truncated normal); it fine-tunes with
the task-head recipe (`--bert-recipe`, `--lr` …; BERT §4.2 used lr 5e-5, batch 32, 3 epochs) when the
train split is reachable, then the predicted answer texts go through T5's `qa` postprocessor and `squad`
metric (max EM/F1 over all answers), written as any task's predictions.jsonl.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from t5eval.errors import T5evalError
from t5eval.eval.head_predictor import HeadPredictor, HeadTask
from t5eval.eval.squad_span import SpanSettings, Window, answer_text, first_answer, span_loss, windows_of
from t5eval.eval.task import Evaluation, score_texts
from t5eval.io import atomic_write_json
from t5eval.model import Bert
from t5eval.model.heads import SpanHeadModel
from t5eval.results import write_metrics, write_predictions
from t5eval.run.head_flow import HeadRun, copy_model, load_best, save_best
from t5eval.run.options import eval_split, train_split
from t5eval.run.plan import head_steps
from t5eval.run.progress import TrainPlan
from t5eval.run.record import head_train_block, task_record
from t5eval.tasks import TaskSpec, postprocess
from t5eval.tasks.data import load_examples_with_rows
from t5eval.tasks.head_specs import HeadSpec
from t5eval.train.checkpoint import drop_checkpoints
from t5eval.train.head_step import HeadBatches, HeadHyperparameters, HeadStep
from t5eval.train.loop import TrainState, finetune, set_dropout

SETTINGS = SpanSettings()


def span_logits(model: torch.nn.Module, windows: list[Window], device: str) -> torch.Tensor:
    """(N, max_seq_len, 2) start/end logits of a batch of windows (padding masked from attention, as BERT's
    input_mask; its positions still get logits, as run_squad.py)."""
    ids = torch.tensor([w.ids for w in windows], device=device)  # (N, S)
    types = torch.tensor([w.types for w in windows], device=device)
    lengths = torch.tensor([w.length for w in windows], device=device)
    mask = (torch.arange(ids.shape[1], device=device)[None, :] < lengths[:, None]).long()  # (N, S)
    return model(ids, mask, types)


def evaluate_span(spec: TaskSpec, rows: list[dict[str, Any]], examples: list[Any], windows: list[Window],
                  model: torch.nn.Module, protocol: str, sha: str, device: str, batch_size: int = 32) -> Evaluation:
    """Predict every question's answer text, postprocess and score as T5 does."""
    per_example: list[list[int]] = [[] for _ in rows]
    for i, w in enumerate(windows):
        per_example[w.example].append(i)
    logits: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            logits += list(span_logits(model, windows[start:start + batch_size], device).float().cpu())
    model.train(was_training)
    texts = [answer_text(str(row["context"]), [windows[i] for i in idx], [logits[i] for i in idx], SETTINGS)
             for row, idx in zip(rows, per_example, strict=True)]
    targets = [postprocess(spec, ex.targets, ex, is_target=True) for ex in examples]
    return score_texts(spec, examples, targets, texts, protocol, sha)


def span_windows(rows: list[dict[str, Any]], tokenizer: Any, train: bool) -> list[Window]:
    """Every question's windows (training: with the first answer's gold positions)."""
    return [w for i, row in enumerate(rows)
            for w in windows_of(i, str(row["question"]), str(row["context"]), tokenizer, SETTINGS,
                                first_answer(row) if train else None)]


def span_model(hr: HeadRun) -> SpanHeadModel:
    """A copy of the BERT body with a span head: the checkpoint's `qa_outputs` when it has them."""
    from t5eval.model.bert.weights import read_qa_outputs

    opts, loaded = hr.plan.opts, hr.loaded
    if not isinstance(loaded.model, Bert):
        raise T5evalError("the SQuAD span head is BERT's (WordPiece offsets, segment ids); run squad with a BERT "
                          "model, or T5 text-to-text (without --head)")
    if loaded.config.max_position_embeddings < SETTINGS.max_seq_len:
        raise T5evalError(f"the SQuAD span head feeds {SETTINGS.max_seq_len}-token windows (run_squad.py); the model's "
                          f"position table has {loaded.config.max_position_embeddings}")
    model = SpanHeadModel(copy_model(loaded.model), loaded.config.hidden_size, opts.seed, loaded.config.initializer_range)
    qa = read_qa_outputs(Path(opts.model)) if Path(opts.model).is_dir() and opts.init == "pretrained" else None
    if qa is not None:
        model.load_qa_outputs(qa)
        hr.log(f"span head: qa_outputs loaded from {opts.model}")
    set_dropout(model, hr.plan.hp.dropout)
    return model.to(opts.device)


def train_span(hr: HeadRun, spec: TaskSpec, model: SpanHeadModel, windows: list[Window], validate: Any,
               task_dir: Path) -> tuple[TrainState, int]:
    """`finetune` with the head's step on the training windows (loss: mean of the start and end
    cross-entropies); checkpoint, resume and the kept step as every head run. -> (state, eval_every)"""
    opts, hp = hr.plan.opts, hr.plan.hp

    def batch_loss(m: torch.nn.Module, picked: list[int]) -> tuple[torch.Tensor, int]:
        batch = [windows[i] for i in picked]
        loss = span_loss(span_logits(m, batch, opts.device), [w.start for w in batch], [w.end for w in batch])
        return loss, sum(w.length for w in batch)

    blocks: Any = model.body.layers
    steps, eval_every = head_steps(hr.plan, len(windows), len(blocks))
    progress = hr.progress.training(TrainPlan(spec.name, steps, hp.batch_size * SETTINGS.max_seq_len, opts.device))
    start = time.perf_counter()
    state = finetune(model, HeadBatches(len(windows), hp.batch_size, opts.seed),
                     HeadStep(hp, steps, eval_every, opts.seed, opts.transfer, batch_loss), task_dir / "checkpoint.pt",
                     validate, lambda name, step: save_best(hr, model, task_dir, step), progress=progress)
    hr.progress.done_training()
    hr.log(f"{spec.name}: {state.step} steps over {len(windows)} windows in {time.perf_counter() - start:.0f}s")
    return state, eval_every


def run_span_task(hr: HeadRun, spec: TaskSpec, head: HeadSpec, task_dir: Path) -> dict[str, Any]:
    """Fine-tune (when the train split is there) and score BERT's span head on SQuAD; write the task's files."""
    from t5eval.model import state_dict_sha256

    opts, hp = hr.plan.opts, hr.plan.hp
    if hp.max_len != HeadHyperparameters().max_len:
        raise T5evalError(f"--max-len {hp.max_len}: the SQuAD span head uses run_squad.py's windows "
                          f"({SETTINGS.max_seq_len} tokens, stride {SETTINGS.doc_stride}); drop --max-len")
    split = eval_split(spec, opts.split)
    example_set, rows = load_examples_with_rows(spec, split, opts.data_dir, opts.limit, opts.protocol)
    examples = list(example_set.examples)
    windows = span_windows(rows, hr.tokenizer, train=False)
    model = span_model(hr)
    state, eval_every = None, 0
    train = train_split(spec, opts.data_dir) if opts.finetune else None
    if train is not None:
        _, train_rows = load_examples_with_rows(spec, train, opts.data_dir, hp.train_limit, opts.protocol)

        def validate(step: int) -> dict[str, dict[str, float]]:
            metrics = evaluate_span(spec, rows, examples, windows, model, opts.protocol, "", opts.device).metrics
            hr.log(f"{spec.name} step {step}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
            return {spec.name: metrics}

        state, eval_every = train_span(hr, spec, model, span_windows(train_rows, hr.tokenizer, train=True), validate,
                                       task_dir)
        load_best(model, task_dir / "best")
    elif opts.finetune:
        hr.log(f"no train split for {spec.name}: evaluating with the head as loaded")
    result = evaluate_span(spec, rows, examples, windows, model, opts.protocol, state_dict_sha256(model), opts.device)
    if state is None:
        save_best(hr, model, task_dir, None)
    task = HeadTask(spec, head, split, examples, dict(example_set.files), str(example_set.source), [], [], rows,
                    HeadPredictor(head, SETTINGS.max_seq_len))
    task.stats.decoded = len(examples)
    entry = task_record(task, result, state, opts.protocol, head_train_block(state, hr.plan, eval_every))
    entry["decode"]["span"] = asdict(SETTINGS) | {"windows": len(windows), "source": "google-research/bert run_squad.py"}
    write_predictions(task_dir / "predictions.jsonl", result.rows)
    write_metrics(task_dir / "metrics.json", spec.name, split, len(examples), result.metrics)
    atomic_write_json(task_dir / "result.json", entry)
    drop_checkpoints(task_dir / "checkpoint.pt")
    hr.log(f"{spec.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.metrics.items()) + f" (n={len(examples)}, {split})")
    return entry
