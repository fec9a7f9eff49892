"""Fine-tuning: one skeleton for every family (validation, best-step selection, checkpoints that resume
exactly, Ctrl-C), the per-family steps plugged into it, and what FSDP needs at validation time.

Modules: `loop` (finetune, the `TrainingStep` seam, T5's `TextToTextStep`, TrainConfig/TrainState),
`head_step` (task heads: BERT's AdamW step, `HeadHyperparameters`, `HeadBatches`), `transfer` (--transfer
as parameter selections), `stream` (seeded, resumable batches of a mixture),
`checkpoint` (one-file and sharded checkpoints, which one to resume), `fsdp` (whole weights while a
validation runs), `mixing` (T5's mixing rates: equal, examples-proportional with a limit, temperature; pure). Contract: may import `distributed`, `model` and below; it knows nothing of tasks or
evaluation (validation is a callback the runner passes in).
"""
