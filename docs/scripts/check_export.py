"""Check a span-corruption `--export` file against the issue's facts (docs/pretrain.md).

Usage: PYTHONPATH=. python docs/scripts/check_export.py CORPUS VOCAB EXPORT.jsonl INPUTS_LENGTH [SEED]

For every exported example from a full chunk: inputs are INPUTS_LENGTH ids and targets the helper's
length, both ending in EOS; the sentinels are 32099, 32098, … in order in both; the first input id
is not a sentinel; putting each target span back at its sentinel gives the chunk's original tokens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from t5eval.pretrain.corpus import load_chunks
from t5eval.pretrain.noise import random_spans_helper
from t5eval.tokenizer import T5Tokenizer

SENTINEL_MIN = 32000


def reassemble(inputs: list[int], targets: list[int]) -> list[int]:
    spans: dict[int, list[int]] = {}
    for tok in targets[:-1]:
        if tok >= SENTINEL_MIN:
            current = tok
            spans[current] = []
        else:
            spans[current].append(tok)
    return [t for tok in inputs[:-1] for t in (spans[tok] if tok >= SENTINEL_MIN else [tok])]


def main(corpus: str, vocab: str, export: str, inputs_length: int, seed: int = 0) -> None:
    chunk_len, targets_len = random_spans_helper(inputs_length, 0.15, 3.0, 1, 1)
    chunks, info = load_chunks(corpus, T5Tokenizer(vocab), chunk_len, seed)
    rows = [json.loads(line) for line in Path(export).read_text(encoding="utf-8").splitlines()]
    full = [r for r in rows if r["chunk_tokens"] == chunk_len]
    checks = {"lengths": 0, "eos": 0, "sentinels_descending_same": 0, "first_not_sentinel": 0, "reassembles": 0}
    n_sentinels = set()
    for r in full:
        ids, tgt = r["inputs_ids"], r["targets_ids"]
        s_in, s_tg = [t for t in ids if t >= SENTINEL_MIN], [t for t in tgt if t >= SENTINEL_MIN]
        n_sentinels.add((len(s_in), len(s_tg)))
        checks["lengths"] += (len(ids), len(tgt)) == (inputs_length, targets_len)
        checks["eos"] += ids[-1] == 1 and tgt[-1] == 1
        checks["sentinels_descending_same"] += s_in == s_tg == list(range(32099, 32099 - len(s_in), -1))
        checks["first_not_sentinel"] += ids[0] < SENTINEL_MIN
        checks["reassembles"] += reassemble(ids, tgt) == chunks[r["chunk"]].tolist()
    print(json.dumps({"corpus_documents": info.documents, "corpus_tokens": info.tokens, "chunks": info.chunks,
                      "full_chunks": info.full_chunks, "chunk_tokens": chunk_len, "inputs_length": inputs_length,
                      "targets_length": targets_len, "exported": len(rows), "exported_full": len(full),
                      "sentinels_per_example(inputs,targets)": sorted(n_sentinels),
                      "passed_per_check": checks}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
