"""Pre-training with the T5 paper's objectives (`t5eval pretrain`): corpus -> chunks -> examples -> a checkpoint.

Modules: `noise` (T5's denoise pieces: masks, sentinels, drops, shuffles; numpy), `objectives`
(`Objective`, `make_objective`, `make_example`: pure functions from chunk ids + a seeded
`numpy.random.Generator` to (inputs, targets) with EOS), `corpus` (text files, folders or a hub
dataset -> documents -> T5 SentencePiece ids without EOS -> T5's concatenate-and-split chunks),
`stream` (example i of the run as a pure function of (seed, i): batches, export), `loop`
(Adafactor with the inverse square root schedule, atomic checkpoints, the run record), `clean`
(C4's cleaning rules, paper §2.2), `mixed` (multi-task pre-training: the corpus objective mixed with
supervised tasks at `train.mixing` rates).
Contract: may import `train`, `distributed`, `model`, `tokenizer`, `io`, `errors` and below, and `tasks` in
`mixed` only (to read the tasks' training examples); never `cli`, `run` or `eval` (it sits in the `run` layer). Bad input raises `T5evalError` (one line).
"""
