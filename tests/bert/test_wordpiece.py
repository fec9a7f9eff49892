"""WordPiece ids and token types equal transformers' BertTokenizerFast on every GLUE/SuperGLUE eval text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5eval.errors import T5evalError
from t5eval.tokenizer import WordPieceTokenizer

from .conftest import eval_text_rows


def _reference(vocab: Path, lower: bool = True, accents: bool | None = None):
    """transformers' tokenizer from a folder holding vocab.txt. `BertTokenizerFast(vocab_file=...)` silently
    builds a specials-only vocabulary in transformers 5.x (every word -> [UNK]); from_pretrained(DIR) does not."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(vocab.parent), do_lower_case=lower, strip_accents=accents)


def _texts(every: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Distinct single texts and (first, second field) pairs of every `every`-th eval row of each task."""
    rows = eval_text_rows()
    assert {"glue_rte_v002", "glue_sst2_v002", "super_glue_multirc_v102", "super_glue_boolq_v102"} <= set(rows)
    picked = [row for task_rows in rows.values() for row in task_rows[::every]]
    singles = list(dict.fromkeys(t for row in picked for t in row))
    pairs = list(dict.fromkeys((row[0], row[1]) for row in picked if len(row) >= 2))
    return singles, pairs


def _check_equal(vocab: Path, singles: list[str], pairs: list[tuple[str, str]]) -> None:
    ours, ref = WordPieceTokenizer(vocab), _reference(vocab)
    assert [e.ids for e in ours.encode_batch([(t, None) for t in singles])] == ref(singles)["input_ids"]
    for max_len in (None, 128):  # untruncated, and cut longest-first as BERT's fine-tuning does
        kwargs = {"truncation": "longest_first", "max_length": max_len} if max_len else {}
        theirs = ref([a for a, _ in pairs], [b for _, b in pairs], **kwargs)
        mine = ours.encode_batch(list(pairs), max_len)
        assert [e.ids for e in mine] == theirs["input_ids"]
        assert [e.type_ids for e in mine] == theirs["token_type_ids"]


def test_ids_and_token_types_equal_transformers_on_a_sample_of_every_task(wordpiece_vocab: Path) -> None:
    singles, pairs = _texts(every=25)
    assert len(singles) > 1000 and len(pairs) > 500
    _check_equal(wordpiece_vocab, singles, pairs)


@pytest.mark.slow
def test_ids_and_token_types_equal_transformers_on_every_eval_text(wordpiece_vocab: Path) -> None:
    singles, pairs = _texts(every=1)  # 31,529 distinct texts, 15,006 distinct pairs (measured here)
    assert len(singles) > 30000 and len(pairs) > 15000
    _check_equal(wordpiece_vocab, singles, pairs)


@pytest.mark.parametrize(("lower", "accents"), [(False, None), (False, True), (True, False)])
def test_casing_and_accent_options_follow_the_checkpoint(wordpiece_vocab: Path, tmp_path: Path, lower: bool,
                                                         accents: bool | None) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lower, "strip_accents": accents}))
    (tmp_path / "vocab.txt").write_bytes(wordpiece_vocab.read_bytes())
    ours = WordPieceTokenizer.find(tmp_path, None)
    assert (ours.lowercase, ours.strip_accents) == (lower, accents)
    texts = ["Café Über naïve résumé", "The Zürich office, São Paulo", "HELLO world 東京"]
    texts += [t for row in eval_text_rows()["glue_rte_v002"][:200] for t in row]
    ref = _reference(wordpiece_vocab, lower, accents)
    assert [e.ids for e in ours.encode_batch([(t, None) for t in texts])] == ref(texts)["input_ids"]


def test_vocab_that_does_not_match_the_embedding_rows_is_a_one_line_error(wordpiece_vocab: Path) -> None:
    tok = WordPieceTokenizer(wordpiece_vocab)
    tok.check_fits(30522)  # BERT's uncased vocabulary: 30,522 lines (shared/vocab/README.md)
    with pytest.raises(T5evalError, match=r"has 30522 entries but the model has 8000 embedding rows") as err:
        tok.check_fits(8000)
    assert "\n" not in str(err.value)


def test_missing_or_non_bert_vocab_is_refused(tmp_path: Path) -> None:
    with pytest.raises(T5evalError, match="not found; pass --vocab"):
        WordPieceTokenizer(tmp_path / "vocab.txt")
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    with pytest.raises(T5evalError, match=r"not a BERT vocab.txt \(no \[PAD\], \[UNK\], \[CLS\], \[SEP\]\)"):
        WordPieceTokenizer(tmp_path / "vocab.txt")


def test_a_preset_defaults_to_the_shared_bert_vocabulary_and_says_when_it_is_absent(wordpiece_vocab: Path,
                                                                                    tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("T5EVAL_SHARED", str(wordpiece_vocab.parents[2]))
    tok = WordPieceTokenizer.find(None, None)
    assert tok.path == wordpiece_vocab and tok.vocab_size == 30522 and tok.tok.token_to_id("[CLS]") == 101
    monkeypatch.setenv("T5EVAL_SHARED", str(tmp_path))
    with pytest.raises(T5evalError, match=r"the default .*bert-base-uncased/vocab\.txt .* is not there; pass --vocab"):
        WordPieceTokenizer.find(None, None)
