"""Readers for the benchmarks' original local file formats. Each returns raw rows in file order.

A raw row is `(where, dict)`: `where` names the file and line for error messages, the dict uses the
TFDS feature names. `rows.normalize_row` then coerces labels and idx, as it does for hub rows.
Readers: GLUE TSV (header or not, UTF-8 BOM, CRLF, no quoting as TFDS/HF read them), SuperGLUE
JSONL (MultiRC and ReCoRD flattened as TFDS does, WSC spans fixed as TFDS `wsc.fixed`), SQuAD
JSON, WMT plain-text pairs and SGML, CNN/DM JSONL.

Rows TFDS drops are dropped here too, with one `DataWarning` per file, never silently: GLUE rows with
missing fields or an empty label (`glue.py`), WMT pairs with an empty side (`wmt.py`).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.tasks.rows import DataWarning

RawRow = tuple[str, dict[str, Any]]
Reader = Callable[[list[Path], dict[str, Any]], list[RawRow]]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # MRPC's GLUE files start with a UTF-8 BOM
    except UnicodeDecodeError as err:
        raise T5evalError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) without the line end (LF or CRLF); skip a final empty line."""
    lines = _read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line[:-1] if line.endswith("\r") else line


def _column(header: list[str] | None, spec: str | int, path: Path) -> int:
    if isinstance(spec, int):
        return spec
    if header is None or spec not in header:
        raise T5evalError(f"{path}: column {spec!r} not found in header {header}; check the file")
    return header.index(spec)


def _label_column(header: list[str] | None, spec: str | int | None) -> int | None:
    """The label's column; None when the file has none (GLUE test files are unlabelled)."""
    if spec is None or isinstance(spec, int):
        return spec
    return header.index(spec) if header is not None and spec in header else None


def _glue_row(cells: list[str], columns: dict[str, int], label_col: int | None) -> dict[str, Any] | None:
    """One TFDS GLUE example's raw fields, or None when TFDS drops the row.

    TFDS reads a headed file with `csv.DictReader`: a short row gives None for its missing columns,
    and an empty or missing label becomes None (`int(label) if label else None`); an example with
    any None value is dropped ("Filter out corrupted rows"). Extra cells are ignored.
    """
    if any(i >= len(cells) for i in columns.values()):
        return None
    raw: dict[str, Any] = {name: cells[i] for name, i in columns.items()}
    if label_col is not None:
        if label_col >= len(cells) or cells[label_col] == "":
            return None
        raw["label"] = cells[label_col]
    return raw


def read_glue_tsv(paths: list[Path], args: dict[str, Any]) -> list[RawRow]:
    """GLUE TSV: split on tabs only (QUOTE_NONE, as TFDS and HF read GLUE), one row a line.

    `idx` is the row's number among the data rows, counting rows TFDS drops (TFDS `idx = n`).
    A header-less file (CoLA train/dev) with a short row is an error (TFDS indexes `row[3]` and fails).
    """
    (path,) = paths
    lines = list(_lines(path))
    header = lines.pop(0)[1].split("\t") if args.get("header", True) and lines else None
    columns = {name: _column(header, spec, path) for name, spec in args.get("columns", {}).items()}
    label_col = _label_column(header, args.get("label", {}).get("column"))
    width = max([*columns.values(), label_col or 0]) + 1
    rows, dropped = [], []
    for n, (number, line) in enumerate(lines):
        cells = line.split("\t")
        if header is None and len(cells) < width:
            raise T5evalError(f"{path}, line {number}: expected {width} tab-separated fields, found "
                              f"{len(cells)}; fix the row")
        raw = _glue_row(cells, columns, label_col)
        if raw is None:
            dropped.append(number)
            continue
        rows.append((f"{path}, line {number}", {**raw, "idx": n}))
    if dropped:
        warnings.warn(f"{path}: {len(dropped)} row(s) with missing fields or an empty label dropped, as TFDS "
                      f"glue does (lines {', '.join(map(str, dropped[:5]))}{', ...' if len(dropped) > 5 else ''})",
                      DataWarning, stacklevel=2)
    return rows


