"""Studies (`t5eval study`): a paper table as an experiment you plan, run, resume, shard and report.

Modules: `schema` (study and scale files, typed with pydantic; one-line errors naming file and key),
`plan` (a study at a scale and seeds -> cells: ordinary `t5eval pretrain` and `t5eval run` folders, identical
pre-training shared, deterministic `--cell I/N` slices), `estimate` (wall time per cell from measured
tokens/s), `corpus` (the shared unlabeled pre-training text), `execute` (runs the cells through a command
runner the CLI hands in: skips finished cells, resumes killed ones, one lock per cell, progress and ETA),
`stats` (per-seed scores, mean ± std, paired bootstrap Δ pooled over seeds, the paper's bold rule,
concordance), `report` (Markdown in the paper's layout and a forest plot).
Contract: sits above `run | pretrain | report` and below `cli`; it never imports `cli` (the CLI passes in
the option names it accepts and the function that executes a command's argv).
"""
