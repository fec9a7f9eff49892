"""BERT's WordPiece vocabulary (`vocab.txt`) through the `tokenizers` library, as BertTokenizerFast builds it.

Normalisation follows the checkpoint: `do_lower_case` and `strip_accents` from tokenizer_config.json,
else config.json, else transformers' defaults (lower-case; accents stripped when lower-casing). Pairs
become `[CLS] a [SEP] b [SEP]` with token types 0…0 1…1; over-long inputs are cut longest-first.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tokenizers import Encoding
from tokenizers.implementations import BertWordPieceTokenizer

from t5eval.errors import T5evalError
from t5eval.tokenizer.pairs import Encoded

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BERT_UNCASED = Path("vocab") / "bert-base-uncased" / "vocab.txt"  # under the shared folder (see its README)


def default_vocab() -> Path:
    """BERT's uncased vocabulary (30,522 entries) for a preset without `--vocab`: `$T5EVAL_SHARED/vocab/
    bert-base-uncased/vocab.txt`, else the `shared/` folder beside the repository."""
    shared = os.environ.get("T5EVAL_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[2].parent / "shared"
    return root / BERT_UNCASED


def _json_or_empty(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def casing_of(model_dir: Path | None) -> tuple[bool, bool | None]:
    """(do_lower_case, strip_accents) as the checkpoint declares them (transformers' defaults otherwise)."""
    sources = [_json_or_empty(model_dir / n) for n in ("tokenizer_config.json", "config.json")] if model_dir else []
    lower = next((bool(s["do_lower_case"]) for s in sources if s.get("do_lower_case") is not None), True)
    accents = next((bool(s["strip_accents"]) for s in sources if s.get("strip_accents") is not None), None)
    return lower, accents


class WordPieceTokenizer:
    """vocab.txt -> ids with BERT's normaliser, pre-tokeniser, WordPiece model and [CLS]/[SEP] template."""

    def __init__(self, path: str | Path, lowercase: bool = True, strip_accents: bool | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise T5evalError(f"WordPiece vocabulary {self.path} not found; pass --vocab PATH/vocab.txt")
        tokens = self.path.read_text(encoding="utf-8").splitlines()
        absent = [s for s in SPECIALS[:4] if s not in tokens]
        if absent:
            raise T5evalError(f"{self.path}: not a BERT vocab.txt (no {', '.join(absent)}); pass the checkpoint's "
                              "vocab.txt")
        self.lowercase, self.strip_accents = lowercase, strip_accents
        self.tok = BertWordPieceTokenizer(str(self.path), lowercase=lowercase, strip_accents=strip_accents,
                                          clean_text=True, handle_chinese_chars=True)
        self.vocab_size = self.tok.get_vocab_size()
        self.pad_id = tokens.index("[PAD]")
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()

    @classmethod
    def find(cls, model_dir: Path | None, vocab: Path | None) -> WordPieceTokenizer:
        """`--vocab` wins, else `model_dir/vocab.txt`, else (a preset) `default_vocab()`; casing from the model
        folder's configs."""
        lower, accents = casing_of(model_dir)
        if vocab is not None:
            return cls(vocab, lower, accents)
        if model_dir is not None and (model_dir / "vocab.txt").is_file():
            return cls(model_dir / "vocab.txt", lower, accents)
        if model_dir is None:  # a preset: BERT's own uncased vocabulary from the shared folder
            default = default_vocab()
            if default.is_file():
                return cls(default, lower, accents)
            raise T5evalError(f"no WordPiece vocabulary: the default {default} (BERT's uncased vocab.txt) is not "
                              "there; pass --vocab PATH/vocab.txt or set T5EVAL_SHARED to the folder holding "
                              f"{BERT_UNCASED}")
        raise T5evalError(f"no WordPiece vocabulary: {model_dir}/vocab.txt not found; pass --vocab PATH/vocab.txt")

    def settings(self) -> dict[str, Any]:
        """What run.json records about the vocabulary."""
        return {"path": str(self.path), "sha256": self.sha256, "kind": "wordpiece", "size": self.vocab_size,
                "lowercase": self.lowercase, "strip_accents": self.strip_accents}

    def encode(self, text: str, pair: str | None = None, max_len: int | None = None) -> Encoded:
        """`[CLS] text [SEP] (pair [SEP])`, cut longest-first to max_len tokens when given."""
        return self.encode_batch([(text, pair)], max_len)[0]

    def encode_batch(self, rows: list[tuple[str, str | None]], max_len: int | None = None) -> list[Encoded]:
        """Encode many (text, pair-or-None) rows at once (the library's parallel batch path)."""
        if max_len is not None:
            self.tok.enable_truncation(max_len, strategy="longest_first")
        else:
            self.tok.no_truncation()
        inputs: list[Any] = [a if b is None else (a, b) for a, b in rows]
        out: list[Encoding] = self.tok.encode_batch(inputs)
        return [Encoded(list(e.ids), list(e.type_ids)) for e in out]

    def pieces(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """WordPiece ids of `text` without specials, and each piece's character span in `text` (span heads)."""
        self.tok.no_truncation()
        enc = self.tok.encode(text, add_special_tokens=False)
        return list(enc.ids), [(int(a), int(b)) for a, b in enc.offsets]

    def special_id(self, token: str) -> int:
        """The id of a special token ([CLS], [SEP], ...)."""
        found = self.tok.token_to_id(token)
        if found is None:
            raise T5evalError(f"{self.path}: no {token} in the vocabulary")
        return int(found)

    def check_fits(self, embedding_rows: int) -> None:
        """Raise unless the vocabulary has exactly as many entries as the model has embedding rows."""
        if self.vocab_size != embedding_rows:
            raise T5evalError(f"vocabulary {self.path} has {self.vocab_size} entries but the model has "
                              f"{embedding_rows} embedding rows (vocab_size); pass the vocab.txt the model was "
                              "trained with (--vocab)")
