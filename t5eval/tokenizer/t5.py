"""T5's SentencePiece vocabulary as seqio uses it (T5_TASKS.md §0): EOS appended, 100 sentinels."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import sentencepiece as spm

from t5eval.errors import T5evalError
from t5eval.tokenizer.pairs import Encoded, longest_first

PAD_ID, EOS_ID, UNK_ID = 0, 1, 2
NUM_SENTINELS = 100
VOCAB_ENV = "T5EVAL_VOCAB"  # the vocabulary used when neither --vocab nor the model folder gives one


@functools.lru_cache(maxsize=8)
def _load(path: str, size: int, mtime_ns: int) -> tuple[spm.SentencePieceProcessor, str]:
    """The SentencePiece processor and sha256 of a vocabulary file, read once per process while the file is
    unchanged (size and mtime are the key): a study's cells, each a command in one process, load it once."""
    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(path)
    except (OSError, RuntimeError) as err:
        raise T5evalError(f"{path}: not a SentencePiece model ({err}); pass a spiece.model file") from err
    return sp, hashlib.sha256(Path(path).read_bytes()).hexdigest()


class T5Tokenizer:
    """SentencePiece pieces 0..31999 plus `<extra_id_0..99>` numbered down from 32099 (vocab 32100)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise T5evalError(f"vocabulary {self.path} not found; pass --vocab PATH/spiece.model")
        stat = self.path.stat()
        self.sp, self.sha256 = _load(str(self.path.resolve()), stat.st_size, stat.st_mtime_ns)
        self.base_size = self.sp.GetPieceSize()
        self.vocab_size = self.base_size + NUM_SENTINELS

    @classmethod
    def find(cls, model_dir: Path | None, vocab: Path | None) -> T5Tokenizer:
        """`--vocab` wins; else `model_dir/spiece.model` (the model's own, as checkpoints written by
        `t5eval run` carry it); else `$T5EVAL_VOCAB`; else a one-line error asking for --vocab."""
        if vocab is not None:
            return cls(vocab)
        if model_dir is not None and (Path(model_dir) / "spiece.model").is_file():
            return cls(Path(model_dir) / "spiece.model")
        if os.environ.get(VOCAB_ENV):
            return cls(os.environ[VOCAB_ENV])
        where = f"{model_dir}/spiece.model not found" if model_dir is not None else "no model directory given"
        raise T5evalError(f"no vocabulary: {where}; pass --vocab PATH/spiece.model (or set {VOCAB_ENV})")

    def sentinel(self, n: int) -> int:
        """Id of `<extra_id_n>`: 32099 for n=0, counting down."""
        return self.vocab_size - 1 - n

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Pieces of `text` + EOS; with max_len, seqio's append_eos_after_trim (cut to max_len-1, add EOS)."""
        ids = list(self.sp.EncodeAsIds(text))
        if max_len is not None:
            ids = ids[: max_len - 1]
        return [*ids, EOS_ID]

    pad_id = PAD_ID

    def encode_batch(self, rows: list[tuple[str, str | None]], max_len: int | None = None) -> list[Encoded]:
        """Task-head inputs for T5's encoder: `A </s>` or `A </s> B </s>` (no [CLS]/[SEP] in T5's vocabulary),
        cut longest-first to max_len tokens; token types all 0 (T5 has no segment embeddings)."""
        out = []
        for first, second in rows:
            a, b = list(self.sp.EncodeAsIds(first)), list(self.sp.EncodeAsIds(second)) if second is not None else []
            if max_len is not None:
                a, b = longest_first(a, b, max_len - (1 if second is None else 2))
            ids = [*a, EOS_ID] + ([*b, EOS_ID] if second is not None else [])
            out.append(Encoded(ids, [0] * len(ids)))
        return out

    def settings(self) -> dict[str, Any]:
        """What run.json records about the vocabulary."""
        return {"path": str(self.path), "sha256": self.sha256, "kind": "sentencepiece", "size": self.vocab_size}

    def decode(self, ids: list[int]) -> str:
        """As seqio: ids >= piece count -> unk, cut at the first EOS, drop pad, SentencePiece-decode."""
        clean = [UNK_ID if i >= self.base_size else int(i) for i in ids]
        if EOS_ID in clean:
            clean = clean[: clean.index(EOS_ID)]
        return self.sp.DecodeIds([i for i in clean if i != PAD_ID])

    def check_fits(self, model_vocab_size: int) -> None:
        """Raise if token ids can exceed the model's embedding rows (e.g. vocab 32100 > vocab_size)."""
        if self.vocab_size > model_vocab_size:
            raise T5evalError(f"vocabulary {self.path} has {self.vocab_size} ids but the model's vocab_size is "
                              f"{model_vocab_size}; pass the vocabulary the model was trained with (--vocab)")
