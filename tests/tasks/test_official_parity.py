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


def test_pad_punctuation_is_re2_ascii_punct_and_re2_space():
    """T5 `_pad_punctuation`: RE2 `[[:punct:]]` = the 32 ASCII punctuation marks only; RE2 `\\s` =
    [\\t\\n\\f\\r ] (no \\v, no NBSP). Paper era: `\\W` pads every non-[0-9A-Za-z_] char, NBSP included."""
    from t5eval.tasks.preprocess import pad_punctuation

    assert pad_punctuation("a_b`c~d$e\\f^g|h{i}j@k#l") == "a _ b ` c ~ d $ e \\ f ^ g | h { i } j @ k # l"
    assert pad_punctuation("x\u00a0y\u2019s \u2014 \u00abz\u00bb") == "x\u00a0y\u2019s \u2014 \u00abz\u00bb"
    assert pad_punctuation("a\t\n\f\r b\vc") == "a b\vc"
    assert pad_punctuation("a\u00a0b_c", "nonword") == "a \u00a0 b_c"


def test_wsc_blank_replaces_every_spaced_x_including_a_literal_one():
    """T5 `wsc_simple`: `regex_replace(_wsc_inputs(x), ' X ', ' *' + span2_text + '* ')` is global, so a
    literal word "X" in the text is marked too."""
    from t5eval.tasks.preprocess import wsc_simple

    row = {"text": "Malcolm X said he would go", "span1_text": "Malcolm X", "span2_text": "he",
           "span2_index": 3, "label": 1, "idx": 5}
    (cast,) = wsc_simple(row)
    assert (cast.inputs, cast.targets) == ("wsc: Malcolm *he* said *he* would go", "Malcolm X")
    assert cast.fields == {"idx": 5, "label": 1}


def test_wsc_first_special_text_exact():
    """T5 `_wsc_inputs` hard-codes this text (trailing space; span2_index does not point at "him")."""
    from t5eval.tasks.preprocess import wsc_simple

    text = ('The boy continued to whip the pony , and eventually the pony threw him over. John laughed out '
            'quite loud. "Good for him," he said. ')
    row = {"text": text, "span1_text": "John", "span2_text": "him", "span2_index": 22, "label": 0, "idx": 1}
    (cast,) = wsc_simple(row)
    assert cast.inputs == ('wsc: The boy continued to whip the pony , and eventually the pony threw him over. '
                           'John laughed out quite loud. "Good for *him* ," he said.')


def test_wsc_fixed_span_repairs():
    """TFDS `super_glue.py` `_fix_wst`: a span that is not a substring gets the case of
    `text.split()[index]`'s first letter, loses trailing '.', and '\\n' -> ' '; Kamenev spans are kept."""
    from t5eval.tasks.readers import fix_wsc_spans

    text = "Mark told Pete many lies about himself, which Pete included in his book."
    ex = {"text": text, "span1_text": "pete.", "span1_index": 2, "span2_text": "His\nbook", "span2_index": 11}
    fixed = fix_wsc_spans(ex)
    assert (fixed["span1_text"], fixed["span2_text"]) == ("Pete", "his book")
    assert ex["span1_text"] == "pete."  # the input dict is not modified
    kept = {**ex, "span1_text": "Kamenev and Zinoviev", "span2_text": "his"}
    assert fix_wsc_spans(kept)["span1_text"] == "Kamenev and Zinoviev"


def test_record_local_jsonl_entities_answers_and_passage(tmp_path):
    """TFDS ReCoRD: one row per query; entities = sorted unique `text[start:end+1]`, answers = sorted unique
    texts. T5 `record`: "\\n@highlight\\n" after '.' -> ". " -> one space; one example per answer."""
    import json

    rec = {"idx": 7, "passage": {"text": "Ann met Bob.\n@highlight\nBob left", "entities": [
        {"start": 0, "end": 2}, {"start": 8, "end": 10}, {"start": 24, "end": 26}]},
        "qas": [{"idx": 70, "query": "@placeholder left", "answers": [
            {"start": 8, "end": 10, "text": "Bob"}, {"start": 24, "end": 26, "text": "Bob"}]},
            {"idx": 71, "query": "@placeholder met Bob", "answers": [{"start": 0, "end": 2, "text": "Ann"}]}]}
    (tmp_path / "superglue" / "ReCoRD").mkdir(parents=True)
    (tmp_path / "superglue" / "ReCoRD" / "val.jsonl").write_text(json.dumps(rec) + "\n", encoding="utf-8")
    examples = load_examples(REG.get("record"), "validation", tmp_path).examples
    assert [(ex.inputs, ex.targets) for ex in examples] == [
        ("record query: @placeholder left entities: Ann, Bob passage: Ann met Bob. Bob left", "Bob"),
        ("record query: @placeholder met Bob entities: Ann, Bob passage: Ann met Bob. Bob left", "Ann")]
    assert [(ex.fields["idx/passage"], ex.fields["idx/query"], ex.fields["answers"]) for ex in examples] == [
        (7, 70, ["Bob"]), (7, 71, ["Ann"])]


def test_stsb_test_row_target_is_minus_one():
    """TFDS glue: a test row's label is `np.float32(-1)`; T5 `stsb` has no "<unk>" case: round(-5)/5 -> "-1.0"."""
    from t5eval.tasks.preprocess import stsb

    (cast,) = stsb({"sentence1": "a ", "sentence2": "b", "label": -1.0, "idx": 0})
    assert (cast.inputs, cast.targets) == ("stsb sentence1: a  sentence2: b", "-1.0")


def test_squad_strip_only_in_the_paper_era_tfds():
    """TFDS squad/plain_text (paper era) `.strip()`ped context/question/answers; squad/v1.1:3.0.0 does not.
    T5 pads, joins and collapses whitespace but never strips, so the ends show through."""
    from t5eval.tasks.preprocess import squad

    row = {"id": "q", "question": " Where?", "context": " Paris is in France \n",
           "answers": {"text": [" France "], "answer_start": [13]}}
    (cur,) = squad(row)
    (paper,) = squad(row, punct="nonword", strip=True)
    assert (cur.inputs, cur.targets) == ("question: Where ? context: Paris is in France ", " France ")
    assert (paper.inputs, paper.targets) == ("question: Where ? context: Paris is in France", "France")
    assert REG.get("squad").preprocessor_args_for("paper")["strip"] is True
