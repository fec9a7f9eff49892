"""BERT encoder: embeddings (word + position + token type, LayerNorm), post-LN blocks, tanh pooler.

Module names mirror the HF checkpoint keys where that costs nothing (`weights.key_map` is still total).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.model.adapters import after_feed_forward, inside_feed_forward
from t5eval.model.bert.config import BertConfig


class Embeddings(nn.Module):
    """word(ids) + position(0..S-1) + token_type(segment ids), then LayerNorm and dropout."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, ids: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:  # (B,S),(B,S) -> (B,S,D)
        positions = torch.arange(ids.shape[1], device=ids.device)[None, :]  # (1, S)
        x = self.word(ids) + self.position(positions) + self.token_type(token_types)
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention with biases and 1/sqrt(head_dim) scaling; output dense, residual, LayerNorm."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.attn_dropout_p = cfg.attention_probs_dropout_prob
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, D) -> (B, H, S, Dh)
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # (B,S,D), (B,1,1,S) -> (B,S,D)
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                             dropout_p=self.attn_dropout_p if self.training else 0.0)  # (B,H,S,Dh)
        ctx = ctx.transpose(1, 2).reshape(x.shape)  # (B, S, D)
        return self.norm(x + self.dropout(self.out(ctx)))  # post-LN


class Block(nn.Module):
    """Post-LN transformer block: x = LN(x + attn(x)); x = LN(x + W2 gelu(W1 x))."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.ff_in = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.ff_out = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.ff_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.adapter: nn.Module | None = None  # the T5 paper's adapter layer (--transfer adapters:D)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, D) -> (B, S, D), before the residual
        out = self.dropout(self.ff_out(F.gelu(self.ff_in(x))))  # GELU, erf form
        return inside_feed_forward(self.adapter, out)  # a Houlsby adapter (adapters-houlsby:D)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.attn(x, bias)
        return after_feed_forward(self.adapter, self.ff_norm(x + self.feed_forward(x)))  # official adapter sublayer


class Bert(nn.Module):
    """The encoder and pooler of BertModel. forward -> (hidden (B,S,D), pooled (B,D))."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_hidden_layers))
        self.pooler = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.has_pooler = True  # False: loaded from a checkpoint without one (BertForQuestionAnswering)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, mask (1 = token, 0 = pad), segment ids, each (B, S) -> hidden (B, S, D), pooled (B, D)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(f"sequence of {input_ids.shape[1]} tokens exceeds the position table "
                             f"({self.config.max_position_embeddings}); truncate the inputs")
        x = self.embeddings(input_ids, token_type_ids)
        dtype = x.dtype
        bias = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min  # (B, 1, 1, S)
        for layer in self.layers:
            x = layer(x, bias)
        pooled = torch.tanh(self.pooler(x[:, 0]))  # (B, D): the [CLS] position
        return x, pooled
