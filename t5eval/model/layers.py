"""T5 building blocks: RMS norm, relative position bias, attention, feed-forward (T5_TASKS.md §8)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.model.segments import PerExample
from t5eval.model.t5.config import T5Config


class RMSNorm(nn.Module):
    """T5 layer norm: scale only, no mean subtraction, no bias; the variance is taken in fp32."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., D) -> (..., D)
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return self.weight * x


def relative_position_bucket(relative: torch.Tensor, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> torch.Tensor:
    """Map `key_pos - query_pos` to a bucket id (Mesh TF's `_relative_position_bucket`).

    Half the buckets are exact small distances, the rest log-spaced up to `max_distance`; the
    encoder (bidirectional) spends half of the buckets on positive offsets, the decoder only looks back.
    The float expression keeps Mesh TF's operation order so bucket boundaries match bit for bit.
    """
    buckets = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative > 0).to(relative.dtype) * num_buckets
        distance = relative.abs()
    else:
        distance = (-relative).clamp(min=0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    log_ratio = torch.log(distance.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).to(relative.dtype)
    large = large.clamp(max=num_buckets - 1)
    return buckets + torch.where(is_small, distance, large)


class RelativeBias(nn.Module):
    """Per-head scalar bias by bucketed relative position; computed once per stack, shared by all layers."""

    def __init__(self, cfg: T5Config, bidirectional: bool) -> None:
        super().__init__()
        self.embedding = nn.Embedding(cfg.relative_attention_num_buckets, cfg.num_heads)
        self.bidirectional = bidirectional
        self.num_buckets = cfg.relative_attention_num_buckets
        self.max_distance = cfg.relative_attention_max_distance

    def forward(self, q_len: int, k_len: int) -> torch.Tensor:  # -> (1, H, Tq, Tk)
        device = self.embedding.weight.device
        query = torch.arange(q_len, device=device)[:, None]
        key = torch.arange(k_len, device=device)[None, :]
        buckets = relative_position_bucket(key - query, self.bidirectional, self.num_buckets, self.max_distance)
        # contiguous: a head-innermost bias made every layer's SDPA copy the (B, H, Tq, Tk) mask it is added into
        return self.embedding(buckets).permute(2, 0, 1).unsqueeze(0).contiguous()


class Attention(nn.Module):
    """Multi-head attention with no 1/sqrt(d_kv) scaling (T5 folds it into the init); no biases."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.heads, self.d_kv = cfg.num_heads, cfg.d_kv
        inner = cfg.inner_dim
        self.q = nn.Linear(cfg.d_model, inner, bias=False)
        self.k = nn.Linear(cfg.d_model, inner, bias=False)
        self.v = nn.Linear(cfg.d_model, inner, bias=False)
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout_rate)
        self.packed_qkv: nn.Module | None = None  # set by `quantize_int8`: q, k, v as one int8 matmul

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H*Dk) -> (B, H, T, Dk)
        return x.view(x.shape[0], x.shape[1], self.heads, self.d_kv).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """q (B,H,Tq,Dk), k/v (B,H,Tk,Dk), bias broadcast to (B,H,Tq,Tk) -> (B, Tq, D)."""
        return self.o(self.mix(q, k, v, bias))

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """`attend` before the output projection -> (B, Tq, H*Dk).

        One fused `scaled_dot_product_attention` with the bias as its float mask and scale 1.0
        (T5 has no 1/sqrt(d_kv)): the same kernel transformers' default "sdpa" T5 attention calls.
        """
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0,
                                             dropout_p=self.dropout.p if self.training else 0.0)  # (B,H,Tq,Dk)
        return out.transpose(1, 2).reshape(q.shape[0], q.shape[2], self.heads * self.d_kv)

    def qkv_weight(self) -> torch.Tensor:
        """(3*H*Dk, D): q, k and v stacked, so self-attention projects with one matmul."""
        return torch.cat([self.q.weight, self.k.weight, self.v.weight])

    def qkv_projector(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """x (..., D) -> (..., 3*H*Dk) in one matmul: the stacked fp weights, or the int8 packed module."""
        if self.packed_qkv is not None:
            return self.packed_qkv
        return functools.partial(F.linear, weight=self.qkv_weight())

    def forward(self, x: torch.Tensor, source: torch.Tensor, bias: torch.Tensor | PerExample) -> torch.Tensor:
        """Full (uncached) attention of x (B,Tq,D) over source (B,Tk,D); self-attention when source is x.

        `bias` is an additive mask broadcast to (B, H, Tq, Tk), or on packed rows a `PerExample` layout:
        projections run on the packed tokens, attention per example (`t5eval.model.segments`)."""
        if source is x:
            q, k, v = self.qkv_projector()(x).chunk(3, dim=-1)  # 3 x (B, T, H*Dk)
        else:
            q, k, v = self.q(x), self.k(source), self.v(source)
        if isinstance(bias, PerExample):
            return self.o(bias.attend(self.mix, q, k, v, self.heads))
        return self.attend(self.split(q), self.split(k), self.split(v), bias)


class FeedForward(nn.Module):
    """ReLU MLP (v1.0) or gated-GELU (v1.1: gelu_tanh(wi_0 x) * wi_1 x); no biases."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.gated = cfg.feed_forward_proj == "gated-gelu"
        if self.gated:
            self.wi_0 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
            self.wi_1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        else:
            self.wi = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        if self.gated:
            hidden = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x)
        else:  # in place: (B, T, d_ff) is the largest activation; relu's backward needs only its output
            hidden = F.relu(self.wi(x), inplace=True)
        hidden = self.dropout(hidden)
        wo_weight = getattr(self.wo, "weight", None)  # None for int8 modules (they take fp32)
        if wo_weight is not None and hidden.dtype != wo_weight.dtype:  # wo kept in fp32 under half precision
            hidden = hidden.to(wo_weight.dtype)
        return self.wo(hidden)
