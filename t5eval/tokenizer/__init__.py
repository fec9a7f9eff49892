"""Tokenizers, one module per vocabulary kind: `t5` (SentencePiece as seqio uses it), `wordpiece` (BERT).

Contract: text <-> ids, the vocabulary's hash, and checks that a vocabulary fits a model. Imports only
`t5eval.errors` and the tokenizer libraries, so every layer above may use it.
"""

from t5eval.tokenizer.t5 import NUM_SENTINELS, T5Tokenizer
from t5eval.tokenizer.wordpiece import WordPieceTokenizer

__all__ = ["NUM_SENTINELS", "T5Tokenizer", "WordPieceTokenizer"]
