"""Audit against the official pipeline (TFDS builders -> t5 preprocessors -> seqio postprocess).

Each test pins one behaviour read in the official code; the expected strings are worked out by hand
from that code's logic and written as literals. Sources (read, not copied):
- TFDS `translate/wmt.py` `_parse_sgm`, `_generate_examples`;
- TFDS `text/glue.py` `_generate_examples`, `_generate_example_mrpc_files`;
- TFDS `question_answering/qa_utils.py` `generate_squadlike_examples` (squad/v1.1:3.0.0);
- T5 `t5/data/preprocessors.py`, `glue_utils.py`, `postprocessors.py`; seqio `evaluation.py`.
"""

from __future__ import annotations

import pytest

from t5eval.tasks import DataWarning, TaskRegistry, load_examples

REG = TaskRegistry.default()


def _sgm(path, segments: list[str]) -> None:
    body = "".join(f"{s}\n" for s in segments)
    path.write_text(f'<srcset setid="newstest2014" srclang="any">\n<doc docid="d1" genre="news">\n{body}'
                    "</doc>\n</srcset>\n", encoding="utf-8")


def test_wmt_sgm_keeps_segment_whitespace_and_drops_empty_pairs(tmp_path):
    """TFDS `_parse_sgm`: `re.match('<seg id="\\d+">(.*)</seg>')` on each line, text not stripped;
    `_generate_examples` drops a pair with an empty side; `translate` joins without a separator."""
    sgm = tmp_path / "wmt" / "en-de" / "sgm"
    sgm.mkdir(parents=True)
    _sgm(sgm / "newstest2014-deen-src.en.sgm",
         ['<seg id="1"> Hello  world </seg>', '<seg id="2">Two</seg>', '<seg id="3"></seg>'])
    _sgm(sgm / "newstest2014-deen-ref.de.sgm",
         ['<seg id="1">Hallo Welt</seg>', '<seg id="2">Zwei </seg>', '<seg id="3">Drei</seg>'])
    with pytest.warns(DataWarning, match="1 pair"):
        examples = load_examples(REG.get("wmt_t2t_ende_v003"), "test", tmp_path).examples
    got = [(ex.inputs, ex.targets) for ex in examples]
    assert got == [("translate English to German:  Hello  world ", "Hallo Welt"),
                   ("translate English to German: Two", "Zwei ")]


def test_mrpc_local_tsv_warns_that_tfds_text_and_idx_differ(data_dir):
    """TFDS `glue.py` builds MRPC from SentEval's tokenized msr_paraphrase_*.txt (not GLUE's TSV) and sets
    idx = row number in msr_paraphrase_train.txt (train and dev interleaved): not reproducible here."""
    with pytest.warns(DataWarning, match="SentEval's tokenized"):
        load_examples(REG.get("mrpc"), "validation", data_dir, limit=1)


def test_glue_tsv_drops_rows_as_tfds_and_keeps_row_numbers_as_idx(tmp_path):
    """TFDS `glue.py`: DictReader(QUOTE_NONE); idx = n over every data row; a short row (None fields) or an
    empty label (`int(label) if label else None`) is dropped; extra cells are ignored."""
    from t5eval.tasks.readers import read_glue_tsv

    tsv = tmp_path / "dev.tsv"
    tsv.write_text("index\tsentence1\tsentence2\tlabel\n"
                   "0\ta\tb\tentailment\n"      # n=0 kept
                   "1\tonly two\n"              # n=1 short -> dropped
                   "2\tc\td\t\n"                # n=2 empty label -> dropped
                   "3\t\"e\tf \tnot_entailment\textra\n",  # n=3 kept: quote is text, extra cell ignored
                   encoding="utf-8")
    args = {"columns": {"sentence1": "sentence1", "sentence2": "sentence2"}, "label": {"column": "label"}}
    with pytest.warns(DataWarning, match=r"2 row\(s\).*lines 3, 4"):
        rows = [raw for _, raw in read_glue_tsv([tsv], args)]
    assert rows == [{"sentence1": "a", "sentence2": "b", "label": "entailment", "idx": 0},
                    {"sentence1": "\"e", "sentence2": "f ", "label": "not_entailment", "idx": 3}]


def test_squad_repeated_id_merges_answers_as_tfds_v3(tmp_path):
    """TFDS squad/v1.1:3.0.0 (`qa_utils`): no strip; a repeated question id extends the first row's answers."""
    import json

    para = {"context": " Paris is in France. ", "qas": [
        {"id": "q1", "question": " Where is Paris?", "answers": [{"text": "France", "answer_start": 13}]}]}
    again = {"context": "Other.", "qas": [
        {"id": "q1", "question": "ignored", "answers": [{"text": "in France", "answer_start": 10}]}]}
    (tmp_path / "squad").mkdir()
    (tmp_path / "squad" / "dev-v1.1.json").write_text(
        json.dumps({"data": [{"title": "T", "paragraphs": [para, again]}]}), encoding="utf-8")
    (ex,) = load_examples(REG.get("squad"), "validation", tmp_path).examples
    # pad_punctuation: "?" and "." get spaces, whitespace collapsed, not stripped
    assert (ex.inputs, ex.targets) == ("question: Where is Paris ? context: Paris is in France . ", "France")
    assert ex.fields["answers"] == ["France", "in France"]
