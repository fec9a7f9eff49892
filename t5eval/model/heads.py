"""Task heads over an encoder's pooled vector (BERT's fine-tuning: pooled [CLS] -> dropout -> linear).

`HeadModel` wraps any body whose forward returns (hidden (N,S,D), pooled (N,D)); `pad_rows` builds the
padded id, mask and token-type tensors. Which task uses which head is declared in task_defs/heads.yaml
(`t5eval.tasks.head_specs`); training is `t5eval.train.head_step` (through `train.loop.finetune`), scoring `t5eval.eval.head_predictor`.
"""

from __future__ import annotations

import torch
from torch import nn

from t5eval.errors import T5evalError
from t5eval.model.bert.init import truncated_normal_
from t5eval.model.t5.network import T5


class HeadModel(nn.Module):
    """body -> pooled (N, D) -> dropout -> linear (N, num_outputs)."""

    def __init__(self, body: nn.Module, hidden_size: int, num_outputs: int, dropout: float, seed: int,
                 initializer_range: float = 0.02, pooled: bool = True) -> None:
        super().__init__()
        if pooled and not getattr(body, "has_pooler", True):
            raise T5evalError("this BERT checkpoint has no pooler (a BertForQuestionAnswering), and a classification "
                              "head reads the pooled [CLS]; use a BertModel or BertForSequenceClassification checkpoint")
        self.body = body
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_outputs)
        gen = torch.Generator().manual_seed(seed)
        truncated_normal_(self.out.weight, initializer_range, gen)  # BERT's classifier init (run_classifier.py):
        with torch.no_grad():  # truncated normal, stddev initializer_range, cut at 2 stddev; zero bias
            self.out.bias.zero_()

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """ids, mask, types (N, S) -> outputs (N, num_outputs)."""
        _, pooled = self.body(ids, mask, types)
        return self.out(self.dropout(pooled))


class SpanHeadModel(HeadModel):
    """BERT's SQuAD head (run_squad.py): every position's hidden state -> linear -> (start, end) logits
    (N, S, 2); no dropout before it. Init as the classifier (truncated normal, zero bias), or a
    checkpoint's `qa_outputs` (`load_qa_outputs`)."""

    def __init__(self, body: nn.Module, hidden_size: int, seed: int, initializer_range: float = 0.02) -> None:
        super().__init__(body, hidden_size, 2, 0.0, seed, initializer_range, pooled=False)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """ids, mask, types (N, S) -> start/end logits (N, S, 2)."""
        hidden, _ = self.body(ids, mask, types)
        return self.out(hidden)

    def load_qa_outputs(self, weights: dict[str, torch.Tensor]) -> None:
        """A BertForQuestionAnswering checkpoint's `qa_outputs.weight` (2, D) and `.bias` (2,)."""
        with torch.no_grad():
            self.out.weight.copy_(weights["weight"])
            self.out.bias.copy_(weights["bias"])


class T5EncoderBody(nn.Module):
    """T5's encoder stack as a task-head body (`--head classify`): hidden (N,S,D) after the final norm, and
    pooled = the mean over real (non-pad) positions (N,D); T5 has no [CLS] token nor a pooler. Token types
    are ignored (T5 has no segment embeddings). The decoder is left out."""

    def __init__(self, t5: T5) -> None:
        super().__init__()
        self.embeddings = t5.shared
        self.relative_bias = t5.encoder_bias
        self.layers = t5.encoder_layers
        self.norm = t5.encoder_norm
        self.dropout = nn.Dropout(t5.config.dropout_rate)
        self.config = t5.config

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.dropout(self.embeddings(ids))  # (N, S, D)
        bias = self.relative_bias(ids.shape[1], ids.shape[1]) + (
            (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min)  # (N, H, S, S)
        for layer in self.layers:
            x = layer(x, bias)
        x = self.dropout(self.norm(x))
        keep = mask[..., None].to(x.dtype)  # (N, S, 1)
        return x, (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)


def pad_rows(ids: list[list[int]], types: list[list[int]], pad_id: int,
             device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad rows -> ids (N, S), mask (N, S), token types (N, S)."""
    width = max(len(r) for r in ids)
    pad = [width - len(r) for r in ids]
    tensors = (
        [r + [pad_id] * p for r, p in zip(ids, pad, strict=True)],
        [[1] * len(r) + [0] * p for r, p in zip(ids, pad, strict=True)],
        [t + [0] * p for t, p in zip(types, pad, strict=True)],
    )
    out = tuple(torch.tensor(t, device=device) for t in tensors)
    return out[0], out[1], out[2]
