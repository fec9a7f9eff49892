"""Decoding: greedy and T5's beam search (decoder-only models: `lm_generate`), sharing one cached decoder step (`T5.step`).

The encoder runs once, cross-attention K/V are projected once, the self-attention cache is
preallocated, and rows that are done leave the active batch so they cost no further compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from t5eval.model.lm_generate import LMDecodeConfig, generate_lm
from t5eval.model.t5.network import T5, DecodeCache


@dataclass(frozen=True)
class DecodeConfig:
    """T5's eval decoding (eval.gin: max 128; beam_search.gin: beam 4, alpha 0.6; greedy when beam 1)."""

    beam_size: int = 1
    alpha: float = 0.6
    max_decode_len: int = 128
    min_decode_len: int = 0  # EOS impossible before this many tokens (transformers' min_new_tokens); 0 in T5


def generate(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             decode: DecodeConfig | LMDecodeConfig) -> list[list[int]]:
    """Decode every row of (B, S) inputs; one id list per row, ending at EOS (kept) or max_decode_len.

    A decoder-only model with an `LMDecodeConfig` continues its prompts instead (`generate_lm`).
    """
    if isinstance(decode, LMDecodeConfig):
        return generate_lm(model, input_ids, attention_mask, decode)
    with torch.inference_mode():
        memory = model.encode(input_ids, attention_mask)  # (B, S, D)
        if decode.beam_size <= 1:
            return _greedy(model, memory, attention_mask, decode)
        return _beam(model, memory, attention_mask, decode)


def _trim(row: list[int], eos: int) -> list[int]:
    """Cut after the first EOS (included)."""
    return row[: row.index(eos) + 1] if eos in row else row


def _no_eos_before(scores: torch.Tensor, t: int, decode: DecodeConfig, eos: int) -> torch.Tensor:
    """Step t's scores (N, V) with EOS at -inf while t < min_decode_len (as transformers' min_new_tokens)."""
    if t < decode.min_decode_len:
        scores[:, eos] = float("-inf")
    return scores


def _log_probs(model: T5, tokens: torch.Tensor, t: int, cache: DecodeCache, decode: DecodeConfig) -> torch.Tensor:
    """The shared step: tokens (N,) at position t -> next-token log-probabilities (N, V) in fp32."""
    log_probs = torch.log_softmax(model.step(tokens, t, cache).float(), dim=-1)
    return _no_eos_before(log_probs, t, decode, model.config.eos_token_id)


def _greedy(model: T5, memory: torch.Tensor, attention_mask: torch.Tensor, decode: DecodeConfig) -> list[list[int]]:
    """Argmax decoding (T5's greedy_decode); finished rows are dropped from the batch.

    The argmax is taken on the logits (log_softmax is monotone; it would only cost a pass over V).
    """
    cfg, batch, max_len = model.config, memory.shape[0], decode.max_decode_len
    cache = model.start_cache(memory, attention_mask, max_len)
    out = torch.zeros(batch, max_len, dtype=torch.long)
    active = torch.arange(batch)  # original row of each active row
    tokens = torch.full((batch,), cfg.decoder_start_token_id, dtype=torch.long, device=memory.device)
    for t in range(max_len):
        logits = _no_eos_before(model.step(tokens, t, cache), t, decode, cfg.eos_token_id)  # (A, V)
        tokens = logits.argmax(-1)  # (A,)
        out[active, t] = tokens.cpu()
        done = tokens == cfg.eos_token_id
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            active, tokens = active[keep.cpu()], tokens[keep]
            cache.keep_rows(keep)
    return [_trim(row, cfg.eos_token_id) for row in out.tolist()]


@dataclass
class _Beams:
    """Mesh TF beam state for A active rows and K beams (mesh_tensorflow/beam_search.py)."""

    rows: torch.Tensor  # (A,) original batch row
    alive_seq: torch.Tensor  # (A, K, L)
    alive_lp: torch.Tensor  # (A, K) log-probs of alive hypotheses
    fin_seq: torch.Tensor  # (A, K, L)
    fin_scores: torch.Tensor  # (A, K) length-penalised scores of finished hypotheses
    fin_flags: torch.Tensor  # (A, K) bool

    def keep(self, index: torch.Tensor) -> _Beams:
        return _Beams(self.rows[index], self.alive_seq[index], self.alive_lp[index], self.fin_seq[index],
                      self.fin_scores[index], self.fin_flags[index])

    def best(self) -> torch.Tensor:
        """(A, L): top finished hypothesis, or top alive one for rows where nothing finished (as Mesh TF)."""
        return torch.where(self.fin_flags.any(1)[:, None], self.fin_seq[:, 0], self.alive_seq[:, 0])


