"""The T5 family (Raffel et al.): config and presets, the encoder-decoder network, its HF key map.

Contract: builds only on `t5eval.model.layers` (shared blocks) and `t5eval.model.checkpoint` (files,
hashes, hub); another family (decoder-only, encoder-only) sits beside it as its own subpackage.
"""
