"""Tokenizers, one module per vocabulary kind: `t5` (SentencePiece as seqio uses it), `gpt2` (byte-level BPE),
`wordpiece` (BERT); `sentences`: NLTK punkt English sentence splitting (C4 cleaning, GPT-2's first sentences).

Contract: text <-> ids, the vocabulary's hash, and checks that a vocabulary fits a model. Imports only
`t5eval.errors` and the tokenizer libraries, so every layer above may use it.
`find_tokenizer(family, model_dir, vocab)` picks the kind a model family uses and refuses the other kind.
"""

from pathlib import Path

from t5eval.errors import T5evalError
from t5eval.tokenizer.gpt2 import GPT2Tokenizer
from t5eval.tokenizer.t5 import NUM_SENTINELS, T5Tokenizer
from t5eval.tokenizer.wordpiece import WordPieceTokenizer

Tokenizer = T5Tokenizer | GPT2Tokenizer


def find_tokenizer(family: str, model_dir: Path | None, vocab: Path | None) -> Tokenizer:
    """The tokenizer of a model family ("t5" -> SentencePiece, "gpt2" -> byte-level BPE); `--vocab` wins.

    A vocabulary of the other kind (a SentencePiece model for GPT-2, GPT-2's files for T5) is a one-line error.
    """
    if family == "gpt2":
        if vocab is None and model_dir is not None and (Path(model_dir) / "spiece.model").is_file() and not (
                Path(model_dir) / "vocab.json").is_file():
            raise T5evalError(f"{model_dir} is a GPT-2 checkpoint but holds a SentencePiece spiece.model; pass "
                              "--vocab DIR with GPT-2's vocab.json and merges.txt")
        return GPT2Tokenizer.find(model_dir, vocab)
    if vocab is not None and (Path(vocab).name in ("vocab.json", "merges.txt") or (Path(vocab) / "vocab.json").exists()):
        raise T5evalError(f"--vocab {vocab} is a GPT-2 (byte-level BPE) vocabulary but the model is {family}; "
                          "pass its SentencePiece spiece.model")
    return T5Tokenizer.find(model_dir, vocab)


__all__ = ["NUM_SENTINELS", "GPT2Tokenizer", "T5Tokenizer", "Tokenizer", "WordPieceTokenizer", "find_tokenizer"]