def _penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + len) / 6) ** alpha, len counting the EOS (Mesh TF uses step + 1)."""
    return ((5.0 + length) / 6.0) ** alpha


def _grow(beams: _Beams, log_probs: torch.Tensor, t: int, alpha: float, eos: int) -> torch.Tensor:
    """One beam step in place: top 2K candidates -> top K alive + merged top K finished.

    log_probs: (A, K, V), summed in place with the alive log-probs unless it is a broadcast view (step 0).
    Returns the source beam (A, K) of each new alive hypothesis.
    """
    rows, k, vocab = log_probs.shape
    penalty = _penalty(t + 1, alpha)
    alive_lp = beams.alive_lp[..., None]  # (A, K, 1)
    total = (log_probs.add_(alive_lp) if log_probs.is_contiguous() else log_probs + alive_lp).view(rows, k * vocab)
    top_lp, top_idx = total.topk(2 * k, dim=1)  # (A, 2K); one penalty per step, so rank before dividing
    top_scores = top_lp / penalty
    source, token = top_idx // vocab, top_idx % vocab
    top_seq = beams.alive_seq.gather(1, source[..., None].expand(-1, -1, beams.alive_seq.shape[2])).clone()
    top_seq[:, :, t] = token
    # A candidate only finishes if it is real: with V < 2K, -inf candidates of empty beams fill the top 2K.
    top_fin = (token == eos) & torch.isfinite(top_scores)
    _, alive_idx = top_scores.masked_fill(top_fin, float("-inf")).topk(k, dim=1)  # (A, K)
    beams.alive_seq = top_seq.gather(1, alive_idx[..., None].expand_as(beams.alive_seq))
    beams.alive_lp = top_lp.gather(1, alive_idx)
    merged_scores = torch.cat([beams.fin_scores, top_scores.masked_fill(~top_fin, float("-inf"))], dim=1)
    merged_seq = torch.cat([beams.fin_seq, top_seq], dim=1)  # (A, 3K, L)
    merged_flags = torch.cat([beams.fin_flags, top_fin], dim=1)
    beams.fin_scores, fin_idx = merged_scores.topk(k, dim=1)
    beams.fin_seq = merged_seq.gather(1, fin_idx[..., None].expand_as(beams.alive_seq))
    beams.fin_flags = merged_flags.gather(1, fin_idx)
    return source.gather(1, alive_idx)


def _settled(beams: _Beams, alpha: float, max_len: int) -> torch.Tensor:
    """(A,) bool: Mesh TF's stop_early bound is met, so no alive hypothesis can enter the finished top K."""
    bound = beams.alive_lp[:, 0] / _penalty(max_len, alpha)
    lowest = beams.fin_scores.masked_fill(~beams.fin_flags, float("inf")).min(dim=1).values
    return beams.fin_flags.any(1) & (lowest > bound)


def _beam(model: T5, memory: torch.Tensor, attention_mask: torch.Tensor, decode: DecodeConfig) -> list[list[int]]:
    """Mesh TF beam search with the GNMT length penalty; rows whose bound is met leave the batch."""
    cfg, batch, k, max_len = model.config, memory.shape[0], decode.beam_size, decode.max_decode_len
    device = memory.device
    cache = model.start_cache(memory, attention_mask, max_len)  # cross K/V per input row, shared by its beams
    alive_lp = torch.full((batch, k), float("-inf"), device=device)
    alive_lp[:, 0] = 0.0
    seq = torch.zeros(batch, k, max_len, dtype=torch.long, device=device)
    beams = _Beams(torch.arange(batch, device=device), seq, alive_lp, seq.clone(),
                   torch.full((batch, k), float("-inf"), device=device),
                   torch.zeros(batch, k, dtype=torch.bool, device=device))
    results = torch.zeros(batch, max_len, dtype=torch.long)
    # Step 0 runs once per input row (B rows): its K beams are still identical, so the cache is widened after.
    tokens = torch.full((batch,), cfg.decoder_start_token_id, dtype=torch.long, device=device)
    for t in range(max_len):
        log_probs = _log_probs(model, tokens, t, cache, decode)  # (A*K, V); (B, V) at step 0
        log_probs = log_probs.view(beams.rows.shape[0], -1, cfg.vocab_size).expand(-1, k, -1)  # (A, K, V)
        source = _grow(beams, log_probs, t, decode.alpha, cfg.eos_token_id)  # (A, K)
        if t == 0:  # every beam takes its row's step 0, whichever beam is its source
            cache.widen(k, filled=1)
        else:
            offsets = torch.arange(source.shape[0], device=device)[:, None] * k
            cache.reorder((offsets + source).view(-1), t + 1)
        done = _settled(beams, decode.alpha, max_len)
        if bool(done.any()):
            results[beams.rows[done].cpu()] = beams.best()[done].cpu()
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            beams = beams.keep(keep)
            cache.keep_rows(keep)
        tokens = beams.alive_seq[:, :, t].reshape(-1)
    else:
        results[beams.rows.cpu()] = beams.best().cpu()
    return [_trim(row, cfg.eos_token_id) for row in results.tolist()]


def target_logprobs(model: T5, input_ids: list[int], targets: list[list[int]]) -> list[float]:
    """Summed log-probability of each target id list (EOS included) given one encoder input (rank scoring)."""
    device = model.shared.weight.device
    width = max(len(t) for t in targets)
    ids = torch.tensor([input_ids] * len(targets), device=device)  # (N, S)
    dec = torch.tensor([[model.config.decoder_start_token_id, *t[:-1]] + [0] * (width - len(t)) for t in targets],
                       device=device)  # (N, T): targets shifted right
    with torch.inference_mode():
        logp = torch.log_softmax(model(ids, torch.ones_like(ids), dec).float(), dim=-1)  # (N, T, V)
    return [float(logp[n, torch.arange(len(t), device=device), torch.tensor(t, device=device)].sum())
            for n, t in enumerate(targets)]
