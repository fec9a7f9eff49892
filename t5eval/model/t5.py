"""The native T5 encoder-decoder (Raffel et al.): pre-norm blocks, shared relative bias, tied or untied head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.model.config import T5Config
from t5eval.model.layers import Attention, FeedForward, RelativeBias, RMSNorm


def padding_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, S) 1/0 mask -> additive (B, 1, 1, S) bias: 0 where kept, dtype's min where padded (as HF)."""
    mask = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - mask) * torch.finfo(dtype).min


def causal_bias(length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(T, T) additive bias that hides future positions from the decoder."""
    future = torch.ones(length, length, dtype=torch.bool, device=device).triu(1)
    return torch.zeros(length, length, dtype=dtype, device=device).masked_fill(future, torch.finfo(dtype).min)


class EncoderLayer(nn.Module):
    """Pre-norm self-attention + feed-forward, each with dropout before the residual add."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ff_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.ff = FeedForward(cfg)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # (B, S, D)
        h = self.attn_norm(x)
        x = x + self.dropout(self.attn(h, h, bias))
        return x + self.dropout(self.ff(self.ff_norm(x)))


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention, cross-attention (no position bias) and feed-forward."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.self_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.self_attn = Attention(cfg)
        self.cross_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.cross_attn = Attention(cfg)
        self.ff_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.ff = FeedForward(cfg)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x: torch.Tensor, self_bias: torch.Tensor, memory: torch.Tensor,
                cross_bias: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        h = self.self_norm(x)
        x = x + self.dropout(self.self_attn(h, h, self_bias))
        x = x + self.dropout(self.cross_attn(self.cross_norm(x), memory, cross_bias))
        return x + self.dropout(self.ff(self.ff_norm(x)))


@dataclass
class DecodeCache:
    """Decoder state for incremental decoding of N = B * group rows (group = beams per input row).

    self_k/self_v: per layer (N, H, T_max, Dk), preallocated and filled one step at a time.
    cross_k/cross_v: per layer (B, H, S, Dk), projected once from the encoder output and shared by
    the `group` beams of a row (never copied per beam). cross_bias: (B, 1, 1, S) padding bias.
    self_bias: (1, H, T_max, T_max) relative bias of all steps, computed once (rows are query steps;
    no causal mask needed as only keys <= t are read).
    """

    self_k: list[torch.Tensor]
    self_v: list[torch.Tensor]
    cross_k: list[torch.Tensor]
    cross_v: list[torch.Tensor]
    cross_bias: torch.Tensor
    self_bias: torch.Tensor
    group: int = 1

    def select(self, index: torch.Tensor, rows: torch.Tensor | None = None) -> DecodeCache:
        """Keep decoding rows `index` (N',); `rows` (B',) picks the input rows of the cross-attention state.

        Greedy drops finished rows with `select(keep)`; beam search reorders beams with
        `select(beam_index)` (cross state untouched) and drops rows with `select(beam_index, rows)`.
        """
        def pick(tensors: list[torch.Tensor], at: torch.Tensor) -> list[torch.Tensor]:
            return [t.index_select(0, at) for t in tensors]

        cross = index if self.group == 1 else rows
        if cross is None:
            return DecodeCache(pick(self.self_k, index), pick(self.self_v, index), self.cross_k, self.cross_v,
                               self.cross_bias, self.self_bias, self.group)
        return DecodeCache(pick(self.self_k, index), pick(self.self_v, index), pick(self.cross_k, cross),
                           pick(self.cross_v, cross), self.cross_bias.index_select(0, cross), self.self_bias,
                           self.group)


class T5(nn.Module):
    """T5 encoder-decoder. `model(input_ids, attention_mask, decoder_input_ids) -> logits (B, T, V)`."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.config = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder_bias = RelativeBias(cfg, bidirectional=True)
        self.encoder_layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.encoder_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.decoder_bias = RelativeBias(cfg, bidirectional=False)
        self.decoder_layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_decoder_layers))
        self.decoder_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.dropout = nn.Dropout(cfg.dropout_rate)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.shared.weight

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, S) ids and mask -> encoder output (B, S, D) after the final norm."""
        x = self.dropout(self.shared(input_ids))
        bias = self.encoder_bias(input_ids.shape[1], input_ids.shape[1]) + padding_bias(attention_mask, x.dtype)
        for layer in self.encoder_layers:
            x = layer(x, bias)
        return self.dropout(self.encoder_norm(x))

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final decoder states (..., D) -> logits (..., V); v1.0 rescales by d_model**-0.5 before the tied head."""
        hidden = self.dropout(self.decoder_norm(hidden))
        if self.config.scale_decoder_outputs:
            hidden = hidden * (self.config.d_model ** -0.5)
        return self.lm_head(hidden)

    def decode(self, decoder_input_ids: torch.Tensor, memory: torch.Tensor,
               attention_mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder: (B, T) ids over memory (B, S, D) -> logits (B, T, V)."""
        x = self.dropout(self.shared(decoder_input_ids))
        length = decoder_input_ids.shape[1]
        self_bias = self.decoder_bias(length, length) + causal_bias(length, x.dtype, x.device)
        cross_bias = padding_bias(attention_mask, x.dtype)
        for layer in self.decoder_layers:
            x = layer(x, self_bias, memory, cross_bias)
        return self.head(x)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                decoder_input_ids: torch.Tensor) -> torch.Tensor:
        """(B,S), (B,S), (B,T) -> logits (B, T, V)."""
        return self.decode(decoder_input_ids, self.encode(input_ids, attention_mask), attention_mask)

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean token cross-entropy; labels (B, T) with -100 ignored; decoder inputs = labels shifted right from 0."""
        start = torch.full_like(labels[:, :1], self.config.decoder_start_token_id)
        shifted = torch.cat([start, labels[:, :-1]], dim=1)
        shifted = shifted.masked_fill(shifted == -100, self.config.pad_token_id)
        logits = self(input_ids, attention_mask, shifted)  # (B, T, V)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)

    def _decoder(self) -> list[DecoderLayer]:
        return [layer for layer in self.decoder_layers if isinstance(layer, DecoderLayer)]

    def start_cache(self, memory: torch.Tensor, attention_mask: torch.Tensor, max_len: int,
                    group: int = 1) -> DecodeCache:
        """Project cross-attention K/V once and preallocate the self-attention cache for `max_len` steps.

        memory (B, S, D); `group` decoding rows (beams) per input row share its cross-attention K/V.
        """
        cfg, batch = self.config, memory.shape[0] * group
        shape = (batch, cfg.num_heads, max_len, cfg.d_kv)
        cross = [layer.cross_attn.project_kv(memory) for layer in self._decoder()]
        return DecodeCache(
            self_k=[memory.new_zeros(shape) for _ in self.decoder_layers],
            self_v=[memory.new_zeros(shape) for _ in self.decoder_layers],
            cross_k=[k.contiguous() for k, _ in cross], cross_v=[v.contiguous() for _, v in cross],
            cross_bias=padding_bias(attention_mask, memory.dtype),
            self_bias=self.decoder_bias(max_len, max_len).contiguous(), group=group,
        )

    def step(self, tokens: torch.Tensor, t: int, cache: DecodeCache) -> torch.Tensor:
        """One decoder step: tokens (B,) at position t -> logits (B, V); writes K/V of step t into the cache."""
        x = self.shared(tokens)[:, None, :]  # (B, 1, D)
        self_bias = cache.self_bias[:, :, t:t + 1, :t + 1]  # (1, H, 1, t+1)
        for i, layer in enumerate(self._decoder()):
            attn = layer.self_attn
            h = layer.self_norm(x)
            cache.self_k[i][:, :, t:t + 1] = attn.split(attn.k(h))
            cache.self_v[i][:, :, t:t + 1] = attn.split(attn.v(h))
            q = attn.split(attn.q(h))
            x = x + attn.attend(q, cache.self_k[i][:, :, :t + 1], cache.self_v[i][:, :, :t + 1], self_bias)
            x = x + self._cross_step(layer.cross_attn, layer.cross_norm(x), cache, i)
            x = x + layer.ff(layer.ff_norm(x))
        return self.head(x[:, 0])

    @staticmethod
    def _cross_step(cross: Attention, h: torch.Tensor, cache: DecodeCache, i: int) -> torch.Tensor:
        """Cross-attention of h (N, 1, D); the `group` beams of a row act as that row's query positions."""
        rows, heads, d_kv = cache.cross_k[i].shape[0], cross.heads, cross.d_kv
        q = cross.q(h).view(rows, cache.group, heads, d_kv).transpose(1, 2)  # (B, H, G, Dk)
        out = cross.attend(q, cache.cross_k[i], cache.cross_v[i], cache.cross_bias)  # (B, G, D)
        return out.reshape(rows * cache.group, 1, -1)
