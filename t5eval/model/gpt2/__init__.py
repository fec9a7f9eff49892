"""The GPT-2 family (Radford et al. 2019): config and presets, the decoder-only network, its HF key map.

Contract: builds only on `t5eval.model.checkpoint` (files, hashes, hub) and torch; shares no block with
T5 (GPT-2 uses LayerNorm with bias, learned positions, GELU and biased projections).
"""
