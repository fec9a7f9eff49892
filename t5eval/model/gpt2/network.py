"""The native GPT-2 (Radford et al. 2019): pre-LayerNorm blocks, learned positions, GELU (tanh), tied head.

Decoding runs over a preallocated K/V cache (`LMCache`): `prefill` encodes left-padded prompts once,
`step` appends one token per row. Both are what `t5eval.model.lm_generate` calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.model.gpt2.config import GPT2Config
from t5eval.model.lm_generate import LMCache


def attention_bias(key_mask: torch.Tensor, q_len: int, dtype: torch.dtype) -> torch.Tensor:
    """Causal + padding bias (B, 1, Tq, Tk) for the last q_len queries over Tk keys; (B, Tk) 1/0 key_mask.

    Hidden keys get dtype's minimum (not -inf), so a query with no visible key (a left pad) stays finite.
    """
    k_len = key_mask.shape[1]
    query_pos = torch.arange(k_len - q_len, k_len, device=key_mask.device)[:, None]  # (Tq, 1)
    visible = torch.arange(k_len, device=key_mask.device)[None, :] <= query_pos  # (Tq, Tk) causal
    visible = visible[None, None] & key_mask.bool()[:, None, None, :]  # (B, 1, Tq, Tk)
    return torch.zeros(visible.shape, dtype=dtype, device=key_mask.device).masked_fill(
        ~visible, torch.finfo(dtype).min)


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) 1/0 mask -> position ids counting real tokens only (left pads get 0, as transformers' generate)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class SelfAttention(nn.Module):
    """Causal multi-head attention with biased q/k/v (one fused projection) and output projections."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.heads, self.d_head = cfg.n_head, cfg.d_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.attn_dropout = cfg.attn_pdrop

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> q, k, v, each (B, H, T, Dh)."""
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        return q, k, v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """q (B,H,Tq,Dh) over k/v (B,H,Tk,Dh) with an additive bias -> (B, Tq, D); scale 1/sqrt(Dh)."""
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                             dropout_p=self.attn_dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(q.shape[0], q.shape[2], self.heads * self.d_head))


class MLP(nn.Module):
    """fc -> GELU (tanh form, GPT-2's `gelu_new`) -> proj, with biases."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, cfg.d_ff)
        self.proj = nn.Linear(cfg.d_ff, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., D) -> (..., D)
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    """Pre-LayerNorm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); dropout before each residual add."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)
        self.dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x: torch.Tensor, bias: torch.Tensor,
                kv_out: torch.Tensor | None = None) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        """`kv_out` (2, B, H, T, Dh), when given, receives this block's keys and values (cache prefill)."""
        q, k, v = self.attn.project(self.ln_1(x))
        if kv_out is not None:
            kv_out[0], kv_out[1] = k, v
        x = x + self.dropout(self.attn.attend(q, k, v, bias))
        return x + self.dropout(self.mlp(self.ln_2(x)))


class GPT2(nn.Module):
    """GPT-2 language model. `model(input_ids, attention_mask) -> logits (B, T, V)`."""

    decoder_only = True  # read by `t5eval.model.generate` and the evaluator (no encoder, prompt continues)

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.embd_pdrop)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as every released GPT-2

    def _blocks(self) -> list[Block]:
        return [b for b in self.blocks if isinstance(b, Block)]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: LMCache | None = None) -> torch.Tensor:
        """(B, T) ids and 1/0 mask (left or right padding) -> logits (B, T, V); fills `cache` when given."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        x = self.dropout(self.wte(input_ids) + self.wpe(positions_from_mask(mask)))  # (B, T, D)
        bias = attention_bias(mask, input_ids.shape[1], x.dtype)
        length = input_ids.shape[1]
        for i, block in enumerate(self._blocks()):
            x = block(x, bias, None if cache is None else cache.kv[i, :, :, :, :length])
        if cache is not None:
            cache.key_mask[:, :length] = mask
            cache.positions, cache.filled = mask.long().sum(1), length
        return self.lm_head(self.ln_f(x))

    def start_cache(self, rows: int, max_len: int, like: torch.Tensor) -> LMCache:
        """An empty cache for `rows` rows of up to `max_len` tokens (prompt + generated)."""
        cfg = self.config
        kv = like.new_zeros(len(self.blocks), 2, rows, cfg.n_head, max_len, cfg.d_head)
        return LMCache(kv, torch.zeros(rows, max_len, dtype=torch.long, device=like.device),
                       torch.zeros(rows, dtype=torch.long, device=like.device))

    def step(self, tokens: torch.Tensor, cache: LMCache) -> torch.Tensor:
        """One token per row, tokens (N,) -> next-token logits (N, V); writes its K/V into the cache."""
        t = cache.filled
        x = self.wte(tokens) + self.wpe(cache.positions)  # (N, D)
        cache.key_mask[:, t] = 1
        bias = attention_bias(cache.key_mask[:, :t + 1], 1, x.dtype)  # (N, 1, 1, t+1)
        for i, block in enumerate(self._blocks()):
            q, k, v = block.attn.project(block.ln_1(x)[:, None])  # each (N, H, 1, Dh)
            cache.kv[i, 0, :, :, t:t + 1], cache.kv[i, 1, :, :, t:t + 1] = k, v
            keys, values = cache.kv[i, 0, :, :, :t + 1], cache.kv[i, 1, :, :, :t + 1]
            x = x + block.attn.attend(q, keys, values, bias)[:, 0]
            x = x + block.mlp(block.ln_2(x))
        cache.filled, cache.positions = t + 1, cache.positions + 1
        return self.lm_head(self.ln_f(x))

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy: logits at t predict labels at t+1; labels (B, T), -100 ignored."""
        logits = self(input_ids, attention_mask)[:, :-1]  # (B, T-1, V)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                               ignore_index=-100)