def json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ("<file>, line N", object) for each non-blank JSON line; one-line errors name file and line."""
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise T5evalError(f"{where}: malformed JSON ({err.msg}); fix the row") from None
        if not isinstance(obj, dict):
            raise T5evalError(f"{where}: expected a JSON object")
        yield where, obj


def fix_wsc_spans(ex: dict[str, Any]) -> dict[str, Any]:
    """TFDS `wsc.fixed`: repair span texts that are not substrings of the text.

    Restores the first word's case, drops trailing '.', replaces newlines with spaces; the two
    "Kamenev" spans are left alone (TFDS cannot fix them). Returns a new dict.
    """
    ex = dict(ex)
    for key in ("span1", "span2"):
        text, index = ex[f"{key}_text"], ex[f"{key}_index"]
        if text in ex["text"] or text in ("Kamenev and Zinoviev", "Kamenev, Zinoviev, and Stalin"):
            continue
        if "theyscold" in text:
            ex["span2_index"] = 10  # TFDS also calls str.replace without keeping the result
        first_word = ex["text"].split()[index]
        text = (text[0].lower() if first_word[0].islower() else text[0].upper()) + text[1:]
        ex[f"{key}_text"] = text.rstrip(".").replace("\n", " ")
    return ex


def _superglue_row(obj: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    if mode == "wsc":
        flat = {**obj, **obj.get("target", {})}
        return [fix_wsc_spans(flat)]
    if mode == "multirc":
        return _multirc_rows(obj)
    if mode == "record":
        return _record_rows(obj)
    return [obj]


def _multirc_rows(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """TFDS MultiRC: one row per answer option, idx = {paragraph, question, answer}."""
    passage = obj["passage"]
    rows = []
    for question in passage["questions"]:
        for answer in question["answers"]:
            rows.append({
                "paragraph": passage["text"], "question": question["question"], "answer": answer["text"],
                "label": answer.get("label"),
                "idx": {"paragraph": obj["idx"], "question": question["idx"], "answer": answer["idx"]},
            })
    return rows


def _record_rows(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """TFDS ReCoRD: one row per query; entities and answers are sorted unique strings."""
    passage = obj["passage"]
    text = passage["text"]
    entities = sorted({text[e["start"]:e["end"] + 1] for e in passage["entities"]})
    rows = []
    for qa in obj["qas"]:
        answers = sorted({a["text"] for a in qa.get("answers", [])})
        rows.append({"passage": text, "query": qa["query"], "entities": entities, "answers": answers,
                     "idx": {"passage": obj["idx"], "query": qa["idx"]}})
    return rows


def read_superglue_jsonl(paths: list[Path], args: dict[str, Any]) -> list[RawRow]:
    """SuperGLUE JSONL, one record a line; `flatten` = multirc | record | wsc | none."""
    (path,) = paths
    mode = args.get("flatten", "none")
    rows = []
    for where, obj in json_objects(path):
        try:
            rows += [(where, r) for r in _superglue_row(obj, mode)]
        except (KeyError, TypeError, IndexError) as err:
            raise T5evalError(f"{where}: malformed {mode} record (missing {err}); fix the row") from None
    return rows


def read_squad_json(paths: list[Path], args: dict[str, Any]) -> list[RawRow]:
    """SQuAD v1.1 JSON: one row per question id, in article/paragraph/question order.

    As TFDS squad/v1.1:3.0.0 (`qa_utils.generate_squadlike_examples`): no whitespace is stripped, and
    a question id seen again adds its answers to the first row with that id (title/context of the first).
    """
    (path,) = paths
    try:
        data = json.loads(_read_text(path))["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise T5evalError(f"{path}: not a SQuAD JSON file ({err}); expected {{'data': [...]}}") from None
    rows: dict[str, RawRow] = {}
    for a, article in enumerate(data):
        for p, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                answers = qa.get("answers", [])
                texts, starts = [x["text"] for x in answers], [x["answer_start"] for x in answers]
                if qa["id"] in rows:
                    seen = rows[qa["id"]][1]["answers"]
                    seen["text"] += texts
                    seen["answer_start"] += starts
                    continue
                rows[qa["id"]] = (f"{path}, article {a} paragraph {p} question {qa.get('id')}", {
                    "id": qa["id"], "title": article.get("title", ""), "context": para["context"],
                    "question": qa["question"], "answers": {"text": texts, "answer_start": starts},
                })
    return list(rows.values())


def _pairs(paths: list[Path], args: dict[str, Any]) -> list[tuple[Path, Path]]:
    if len(paths) % 2:
        raise T5evalError(f"parallel files must come in (source, target) pairs, got {len(paths)} files")
    return [(paths[i], paths[i + 1]) for i in range(0, len(paths), 2)]


def _pair_rows(src: Path, tgt: Path, src_lines: list[str], tgt_lines: list[str],
               langs: list[str]) -> list[RawRow]:
    """Aligned (source, target) rows. TFDS `wmt.py` drops a pair whose source or target is empty
    (`if not all(ex.values()): continue`); so do we, with one warning naming the file."""
    if len(src_lines) != len(tgt_lines):
        raise T5evalError(f"{src} has {len(src_lines)} segments but {tgt} has {len(tgt_lines)}; "
                          "they must be parallel")
    pairs = [(f"{src}, line {i + 1}", {langs[0]: s, langs[1]: t})
             for i, (s, t) in enumerate(zip(src_lines, tgt_lines, strict=True))]
    kept = [(where, row) for where, row in pairs if all(row.values())]
    if len(kept) < len(pairs):
        warnings.warn(f"{src} / {tgt}: {len(pairs) - len(kept)} pair(s) with an empty side dropped, as TFDS "
                      "wmt does", DataWarning, stacklevel=3)
    return kept


def read_parallel_text(paths: list[Path], args: dict[str, Any]) -> list[RawRow]:
    """WMT plain text: line i of the source file translates to line i of the target file."""
    rows: list[RawRow] = []
    for src, tgt in _pairs(paths, args):
        src_lines = [line for _, line in _lines(src)]
        tgt_lines = [line for _, line in _lines(tgt)]
        rows += _pair_rows(src, tgt, src_lines, tgt_lines, args["languages"])
    return rows


# TFDS `wmt.py` `_parse_sgm`: `re.match` (anchored at the line start) of exactly this pattern; the
# text between the tags is kept as is (no strip), up to the line's last "</seg>".
_SEG = re.compile(r'<seg id="\d+">(.*)</seg>')


def _sgm_segments(path: Path) -> list[str]:
    """One segment per line that starts with `<seg id="N">`, its text unstripped (as TFDS)."""
    return [m.group(1) for _, line in _lines(path) if (m := _SEG.match(line))]


def read_sgm(paths: list[Path], args: dict[str, Any]) -> list[RawRow]:
    """WMT SGML (newstest*.sgm): source and reference files, segments aligned by position."""
    rows: list[RawRow] = []
    for src, tgt in _pairs(paths, args):
        rows += _pair_rows(src, tgt, _sgm_segments(src), _sgm_segments(tgt), args["languages"])
    return rows


def read_jsonl(paths: list[Path], args: dict[str, Any]) -> list[RawRow]:
    """Generic JSONL (CNN/DM subset): one JSON object a line."""
    (path,) = paths
    return list(json_objects(path))


READERS: dict[str, Reader] = {
    "glue_tsv": read_glue_tsv,
    "superglue_jsonl": read_superglue_jsonl,
    "squad_json": read_squad_json,
    "parallel_text": read_parallel_text,
    "sgm": read_sgm,
    "jsonl": read_jsonl,
}
