"""Fine-tuning as in the T5 paper: the loop with validation and best-step selection, the training stream,
checkpoints that resume exactly, and what FSDP needs at validation time.

Modules: `loop` (finetune, TrainConfig/TrainState), `stream` (seeded, resumable batches of a mixture),
`checkpoint` (one-file and sharded checkpoints, which one to resume), `fsdp` (whole weights while a
validation runs), `mixing` (T5's mixing rates: equal, examples-proportional with a limit, temperature; pure). Contract: may import `distributed`, `model` and below; it knows nothing of tasks or
evaluation (validation is a callback the runner passes in).
"""
