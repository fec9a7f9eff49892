"""Decoder-only decoding: greedy or seeded top-k sampling over a preallocated K/V cache, and scoring.

A decoder-only model (`decoder_only = True`: `GPT2`, `T5LM`) continues its prompt; it offers
`start_cache(rows, max_len, like)`, `forward(ids, mask, cache=)` (prefill) and `step(tokens, cache)`.
Rows arrive right-padded (the evaluator's batches), are moved to left padding so every row's next token lands in the same cache
column, and leave the batch once they end (EOS or a stop token). Sampling draws each row from its own
generator, seeded by the config's seed and the row's prompt ids, so a row samples the same tokens
whatever batch it lands in, and a cached prediction is the one a fresh decode would give.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from t5eval.errors import T5evalError


@dataclass
class LMCache:
    """Decoding state of N rows: kv (L, 2, N, H, T_max, Dh) preallocated, key_mask (N, T_max) 1 where a
    key is real, `filled` columns written so far, `positions` (N,) the position id of each row's next token.
    `bias` (1, H, T_max, T_max): a model's position bias of all columns, computed once (T5 LM; None for GPT-2)."""

    kv: torch.Tensor
    key_mask: torch.Tensor
    positions: torch.Tensor
    filled: int = 0
    bias: torch.Tensor | None = None

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Drop finished rows: keep `rows` (N',) so they cost no more compute."""
        self.kv = self.kv.index_select(2, rows)
        self.key_mask = self.key_mask.index_select(0, rows)
        self.positions = self.positions.index_select(0, rows)


@dataclass(frozen=True)
class LMDecodeConfig:
    """How a decoder-only model continues a prompt. top_k 0 is greedy; stop_ids end a row (kept)."""

    max_new_tokens: int = 128
    top_k: int = 0
    seed: int = 0
    stop_ids: tuple[int, ...] = ()
    min_new_tokens: int = 0  # EOS impossible before this many tokens (bench parity with min_new_tokens)


def left_pad(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, S) ids/mask -> the same rows left-padded (pads first, pad id 0)."""
    lengths = attention_mask.long().sum(1)  # (B,)
    width = input_ids.shape[1]
    shift = (torch.arange(width, device=input_ids.device)[None, :] - (width - lengths)[:, None])  # (B, S)
    valid = shift >= 0
    gathered = input_ids.gather(1, shift.clamp(min=0))
    return gathered.masked_fill(~valid, 0), valid.long()


def row_generators(input_ids: torch.Tensor, attention_mask: torch.Tensor, seed: int) -> list[torch.Generator]:
    """One CPU generator per row, seeded by sha256(seed, the row's real prompt ids)."""
    out = []
    for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
        real = [i for i, m in zip(ids, mask, strict=True) if m]
        digest = hashlib.sha256(f"{seed}|{','.join(map(str, real))}".encode()).digest()
        out.append(torch.Generator().manual_seed(int.from_bytes(digest[:8], "little")))
    return out


def _pick(logits: torch.Tensor, top_k: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Next tokens (A,) from logits (A, V): argmax, or a draw among the top_k by each row's generator."""
    if top_k <= 0:
        return logits.argmax(-1)
    values, index = logits.float().topk(top_k, dim=-1)  # (A, k)
    probs = torch.softmax(values, dim=-1).cpu()
    draws = [int(torch.multinomial(p, 1, generator=g)) for p, g in zip(probs, generators, strict=True)]
    return index.gather(1, torch.tensor(draws, device=logits.device)[:, None]).squeeze(1)


def generate_lm(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                decode: LMDecodeConfig) -> list[list[int]]:
    """Continue each right-padded prompt row (B, S); one list of new ids per row, ending at EOS or a stop
    id (kept) or after max_new_tokens. The prompt plus new tokens must fit the model's window."""
    window = model.config.max_len
    batch, width = input_ids.shape
    if width >= window:
        raise T5evalError(f"prompt of {width} tokens does not fit the model's {window}-token window; "
                          "declare a truncation rule for the task (prompt.truncate)")
    steps = min(decode.max_new_tokens, window - width)
    ends = torch.tensor(sorted({model.config.eos_token_id, *decode.stop_ids}), device=input_ids.device)
    generators = row_generators(input_ids, attention_mask, decode.seed) if decode.top_k > 0 else []
    ids, mask = left_pad(input_ids, attention_mask)
    out = torch.zeros(batch, max(steps, 0), dtype=torch.long)
    lengths = torch.full((batch,), steps, dtype=torch.long)
    with torch.inference_mode():
        cache = model.start_cache(batch, width + steps, like=next(model.parameters()))
        logits = model(ids, mask, cache=cache)[:, -1]  # (B, V): the next token after each prompt
        active = torch.arange(batch)
        for t in range(steps):
            if t < decode.min_new_tokens:
                logits[:, model.config.eos_token_id] = float("-inf")
            tokens = _pick(logits, decode.top_k, generators)  # (A,)
            out[active, t] = tokens.cpu()
            done = torch.isin(tokens, ends)
            if bool(done.any()):
                lengths[active[done.cpu()]] = t + 1
                keep = (~done).nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                active, tokens = active[keep.cpu()], tokens[keep]
                generators = [generators[i] for i in keep.tolist()] if generators else []
                cache.keep_rows(keep)
            if t + 1 < steps:
                logits = model.step(tokens, cache)
    return [row[:n] for row, n in zip(out.tolist(), lengths.tolist(), strict=True)]


def continuation_logprobs(model: Any, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
    """Per (prompt ids, continuation ids): the summed log-probability of the continuation after the prompt,
    all pairs in one right-padded forward pass."""
    rows = [p + c for p, c in pairs]
    width = max(len(r) for r in rows)
    if width > model.config.max_len:
        raise T5evalError(f"prompt + continuation of {width} tokens exceeds the {model.config.max_len}-token window")
    device = next(model.parameters()).device
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows], device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    with torch.inference_mode():
        logp = torch.log_softmax(model(ids, mask).float(), dim=-1)  # (N, W, V)
    out = []
    for n, (prompt, cont) in enumerate(pairs):
        positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(cont), device=device)  # predict cont
        out.append(float(logp[n, positions, torch.tensor(cont, device=device)].sum()))
    return out
