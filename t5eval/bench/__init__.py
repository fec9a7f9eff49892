"""`t5eval bench`: the native model against a reference implementation on identical weights, in one run.

Modules: `suite` (config, environment, the run), `impls` (the implementations behind one interface),
`measures` (encoder, greedy, beam, training step), `e2e` (a whole task, end to end), `timing`
(alternating repeats, medians, memory peaks, matmul peak), `table` (terminal and Markdown tables).
Contract: may import `model`, `tasks`, `metrics`, `tokenizer` and below; `transformers` is allowed here
(a baseline), never in `model`.
"""
