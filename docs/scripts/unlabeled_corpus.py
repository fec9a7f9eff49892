"""Write the unlabeled pre-training text of the shared data (docs/pretrain.md; `t5eval study` builds it itself).

Usage: PYTHONPATH=. python docs/scripts/unlabeled_corpus.py ../shared/data corpus.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

from t5eval.study.corpus import unlabeled_documents, write_unlabeled_corpus

if __name__ == "__main__":
    count = write_unlabeled_corpus(Path(sys.argv[1]), Path(sys.argv[2]))
    chars = sum(len(d) for d in unlabeled_documents(Path(sys.argv[1])))
    print(f"{count} documents, {chars} characters -> {sys.argv[2]}")
