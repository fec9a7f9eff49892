"""`t5eval run`: options, the run folder and its records, progress, and the orchestration of a run.

Modules: `options` (RunOptions, checks of single options), `plan` (options → a validated plan per model
family), `folder` (run id, settings a restart must match, new / resume / reuse / refuse), `record`
(run.json, one builder for every family), `progress` (what the run shows), `context` (what every
text-to-text task shares), `flow` (text-to-text per-task and mixture flows), `head_flow` (the task-head
flow), `orchestrate` (`run`, the in-process entry point). Imports run one way inside: orchestrate →
flow/head_flow → context → folder/record/progress → plan → options.
Contract: may import `train`, `eval`, `distributed`, `tasks`, `model`, `metrics` and below; never `cli`.
"""
