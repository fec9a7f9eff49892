"""Reading finished runs: paper-style reports, plots, bootstrap intervals, per-example diffs, regression checks.

Modules: `loading` (run folders, their tasks and stored values), `bootstrap` (95% intervals), `paper` (the paper's numbers, columns, groups),
`cells` (a run's values per column), `render` (Markdown), `runs` (family, transfer approach; the Runs and
Table 10 sections), `reading` (reading comprehension vs closed-book), `zero_shot` (the decoder-only section),
`plots` (figures), `build` (the report), `diff` and `check`. Imports run one way inside:
build → render/plots → reading → runs/zero_shot → cells → paper → loading → bootstrap.
Contract: reads run folders only (results schema); may import `tasks`, `metrics` and below, never
`run`, `train` or `model`.
"""
