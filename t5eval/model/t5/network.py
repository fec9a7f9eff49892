"""The native T5 encoder-decoder (Raffel et al.): pre-norm blocks, shared relative bias, tied or untied head."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from t5eval.model.adapters import add_adapters, after_feed_forward, inside_feed_forward
from t5eval.model.kernels import active_kernel, blocked_linear
from t5eval.model.layers import Attention, FeedForward, RelativeBias, RMSNorm
from t5eval.model.segments import PerExample, length_groups, slots, spans
from t5eval.model.t5.config import T5Config


def padding_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, S) 1/0 mask -> additive (B, 1, 1, S) bias: 0 where kept, dtype's min where padded (as HF)."""
    mask = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - mask) * torch.finfo(dtype).min


def causal_bias(length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(T, T) additive bias that hides future positions from the decoder."""
    future = torch.ones(length, length, dtype=torch.bool, device=device).triu(1)
    return torch.zeros(length, length, dtype=dtype, device=device).masked_fill(future, torch.finfo(dtype).min)


def feed_forward(layer: EncoderLayer | DecoderLayer, x: torch.Tensor) -> torch.Tensor:
    """A block's feed-forward sublayer before its dropout and residual: ff(ff_norm(x)), then a Houlsby adapter
    when the block has one (the official adapter is a sublayer of its own: `after_feed_forward`)."""
    return inside_feed_forward(layer.adapter, layer.ff(layer.ff_norm(x)))  # (..., D)


class EncoderLayer(nn.Module):
    """Pre-norm self-attention + feed-forward, each with dropout before the residual add."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ff_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.ff = FeedForward(cfg)
        self.adapter: nn.Module | None = None  # the T5 paper's adapter layer (cfg.adapter_dim, --transfer adapters:D)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | PerExample) -> torch.Tensor:  # (B, S, D)
        h = self.attn_norm(x)
        x = x + self.dropout(self.attn(h, h, bias))
        return after_feed_forward(self.adapter, x + self.dropout(feed_forward(self, x)))


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
        self.adapter: nn.Module | None = None  # the T5 paper's adapter layer (cfg.adapter_dim, --transfer adapters:D)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x: torch.Tensor, self_bias: torch.Tensor | PerExample, memory: torch.Tensor,
                cross_bias: torch.Tensor | PerExample) -> torch.Tensor:  # (B, T, D)
        h = self.self_norm(x)
        x = x + self.dropout(self.self_attn(h, h, self_bias))
        x = x + self.dropout(self.cross_attn(self.cross_norm(x), memory, cross_bias))
        return after_feed_forward(self.adapter, x + self.dropout(feed_forward(self, x)))


