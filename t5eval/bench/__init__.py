"""`t5eval bench`: the native model against a reference implementation on identical weights, in one run.

Modules: `suite` (config, environment, the run), `impls` (the implementations behind one interface),
`ct2` (CTranslate2 converted from the same weights, `--against ctranslate2`),
`measures` (encoder, greedy, beam, training step), `e2e` (a whole task, end to end), `timing`
(alternating repeats, medians, memory peaks, matmul peak), `table` (terminal and Markdown tables).
Contract: may import `model`, `tasks`, `metrics`, `tokenizer` and below; `transformers` and `ctranslate2`
are allowed here (baselines; ctranslate2 is imported lazily, only for `--against ctranslate2`), never in `model`.
"""
