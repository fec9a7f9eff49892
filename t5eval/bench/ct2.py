"""CTranslate2 as a third implementation of `t5eval bench` (`--against ctranslate2`, the `[bench]` extra).

The native model is saved with `save_model` (config.json + model.safetensors) into a temp dir, and
CTranslate2's own converter (`ctranslate2.converters.TransformersConverter`, offline on that folder)
turns it into a CTranslate2 model, fp32 or int8 (`compute_type="int8"`, its CPU int8 GEMMs).

Vocabulary: CTranslate2 translates token *strings*. The converter reads them from a tokenizer; we
hand it one that names id i `t{i}` (ids 0/1/2 keep T5's `<pad>`, `</s>`, `<unk>`, which the converter
takes as start/end/unknown tokens), so no spiece.model is needed, every id of any vocabulary size is
one distinct string, and ids go in and come back exactly (no SentencePiece round trip).

Decoding settings (docs/bench.md, "CTranslate2"): `beam_size` = T5's; `max_decoding_length` = N and,
for the forced synthetic measures, `min_decoding_length` = N (EOS impossible before N, as native
`min_decode_len` and transformers' `min_new_tokens`); `max_input_length=0` (no truncation);
`return_end_token=True` (native keeps the EOS). CTranslate2 4.x ranks finished beams by
`score / length ** length_penalty`, not T5's GNMT `((5 + length) / 6) ** alpha`: with every hypothesis
forced to length N both rank alike, so forced beam outputs are comparable; unforced (end-to-end) beam
search uses `length_penalty = alpha` and may differ from T5's ranking (reported as agreement).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from t5eval.errors import T5evalError
from t5eval.model import T5, DecodeConfig, save_model

CT2 = "ctranslate2"
CT2_INT8 = "ctranslate2-int8"
CT2_BF16 = "ctranslate2-bf16"  # compute_type bfloat16, or float32 where this CPU has no bf16 (`bf16_compute_type`)


def _import_ct2() -> Any:
    try:
        import ctranslate2
    except ImportError as err:
        raise T5evalError("--against ctranslate2 needs the ctranslate2 package; pip install 't5eval[bench]'") from err
    return ctranslate2


def token_names(vocab_size: int) -> list[str]:
    """One distinct token string per id: T5's special tokens, then `t{i}`."""
    return ["<pad>", "</s>", "<unk>"] + [f"t{i}" for i in range(3, vocab_size)]


class _IdTokenizer:
    """The few tokenizer calls CTranslate2's T5 converter makes, answered from `token_names`."""

    pad_token, eos_token, unk_token = "<pad>", "</s>", "<unk>"

    def __init__(self, vocab_size: int) -> None:
        self.names = token_names(vocab_size)

    def get_vocab(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def convert_ids_to_tokens(self, index: int) -> str:
        return self.names[index]


def convert(model: T5, out_dir: Path, quantization: str | None) -> dict[str, str]:
    """Convert `model` (via `save_model`) into a CTranslate2 model in `out_dir`; returns provenance."""
    ct2 = _import_ct2()
    vocab_size, rescaled = model.config.vocab_size, model.config.scale_decoder_outputs

    class Converter(ct2.converters.TransformersConverter):  # type: ignore[misc, name-defined]
        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            return _IdTokenizer(vocab_size)

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            # The converter rescales the head by d_model**-0.5 when config.tie_word_embeddings; transformers
            # 5.x loads that flag as True even when config.json says false (it now reads
            # scale_decoder_outputs), so a v1.1 model would be converted with a rescaled head.
            loaded = super().load_model(model_class, model_name_or_path, **kwargs)
            loaded.config.tie_word_embeddings = rescaled
            return loaded

    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, Path(tmp))
        quiet = logging.getLogger("transformers")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # the converter's progress bars
                Converter(tmp).convert(str(out_dir), quantization=quantization, force=True)
        finally:
            quiet.setLevel(level)
    return {"converter": "ctranslate2.converters.TransformersConverter (save_model folder, id-named vocabulary)",
            "ctranslate2": ct2.__version__, "transformers": metadata.version("transformers"),
            "quantization": quantization or "none (float32)"}


@dataclass
class CT2Impl:
    """A CTranslate2 `Translator` over the converted weights; ids in and out as native's."""

    translator: Any
    vocab_size: int
    name: str = CT2
    provenance: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._names = token_names(self.vocab_size)
        self._ids = {name: i for i, name in enumerate(self._names)}

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise T5evalError("CTranslate2's Translator has no encoder-only call (the encoder row times "
                          "encoder + first step instead)")

    def generate(self, ids: torch.Tensor, mask: torch.Tensor, decode: DecodeConfig, force: bool) -> list[list[int]]:
        """Decode (B, S) ids (padding dropped via `mask`) with T5's settings; id lists ending at EOS."""
        lengths = mask.sum(1).tolist()
        source = [[self._names[i] for i in row[:n]] for row, n in zip(ids.tolist(), lengths, strict=True)]
        n = decode.max_decode_len
        results = self.translator.translate_batch(
            source, beam_size=decode.beam_size, length_penalty=decode.alpha, max_decoding_length=n,
            min_decoding_length=n if force else 0, max_input_length=0, return_end_token=True)
        return [[self._ids[t] for t in r.hypotheses[0]] for r in results]

    def train_step(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, lr: float = 1e-3) -> float:
        raise T5evalError("CTranslate2 is an inference engine: it has no training step")


def bf16_compute_type() -> str:
    """CTranslate2's bf16 compute type on this CPU, else its best non-int8 one (float32; float16 and int16
    are a half-precision and an integer type, not bf16's counterpart)."""
    supported = _import_ct2().get_supported_compute_types("cpu")
    return "bfloat16" if "bfloat16" in supported else "float32"


def ct2_impls(model: T5, threads: int, int8: bool, bf16: bool = False) -> list[CT2Impl]:
    """fp32 (and with `int8`, int8; with `bf16`, bf16) CTranslate2 twins of `model`, converted in a temp dir
    (a Translator holds its weights in memory once built). `threads`: CTranslate2's intra-op threads (= torch's)."""
    ct2 = _import_ct2()
    impls = []
    variants: list[tuple[str, str | None, str]] = [(CT2, None, "float32")]
    variants += [(CT2_INT8, "int8", "int8")] if int8 else []
    if bf16:
        compute = bf16_compute_type()
        variants.append((CT2_BF16, "bfloat16" if compute == "bfloat16" else None, compute))
    for name, quantization, compute_type in variants:
        with tempfile.TemporaryDirectory() as tmp:
            provenance = convert(model, Path(tmp), quantization)
            translator = ct2.Translator(tmp, device="cpu", compute_type=compute_type, inter_threads=1,
                                        intra_threads=threads)
        provenance.update(compute_type=compute_type, intra_threads=str(threads))
        impls.append(CT2Impl(translator, model.config.vocab_size, name, provenance))
    return impls