@dataclass
class DecodeCache:
    """Decoder state for incremental decoding of N = B * group rows (group = beams per input row, adjacent).

    self_kv: (L, 2, N, H, T_max, Dk) keys/values of every layer, preallocated (uninitialised), filled one step
    at a time; step t reads steps <= t only.
    cross_kv: (L, 2, B, H, S, Dk) cross-attention keys/values, projected once (one matmul for all
    layers) and shared by the `group` beams of a row, which attend as that row's query positions; a strided
    view of the projection's (B, S, L, 2, H, Dk) output (no copy: SDPA reads it in place, to the same bits),
    never reordered with the beams.
    cross_bias: (B, 1, 1, S) padding bias. self_bias: (1, H, T_max, T_max) relative bias of all steps,
    computed once (rows are query steps; no causal mask needed as only keys <= t are read).
    qkv: per layer, x (N, D) -> (N, 3*H*Dk): the stacked self-attention projections (one matmul per step).
    """

    self_kv: torch.Tensor
    cross_kv: torch.Tensor
    cross_bias: torch.Tensor
    self_bias: torch.Tensor
    qkv: list[Callable[[torch.Tensor], torch.Tensor]]
    group: int = 1

    def reorder(self, index: torch.Tensor, filled: int) -> None:
        """Beam reordering in place: decoding row n takes row index[n]'s first `filled` steps (N,).

        Only rows whose source changed are copied, and only their filled prefix.
        """
        moved = (index != torch.arange(index.shape[0], device=index.device)).nonzero().squeeze(1)
        if moved.numel():
            prefix = self.self_kv[:, :, :, :, :filled]  # (L, 2, N, H, filled, Dk)
            prefix[:, :, moved] = prefix.index_select(2, index[moved])

    def widen(self, group: int, filled: int) -> None:
        """Give each of the N rows `group` identical beams (N*group rows, adjacent) holding its first `filled`
        steps: beam search runs its first steps once per input row, where all beams of a row are equal."""
        layers, _, rows, heads, max_len, d_kv = self.self_kv.shape
        wide = self.self_kv.new_empty(layers, 2, rows * group, heads, max_len, d_kv)  # steps >= filled: unread
        wide[:, :, :, :, :filled] = self.self_kv[:, :, :, :, :filled].repeat_interleave(group, dim=2)
        self.self_kv, self.group = wide, self.group * group

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Drop finished input rows: keep `rows` (B',) with all their beams, so they cost no more compute."""
        beams = (rows[:, None] * self.group + torch.arange(self.group, device=rows.device)).view(-1)  # (B'*G,)
        self.self_kv = self.self_kv.index_select(2, beams)
        self.cross_kv = self.cross_kv.index_select(2, rows)
        self.cross_bias = self.cross_bias.index_select(0, rows)


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
        if cfg.shared_encoder_decoder:
            self._share_stacks()
        if cfg.adapter_dim:  # a checkpoint fine-tuned with --transfer adapters:D (weights loaded after)
            add_adapters([*self.encoder_layers, *self.decoder_layers], cfg.d_model, cfg.adapter_dim, seed=0,
                         form=cfg.adapter_form)
        self.packed_cross_kv: nn.Module | None = None  # set by `quantize_int8`: all layers' cross K/V, int8

    def _share_stacks(self) -> None:
        """Table 2's shared encoder-decoder, as Mesh TF builds it (bi_v1_shared.gin: the encoder is named
        "decoder", so every variable of the same name is one variable): encoder block i takes decoder block i's
        self-attention, feed-forward and both their norms; the final norm and the relative-bias table are
        shared too (the encoder still buckets positions bidirectionally). Cross-attention stays the decoder's."""
        for enc, dec in zip(self.encoder_layers, self.decoder_layers, strict=True):
            assert isinstance(enc, EncoderLayer) and isinstance(dec, DecoderLayer)
            enc.attn_norm, enc.attn, enc.ff_norm, enc.ff = dec.self_norm, dec.self_attn, dec.ff_norm, dec.ff
        self.encoder_norm = self.decoder_norm
        self.encoder_bias.embedding = self.decoder_bias.embedding

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               segments: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S) ids and mask -> encoder output (B, S, D) after the final norm.

        `segments` (B, S): packed rows (several examples per row, `t5eval.batching.pack_rows`); tokens
        attend only within their own example, at the relative positions it has alone, and attention runs
        per example (`t5eval.model.segments`), so its cost does not grow with the row width squared.
        """
        x = self.dropout(self.shared(input_ids))
        bias: torch.Tensor | PerExample
        if segments is None:
            rel = self.encoder_bias(input_ids.shape[1], input_ids.shape[1])  # (1, H, S, S)
            bias = rel + padding_bias(attention_mask, x.dtype)
        else:
            examples = spans(segments)
            layout = slots(examples, length_groups(examples.lengths))
            bias = PerExample(layout, layout, [self.encoder_bias(w, w) + padding_bias(valid, x.dtype)
                                               for w, valid in zip(layout.widths, layout.valid, strict=True)])
        for layer in self.encoder_layers:
            x = layer(x, bias)
        return self.dropout(self.encoder_norm(x))

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final decoder states (..., D) -> logits (..., V)."""
        return self.lm_head(self._head_input(hidden))

    def _head_input(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final norm (and dropout); v1.0 rescales by d_model**-0.5 before its tied head."""
        hidden = self.dropout(self.decoder_norm(hidden))
        if self.config.scale_decoder_outputs:
            hidden = hidden * (self.config.d_model ** -0.5)
        return hidden

    def step_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """`head` for a decoding step (N, D) -> (N, V). On CPU the fp LM head runs in blocks of
        LM_HEAD_BLOCK vocabulary rows: one MKL call of (N, D) x (D, V) for decoding-size N runs
        well below the blocked speed here (docs/bench.md); each logit is the same dot product, bit for bit."""
        if hidden.device.type != "cpu" or not isinstance(self.lm_head, nn.Linear):
            return self.head(hidden)
        hidden = self._head_input(hidden)
        if active_kernel("head") == "onednn":  # chosen for this CPU (`t5eval.model.kernels`): one call
            return F.linear(hidden, self.lm_head.weight)
        return blocked_linear(hidden, self.lm_head.weight)

    def decode(self, decoder_input_ids: torch.Tensor, memory: torch.Tensor, attention_mask: torch.Tensor,
               segments: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Teacher-forced decoder: (B, T) ids over memory (B, S, D) -> logits (B, T, V).

        `segments` = (input segments (B, S), target segments (B, T)) of packed rows: causal
        self-attention within each target segment, cross-attention to the same example's inputs only.
        """
        x = self.dropout(self.shared(decoder_input_ids))
        self_bias: torch.Tensor | PerExample
        cross_bias: torch.Tensor | PerExample
        if segments is None:
            length = decoder_input_ids.shape[1]
            self_bias = self.decoder_bias(length, length) + causal_bias(length, x.dtype, x.device)  # (1, H, T, T)
            cross_bias = padding_bias(attention_mask, x.dtype)
        else:
            self_bias, cross_bias = self._packed_decoder_biases(segments, x.dtype)
        for layer in self.decoder_layers:
            x = layer(x, self_bias, memory, cross_bias)
        return self.head(x)

    def _packed_decoder_biases(self, segments: tuple[torch.Tensor, torch.Tensor],
                               dtype: torch.dtype) -> tuple[PerExample, PerExample]:
        """Per-example self- and cross-attention layouts of packed rows (input, target segments)."""
        inputs, targets = spans(segments[0]), spans(segments[1])
        if not torch.equal(inputs.keys, targets.keys):
            raise ValueError("packed rows: every example needs at least one input and one target token")
        groups = length_groups(inputs.lengths)
        source, target = slots(inputs, groups), slots(targets, groups)
        self_biases = [self.decoder_bias(w, w) + causal_bias(w, dtype, valid.device) + padding_bias(valid, dtype)
                       for w, valid in zip(target.widths, target.valid, strict=True)]
        cross_biases = [padding_bias(valid, dtype) for valid in source.valid]
        return PerExample(target, target, self_biases), PerExample(target, source, cross_biases)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                decoder_input_ids: torch.Tensor) -> torch.Tensor:
        """(B,S), (B,S), (B,T) -> logits (B, T, V)."""
        return self.decode(decoder_input_ids, self.encode(input_ids, attention_mask), attention_mask)

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
             packing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
             reduction: str = "mean") -> torch.Tensor:
        """Token cross-entropy, "mean" over target tokens or their "sum"; labels (B, T) with -100 ignored.

        Decoder inputs are the labels shifted right from the start token (0). `packing` = (input segments
        (B, S), target segments (B, T), target positions (B, T)) of packed rows: each example restarts
        at its position 0 with the start token, and attends within itself only (`encode`, `decode`).
        """
        logits = self._teacher_forced(input_ids, attention_mask, labels, packing)  # (B, T, V)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                               reduction=reduction)

    def token_losses(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                     packing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Per-token cross-entropy (B, T), 0 where labels are -100 (as `loss`, unreduced)."""
        logits = self._teacher_forced(input_ids, attention_mask, labels, packing)  # (B, T, V)
        flat = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                               reduction="none")
        return flat.view(labels.shape)

    def _teacher_forced(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                        packing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Logits (B, T, V) of the labels shifted right (per example when packed)."""
        start = torch.full_like(labels[:, :1], self.config.decoder_start_token_id)
        shifted = torch.cat([start, labels[:, :-1]], dim=1)
        if packing is not None:  # every example's first target position reads the start token
            shifted = shifted.masked_fill(packing[2] == 0, self.config.decoder_start_token_id)
        shifted = shifted.masked_fill(shifted == -100, self.config.pad_token_id)
        if packing is None:
            return self(input_ids, attention_mask, shifted)
        memory = self.encode(input_ids, attention_mask, packing[0])
        return self.decode(shifted, memory, attention_mask, (packing[0], packing[1]))

    def _decoder(self) -> list[DecoderLayer]:
        return [layer for layer in self.decoder_layers if isinstance(layer, DecoderLayer)]

    def start_cache(self, memory: torch.Tensor, attention_mask: torch.Tensor, max_len: int) -> DecodeCache:
        """Project cross-attention K/V of all layers in one matmul; preallocate the self-attention cache.

        memory (B, S, D) and attention_mask (B, S) are per input row, one decoding row each; beam search
        gives each row its beams after step 0 (`DecodeCache.widen`), which then share the row's cross K/V.
        """
        cfg, layers = self.config, self._decoder()
        rows, src_len, _ = memory.shape
        cross = self.cross_kv_projector()(memory).view(rows, src_len, len(layers), 2, cfg.num_heads, cfg.d_kv)
        return DecodeCache(
            self_kv=memory.new_empty(len(layers), 2, rows, cfg.num_heads, max_len, cfg.d_kv),  # step t writes t
            cross_kv=cross.permute(2, 3, 0, 4, 1, 5),  # (L, 2, B, H, S, Dk): a view, read in place by SDPA
            cross_bias=padding_bias(attention_mask, memory.dtype),
            self_bias=self.decoder_bias(max_len, max_len).contiguous(),
            qkv=[lay.self_attn.qkv_projector() for lay in layers],
        )

    def cross_kv_weight(self) -> torch.Tensor:
        """(L*2*H*Dk, D): every decoder layer's cross-attention K then V, stacked for one matmul."""
        return torch.cat([torch.cat([lay.cross_attn.k.weight, lay.cross_attn.v.weight]) for lay in self._decoder()])

    def cross_kv_projector(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """memory (B, S, D) -> (B, S, L*2*H*Dk) in one matmul (stacked fp weights or the int8 module)."""
        if self.packed_cross_kv is not None:
            return self.packed_cross_kv
        return functools.partial(F.linear, weight=self.cross_kv_weight())

    def step(self, tokens: torch.Tensor, t: int, cache: DecodeCache) -> torch.Tensor:
        """One decoder step: tokens (N,) at position t -> logits (N, V); writes K/V of step t into the cache."""
        n, heads, d_kv = tokens.shape[0], self.config.num_heads, self.config.d_kv
        x = self.shared(tokens)  # (N, D)
        self_bias = cache.self_bias[:, :, t:t + 1, :t + 1]  # (1, H, 1, t+1)
        for i, layer in enumerate(self._decoder()):
            qkv = cache.qkv[i](layer.self_norm(x)).view(n, 3, heads, d_kv)  # (N, 3, H, Dk)
            cache.self_kv[i, :, :, :, t] = qkv[:, 1:].transpose(0, 1)
            keys, values = cache.self_kv[i, 0, :, :, :t + 1], cache.self_kv[i, 1, :, :, :t + 1]  # (N, H, t+1, Dk)
            x = x + layer.self_attn.attend(qkv[:, 0, :, None], keys, values, self_bias)[:, 0]
            x = x + self._cross_step(layer.cross_attn, layer.cross_norm(x), cache, i)
            x = after_feed_forward(layer.adapter, x + feed_forward(layer, x))
        return self.step_logits(x)

    @staticmethod
    def _cross_step(cross: Attention, h: torch.Tensor, cache: DecodeCache, i: int) -> torch.Tensor:
        """Cross-attention of h (N, D); the `group` beams of a row act as that row's query positions."""
        rows = cache.cross_kv.shape[2]
        q = cross.q(h).view(rows, cache.group, cross.heads, cross.d_kv).transpose(1, 2)  # (B, H, G, Dk)
        out = cross.attend(q, cache.cross_kv[i, 0], cache.cross_kv[i, 1], cache.cross_bias)  # (B, G, D)
        return out.reshape(rows * cache.group, -1)
