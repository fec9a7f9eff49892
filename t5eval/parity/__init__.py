"""`t5eval parity`: a native model against its transformers reference on real texts (logits, greedy ids).

One module per model family (`t5`, `gpt2`, `bert`). Contract: may import `model`, `tasks`, `tokenizer` and below;
`transformers` is the reference here and is imported only inside functions.
"""
