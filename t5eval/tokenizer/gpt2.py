"""GPT-2's byte-level BPE (vocab.json + merges.txt) through the `tokenizers` library, as GPT2TokenizerFast.

No token is added: a prompt is its text's ids, and `<|endoftext|>` (50256) is GPT-2's only special
token (it also ends generation). The sha256 covers both files (vocab.json's bytes, then merges.txt's).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from t5eval.errors import T5evalError

ENDOFTEXT = "<|endoftext|>"
FILES = ("vocab.json", "merges.txt")


class GPT2Tokenizer:
    """Byte-level BPE: 50,256 merges-derived tokens + `<|endoftext|>` (vocab 50,257 for GPT-2's files)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder)
        vocab, merges = (self.path / name for name in FILES)
        for file in (vocab, merges):
            if not file.is_file():
                raise T5evalError(f"{file} not found; a GPT-2 tokenizer needs vocab.json and merges.txt "
                                  f"in one folder (pass it with --vocab DIR)")
        try:
            bpe = models.BPE.from_file(str(vocab), str(merges))
        except Exception as err:  # tokenizers raises plain Exception for unreadable files
            raise T5evalError(f"{self.path}: cannot read vocab.json/merges.txt ({err}); pass GPT-2's files") from err
        self.tok = Tokenizer(bpe)
        self.tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        self.tok.decoder = decoders.ByteLevel()
        self.tok.add_special_tokens([ENDOFTEXT])
        eos = self.tok.token_to_id(ENDOFTEXT)
        if eos is None:  # pragma: no cover - add_special_tokens always assigns an id
            raise T5evalError(f"{vocab}: no id for {ENDOFTEXT}")
        self.eos_id: int = eos
        self.vocab_size = self.tok.get_vocab_size()
        digest = hashlib.sha256()
        for file in (vocab, merges):
            digest.update(file.read_bytes())
        self.sha256 = digest.hexdigest()

    @classmethod
    def find(cls, model_dir: Path | None, vocab: Path | None) -> GPT2Tokenizer:
        """`--vocab` (a folder, or its vocab.json / merges.txt) wins; else the model folder's files."""
        if vocab is not None:
            vocab = Path(vocab)
            if vocab.name.endswith(".model"):
                raise T5evalError(f"--vocab {vocab} is a SentencePiece model but the model is GPT-2; pass the "
                                  "folder holding GPT-2's vocab.json and merges.txt")
            return cls(vocab.parent if vocab.is_file() else vocab)
        if model_dir is not None and (Path(model_dir) / FILES[0]).is_file():
            return cls(model_dir)
        where = f"{model_dir}/vocab.json not found" if model_dir is not None else "no model directory given"
        raise T5evalError(f"no GPT-2 vocabulary: {where}; pass --vocab DIR holding vocab.json and merges.txt")

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """The text's ids (nothing appended); with max_len, the first max_len ids."""
        ids = self.tok.encode(text).ids
        return ids if max_len is None else ids[:max_len]

    def decode(self, ids: list[int]) -> str:
        """Text of ids up to the first `<|endoftext|>` (excluded)."""
        ids = [int(i) for i in ids]
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return self.tok.decode(ids, skip_special_tokens=False)

    def ids_containing(self, text: str) -> list[int]:
        """Every token id whose decoded text contains `text` (stop strings end generation early)."""
        return [i for i in range(self.vocab_size) if text in self.tok.decode([i], skip_special_tokens=False)]

    def check_fits(self, model_vocab_size: int) -> None:
        """Raise if token ids can exceed the model's embedding rows."""
        if self.vocab_size > model_vocab_size:
            raise T5evalError(f"vocabulary {self.path} has {self.vocab_size} ids but the model's vocab_size is "
                              f"{model_vocab_size}; pass the vocabulary the model was trained with (--vocab)")
