"""Decoding from an ensemble of encoder-decoder T5s (the T5 paper §3.6, Table 13's "ensembled" rows).

At every decoding step each member scores the next token from its own encoder output and decoder cache, and
the ensemble's scores are Mesh TF's `reduce_ensemble_logits` of the members' logits
(mesh_tensorflow/transformer/transformer.py). Its default, and ours, is `reduce_ensemble_logits_mean_prob`:
the arithmetic mean of the members' probabilities, returned as log(max(mean, 1e-20)); the other,
`reduce_ensemble_logits_mean_logit` ("logit"), is the mean of the logits, i.e. of the log-probabilities up to
a per-row constant (a normalised geometric mean of probabilities). The paper's text says the ensemble averages
logits; the code that produced its numbers defaults to the mean of probabilities, which we follow.

`Ensemble` offers what `t5eval.model.generate` uses of a `T5` (`config`, `encode`, `start_cache`, `step`), so
greedy and beam search run unchanged: greedy takes the argmax of the combined scores, beam search their
log-softmax (a no-op for mean_prob, whose scores are already normalised log-probabilities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from t5eval.errors import T5evalError
from t5eval.model.t5.network import T5, DecodeCache

REDUCTIONS = ("prob", "logit")  # Mesh TF's reduce_ensemble_logits_mean_prob (default) / _mean_logit
MIN_PROB = 1e-20  # Mesh TF: log(max(probs, 1e-20))


def combine_logits(logits: torch.Tensor, reduce: str = "prob") -> torch.Tensor:
    """Members' logits (M, N, V) -> the ensemble's scores (N, V), in fp32.

    "prob": log(max(mean_m softmax(logits_m), 1e-20)); "logit": mean_m logits_m.
    """
    if reduce == "prob":
        probs = torch.softmax(logits.float(), dim=-1).mean(dim=0)  # (N, V)
        return probs.clamp_min(MIN_PROB).log()
    if reduce == "logit":
        return logits.float().mean(dim=0)
    raise T5evalError(f"ensemble reduction {reduce!r} is not one of {', '.join(REDUCTIONS)}")


@dataclass
class EnsembleCache:
    """One `DecodeCache` per member; beam reordering and dropping finished rows act on all of them."""

    members: list[DecodeCache]

    def reorder(self, index: torch.Tensor, filled: int) -> None:
        for cache in self.members:
            cache.reorder(index, filled)

    def widen(self, group: int, filled: int) -> None:
        for cache in self.members:
            cache.widen(group, filled)

    def keep_rows(self, rows: torch.Tensor) -> None:
        for cache in self.members:
            cache.keep_rows(rows)


class Ensemble(nn.Module):
    """Several T5 encoder-decoders of one vocabulary decoded as one model (see the module docstring).

    `encode` returns the members' encoder outputs concatenated on the last axis (B, S, ΣD); `start_cache`
    splits them again, so members of different widths can be ensembled.
    """

    def __init__(self, members: list[T5], reduce: str = "prob") -> None:
        super().__init__()
        if not members:
            raise T5evalError("an ensemble needs at least one member")
        if reduce not in REDUCTIONS:
            raise T5evalError(f"ensemble reduction {reduce!r} is not one of {', '.join(REDUCTIONS)}")
        for i, member in enumerate(members):
            if not isinstance(member, T5):
                raise T5evalError(f"ensemble member {i + 1} is a {type(member).__name__}; ensembles decode "
                                  "encoder-decoder T5 models only")
        cfg = members[0].config
        for i, member in enumerate(members[1:], start=2):
            other = member.config
            if (other.vocab_size, other.eos_token_id, other.decoder_start_token_id) != (
                    cfg.vocab_size, cfg.eos_token_id, cfg.decoder_start_token_id):
                raise T5evalError(f"ensemble member {i} has another vocabulary or special ids than member 1 "
                                  f"(vocab_size {other.vocab_size} vs {cfg.vocab_size}); ensemble models of one "
                                  "vocabulary")
        self.members = nn.ModuleList(members)
        self.config = cfg
        self.reduce = reduce

    def _t5s(self) -> list[T5]:
        return [m for m in self.members if isinstance(m, T5)]

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, S) -> every member's encoder output, concatenated: (B, S, ΣD)."""
        return torch.cat([m.encode(input_ids, attention_mask) for m in self._t5s()], dim=-1)

    def start_cache(self, memory: torch.Tensor, attention_mask: torch.Tensor, max_len: int) -> EnsembleCache:
        widths = [m.config.d_model for m in self._t5s()]
        parts = memory.split(widths, dim=-1)
        return EnsembleCache([m.start_cache(part, attention_mask, max_len)
                              for m, part in zip(self._t5s(), parts, strict=True)])

    def step(self, tokens: torch.Tensor, t: int, cache: Any) -> torch.Tensor:
        """tokens (N,) at position t -> the ensemble's scores (N, V) (`combine_logits` of every member's step)."""
        steps = [m.step(tokens, t, c) for m, c in zip(self._t5s(), cache.members, strict=True)]
        return combine_logits(torch.stack(steps), self.reduce)

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise T5evalError("an ensemble only decodes (greedy or beam); it cannot be trained or rank-scored")
