"""Data parallelism under `torchrun`: process groups, collectives, DDP/FSDP wrapping, checkpoints.

Modules: `context` (process group, rank/device, collectives, sharding helpers), `parallel` (global
batch plan, seeds, DDP/FSDP wrapping, train step), `optim` (an optimizer gathered one parameter at a
time under FSDP), `checkpoint` (one-file and sharded DCP checkpoints across world sizes).
Contract: knows nothing of tasks, models or evaluation; imports only `io`, `errors` and torch.
"""
