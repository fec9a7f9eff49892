"""Evaluating one task: decode its eval split (cached, length-bucketed), post-process, score, build rows.

Modules: `task` (EvalTask, evaluate, score_texts: prediction texts → postprocess → metrics → rows),
`predictor` (how a model family meets a task: T5 decoding, GPT-2 prompts), `head_predictor` (task heads:
label texts from logits), `cache` (decode cache keyed by weights, inputs and decode settings), `sharded`
(decoding sharded over torchrun's ranks, filling every rank's cache).
Contract: may import `distributed`, `tasks`, `model`, `metrics` and below; never `train` or `run`.
"""
