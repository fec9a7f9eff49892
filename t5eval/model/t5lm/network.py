"""The T5 paper's LM / prefix LM: T5 `EncoderLayer` blocks under a causal or prefix visibility mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.model.layers import RelativeBias, RMSNorm
from t5eval.model.lm_generate import LMCache
from t5eval.model.t5.network import EncoderLayer
from t5eval.model.t5lm.config import T5LMConfig


def visibility_bias(key_mask: torch.Tensor, q_len: int, prefix: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, 1, Tq, Tk) additive bias for the last q_len columns: a key is visible when it is real and is at or
    before the query, or inside the row's fully visible prefix (columns < prefix (B,)); hidden keys get dtype's min."""
    k_len = key_mask.shape[1]
    cols = torch.arange(k_len, device=key_mask.device)
    query = torch.arange(k_len - q_len, k_len, device=key_mask.device)
    causal = cols[None, :] <= query[:, None]  # (Tq, Tk)
    in_prefix = (cols[None, :] < prefix[:, None])[:, None, :]  # (B, 1, Tk)
    visible = (causal[None] | in_prefix) & key_mask.bool()[:, None, :]  # (B, Tq, Tk)
    return torch.zeros(visible.shape, dtype=dtype, device=key_mask.device).masked_fill(
        ~visible, torch.finfo(dtype).min)[:, None]


class T5LM(nn.Module):
    """Decoder-only T5 (`lm` or `prefix-lm`). `model(ids, mask) -> logits (B, T, V)`; a prefix LM sees
    the whole given sequence as its prefix unless `prefix` (B,) says how many leading columns are; the LM
    ignores `prefix`."""

    decoder_only = True
    text_to_text = True  # runs T5's text-to-text tasks: inputs (with EOS), then the targets
    # Mesh TF's Unitransformer.loss_on_targets_only: True scores the target tokens only; False (Mesh TF's
    # default for its "delimited_lm") scores every token of inputs + targets: the paper's LM objective for the
    # plain LM, "predict the entire span from beginning to end" (§3.2.3). A training setting, not saved.
    loss_on_targets_only = True

    def __init__(self, cfg: T5LMConfig) -> None:
        super().__init__()
        self.config = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.position_bias = RelativeBias(cfg, bidirectional=cfg.architecture == "prefix-lm")
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.final_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.shared.weight  # tied, as T5 v1.0 (with its d_model**-0.5 rescale)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def _blocks(self) -> list[EncoderLayer]:
        return [b for b in self.layers if isinstance(b, EncoderLayer)]

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.dropout(self.final_norm(x)) * self.config.d_model ** -0.5)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: LMCache | None = None, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids and mask -> logits (B, T, V); fills `cache` (prefill) when given."""
        return self._head(self.hidden(input_ids, attention_mask, cache, prefix))

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               cache: LMCache | None = None, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """`forward` up to the final norm: (B, T) -> (B, T, D)."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        batch, length = input_ids.shape
        if self.config.architecture == "lm":  # causal everywhere, whatever prefix is given
            prefix = torch.zeros(batch, dtype=torch.long, device=input_ids.device)
        elif prefix is None:  # a prompt: the prefix LM sees all of it
            prefix = torch.full((batch,), length, device=input_ids.device)
        x = self.dropout(self.shared(input_ids))
        bias = self.position_bias(length, length) + visibility_bias(mask, length, prefix, x.dtype)  # (B, H, T, T)
        for i, block in enumerate(self._blocks()):
            h = block.attn_norm(x)
            q, k, v = (block.attn.split(p) for p in block.attn.qkv_projector()(h).chunk(3, dim=-1))
            if cache is not None:
                cache.kv[i, 0, :, :, :length], cache.kv[i, 1, :, :, :length] = k, v
            x = x + block.dropout(block.attn.attend(q, k, v, bias))
            x = x + block.dropout(block.ff(block.ff_norm(x)))
        if cache is not None:
            cache.key_mask[:, :length] = mask
            cache.filled = length
        return x

    def start_cache(self, rows: int, max_len: int, like: torch.Tensor) -> LMCache:
        cfg = self.config
        kv = like.new_zeros(len(self.layers), 2, rows, cfg.num_heads, max_len, cfg.d_kv)
        return LMCache(kv, torch.zeros(rows, max_len, dtype=torch.long, device=like.device),
                       torch.zeros(rows, dtype=torch.long, device=like.device),
                       bias=self.position_bias(max_len, max_len).contiguous())

    def step(self, tokens: torch.Tensor, cache: LMCache) -> torch.Tensor:
        """tokens (N,) at column `cache.filled` -> logits (N, V); its keys see every earlier real column."""
        t, n, heads, d_kv = cache.filled, tokens.shape[0], self.config.num_heads, self.config.d_kv
        assert cache.bias is not None
        x = self.shared(tokens)  # (N, D)
        cache.key_mask[:, t] = 1
        key_mask = cache.key_mask[:, :t + 1]
        bias = cache.bias[:, :, t:t + 1, :t + 1] + (1.0 - key_mask[:, None, None, :].to(x.dtype)) * torch.finfo(
            x.dtype).min  # (N, H, 1, t+1)
        for i, block in enumerate(self._blocks()):
            qkv = block.attn.qkv_projector()(block.attn_norm(x)).view(n, 3, heads, d_kv)
            cache.kv[i, :, :, :, t] = qkv[:, 1:].transpose(0, 1)
            keys, values = cache.kv[i, 0, :, :, :t + 1], cache.kv[i, 1, :, :, :t + 1]
            x = x + block.attn.attend(qkv[:, 0, :, None], keys, values, bias)[:, 0]
            x = x + block.ff(block.ff_norm(x))
        cache.filled = t + 1
        return self._head(x)

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Text-to-text loss as one sequence per row: real inputs then real targets (labels != -100), right-padded;
        the prefix LM sees the inputs fully; cross-entropy (token mean) on the target tokens only, or with
        `loss_on_targets_only` False on every token after the first (inputs too)."""
        rows, prefix = [], []
        for ids, mask, lab in zip(input_ids, attention_mask, labels, strict=True):
            inputs, targets = ids[mask.bool()], lab[lab != -100]
            rows.append((inputs, targets))
            prefix.append(len(inputs))
        width = max(len(i) + len(t) for i, t in rows)
        seq = input_ids.new_zeros(len(rows), width)
        mask = torch.zeros_like(seq)
        gold = torch.full_like(seq, -100)  # gold[b, p]: the token position p predicts (p + 1's), on targets only
        for b, (inputs, targets) in enumerate(rows):
            n, m = len(inputs), len(targets)
            seq[b, :n + m] = torch.cat([inputs, targets])
            mask[b, :n + m] = 1
            gold[b, n - 1:n + m - 1] = targets
            if not self.loss_on_targets_only:
                gold[b, :n - 1] = inputs[1:]
        states = self.hidden(seq, mask, prefix=torch.tensor(prefix, device=seq.device))  # (B, W, D); LM: causal
        predicting = gold != -100  # only the positions that predict a target token reach the LM head
        logits = self._head(states[predicting])  # (N_targets, V)
        return F.cross_entropy(logits.float(), gold[predicting])
