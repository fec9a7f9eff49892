"""The shared unlabeled pre-training text (docs/pretrain.md, "Measured: the export on the shared text").

One JSON line {"text": ...} per training example of the GLUE and SuperGLUE train splits in the shared data:
its text fields joined by newlines, never its label; exact duplicates (RTE is in both benchmarks) kept once.
No validation or test text: WMT newstest and the CNN/DM subset in shared/data are evaluation sets.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_text

GLUE_TSV: dict[str, list[str | int]] = {  # file -> text columns (CoLA has no header: column 3 is the sentence)
    "glue/CoLA/train.tsv": [3], "glue/SST-2/train.tsv": ["sentence"],
    "glue/MRPC/train.tsv": ["#1 String", "#2 String"], "glue/STS-B/train.tsv": ["sentence1", "sentence2"],
    "glue/RTE/train.tsv": ["sentence1", "sentence2"], "glue/WNLI/train.tsv": ["sentence1", "sentence2"],
}
SUPERGLUE_JSONL: dict[str, list[str]] = {
    "superglue/CB/train.jsonl": ["premise", "hypothesis"], "superglue/RTE/train.jsonl": ["premise", "hypothesis"],
    "superglue/COPA/train.jsonl": ["premise", "choice1", "choice2"], "superglue/WSC/train.jsonl": ["text"],
    "superglue/WiC/train.jsonl": ["sentence1", "sentence2"],
}


def glue_texts(path: Path, columns: list[str | int]) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, []) if isinstance(columns[0], str) else []
        index = [header.index(c) if isinstance(c, str) else c for c in columns]
        for row in rows:
            yield "\n".join(row[i].strip() for i in index if i < len(row))


def jsonl_texts(path: Path, fields: list[str]) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                yield "\n".join(str(row[f]).strip() for f in fields)


def multirc_texts(path: Path) -> Iterator[str]:
    """Passage, questions and candidate answers (never their labels)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        passage = json.loads(line)["passage"]
        parts = [passage["text"]]
        for q in passage["questions"]:
            parts.append(q["question"])
            parts.extend(a["text"] for a in q["answers"])
        yield "\n".join(parts)


def unlabeled_documents(data_dir: Path, max_documents: int | None = None) -> list[str]:
    """Every distinct non-empty training text of the shared GLUE and SuperGLUE train splits, in file order (the
    first `max_documents` of them: the files after those are not read)."""
    missing = [f for f in (*GLUE_TSV, *SUPERGLUE_JSONL, "superglue/MultiRC/train.jsonl") if not (data_dir / f).exists()]
    if missing:
        raise T5evalError(f"{data_dir / missing[0]} not found: the shared unlabeled corpus is built from the GLUE and "
                          "SuperGLUE train splits; pass --data-dir pointing at the shared data folder")
    seen: set[str] = set()
    docs: list[str] = []
    sources: list[Iterator[str]] = [glue_texts(data_dir / f, c) for f, c in GLUE_TSV.items()]
    sources += [jsonl_texts(data_dir / f, c) for f, c in SUPERGLUE_JSONL.items()]
    sources.append(multirc_texts(data_dir / "superglue/MultiRC/train.jsonl"))
    for texts in sources:
        for text in texts:
            if len(docs) == max_documents:
                return docs
            if text.strip() and text not in seen:
                seen.add(text)
                docs.append(text)
    return docs


def write_unlabeled_corpus(data_dir: Path, out: Path, max_documents: int | None = None) -> int:
    """Write the corpus (the first `max_documents` documents when given) atomically; returns the count."""
    docs = unlabeled_documents(data_dir, max_documents)
    atomic_write_text(out, "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs))
    return len(docs)
