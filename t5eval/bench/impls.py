"""The two implementations `t5eval bench` compares, behind one small interface.

`NativeImpl` drives t5eval's own T5 (`t5eval.model`); `HFImpl` drives transformers'
`T5ForConditionalGeneration` loaded from the very same weights (saved with `save_model`, which
writes Hugging Face key names). transformers is imported here only: it is the benchmark's
baseline, never a dependency of the model package.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from t5eval.model import T5, DecodeConfig, generate, save_model
from t5eval.model.kernels import LinearKernels

FINETUNE_LR = 1e-3  # T5's constant fine-tuning rate (PITFALLS #9)
PRETRAIN_LR = 1e-2  # the inverse square root schedule's value for the first 10^4 pre-training steps
INT8 = "native-int8"  # the name of the native model's int8-quantized copy (`t5eval bench --int8`)
BF16 = "native-bf16"  # the native model cast to bfloat16 (`t5eval bench --dtype bfloat16`)


class Impl(Protocol):
    """What a benchmarked implementation offers. Ids are (B, S) int64; masks (B, S) with 1 = token."""

    name: str

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...

    def generate(self, ids: torch.Tensor, mask: torch.Tensor, decode: DecodeConfig, force: bool) -> list[list[int]]: ...

    def train_step(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                   lr: float = FINETUNE_LR) -> float: ...



def _adafactor(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """T5's optimizer as torch ships it (PITFALLS #9: no momentum); the same class and settings on both sides."""
    return torch.optim.Adafactor(model.parameters(), lr=lr)


def _step_on_copy(impl: Any, loss_of: Callable[[Any], torch.Tensor], lr: float) -> float:
    """One Adafactor step on `impl`'s training copy (made on first use: the measures after training
    need the shared weights intact), one optimizer per learning rate (fine-tuning, pre-training);
    `loss_of(model)` is the side's own forward pass."""
    if impl._train is None:
        impl._train = copy.deepcopy(impl.model).train()
    if lr not in impl._opts:
        impl._opts[lr] = _adafactor(impl._train, lr)
    loss = loss_of(impl._train)
    loss.backward()
    impl._opts[lr].step()
    impl._opts[lr].zero_grad(set_to_none=True)
    return float(loss.detach())


@dataclass
class NativeImpl:
    """t5eval's model. `force` decodes exactly `max_decode_len` tokens (`min_decode_len` = max)."""

    model: T5
    name: str = "native"
    kernels: LinearKernels | None = None  # the fp32 linear kernels chosen for this CPU (None: torch's MKL)
    _opts: dict[float, torch.optim.Optimizer] = dataclasses.field(default_factory=dict)
    _train: Any = None

    def _inference(self) -> contextlib.AbstractContextManager[Any]:
        return self.kernels if self.kernels is not None else contextlib.nullcontext()

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), self._inference():
            return self.model.encode(ids, mask)  # (B, S, D)

    def generate(self, ids: torch.Tensor, mask: torch.Tensor, decode: DecodeConfig, force: bool) -> list[list[int]]:
        if force:  # EOS impossible before N, as transformers' min_new_tokens (native: min_decode_len)
            decode = dataclasses.replace(decode, min_decode_len=decode.max_decode_len)
        with torch.inference_mode(), self._inference():
            return generate(self.model, ids, mask, decode)

    def train_step(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                   lr: float = FINETUNE_LR) -> float:
        return _step_on_copy(self, lambda model: model.loss(ids, mask, labels), lr)


@dataclass
class HFImpl:
    """transformers' T5 on the same weights; `force` sets min_new_tokens = max_new_tokens."""

    model: Any
    name: str = "transformers"
    _opts: dict[float, torch.optim.Optimizer] = dataclasses.field(default_factory=dict)
    _train: Any = None

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, S, D)

    def generate(self, ids: torch.Tensor, mask: torch.Tensor, decode: DecodeConfig, force: bool) -> list[list[int]]:
        n = decode.max_decode_len
        kwargs: dict[str, Any] = {
            "max_new_tokens": n,
            "min_new_tokens": n if force else 0,
            "do_sample": False,
            "num_beams": decode.beam_size,
        }
        if decode.beam_size > 1:
            # Not T5's GNMT penalty (PITFALLS #5); ranking coincides only when lengths are forced.
            kwargs.update(length_penalty=1.0, early_stopping=False)
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)  # (B, 1 + T)
        return [_strip(row.tolist(), self.model.config.eos_token_id) for row in out[:, 1:]]

    def train_step(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                   lr: float = FINETUNE_LR) -> float:
        return _step_on_copy(self, lambda model: model(input_ids=ids, attention_mask=mask, labels=labels).loss, lr)


def _strip(ids: list[int], eos: int) -> list[int]:
    """transformers pads finished rows with pad (0) after EOS; keep ids up to and including EOS."""
    if eos in ids:
        return ids[: ids.index(eos) + 1]
    return ids


def hf_twin(model: T5, device: str) -> Any:
    """Load transformers' T5ForConditionalGeneration from `model`'s weights (via `save_model`).

    Both are in eval mode (no dropout) except inside `train_step`, where each uses the config's
    dropout_rate, as fine-tuning does; training losses are therefore not compared.
    """
    from transformers import T5ForConditionalGeneration

    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, Path(tmp))
        reference_cls: Any = T5ForConditionalGeneration  # transformers' decorator types reject a path
        hf = reference_cls.from_pretrained(tmp)
    return hf.to(device).eval()
