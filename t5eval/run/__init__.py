"""`t5eval run`: options, the run folder and its records, progress, and the orchestration of a run.

Modules: `options` (RunOptions and their validation), `folder` (run id, settings a restart must
match, new / resume / reuse / refuse), `record` (run.json blocks), `progress` (what the run shows),
`context` (what every task shares), `flow` (per-task and mixture flows), `orchestrate` (`run`).
Imports run one way inside: orchestrate → flow → context → folder/record/progress → options.
Contract: may import `train`, `eval`, `distributed`, `tasks`, `model`, `metrics` and below; never `cli`.
"""
