"""The BERT family (Devlin et al.): config and presets, the encoder-only network, its HF key map.

Contract: like `t5/`, builds only on `t5eval.model.checkpoint` (files, hashes, hub) and torch; never
`transformers`. The network returns hidden states and the pooled [CLS] vector; task heads live above
(`t5eval.train.head_step`).
"""
