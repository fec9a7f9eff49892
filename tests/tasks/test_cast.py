"""Hand-checked T5 casting: input and target strings for real rows (read by eye in ../shared/data)
and for the examples in the spec / T5 docstrings."""

from __future__ import annotations

import pytest

from t5eval.tasks import DataWarning, TaskRegistry, load_examples
from t5eval.tasks.preprocess import (
    clean_record_passage,
    dpr_simple,
    glue,
    pad_punctuation,
    record,
    stsb_target,
)
from t5eval.tasks.wnli import wnli_simple

REG = TaskRegistry.default()


def first(task: str, split: str, data_dir, n: int = 1):
    return load_examples(REG.get(task), split, data_dir, limit=n).examples[n - 1]


@pytest.mark.parametrize(("task", "split", "inputs", "targets"), [
    ("cola", "validation", "cola sentence: The sailors rode the breeze clear of the rocks.", "acceptable"),
    # SST-2 keeps the sentence's trailing space: one-space join, no strip
    ("sst2", "validation", "sst2 sentence: it 's a charming and often affecting journey . ", "positive"),
    # MRPC: the UTF-8 BOM is not part of the header; the stray quote is raw TSV text (QUOTE_NONE)
    ("mrpc", "validation", "mrpc sentence1: He said the foodservice pie business doesn't fit the company's "
     "long-term growth strategy. sentence2: \"The foodservice pie business does not fit our long-term growth "
     "strategy.", "equivalent"),
    ("stsb", "validation", "stsb sentence1: A man with a hard hat is dancing. sentence2: A man wearing a hard "
     "hat is dancing.", "5.0"),
    ("qnli", "validation", "qnli question: What came into force after the new constitution was herald? "
     "sentence: As of that day, the new constitution heralding the Second Republic came into force.", "entailment"),
    ("glue/rte", "validation", "rte sentence1: Dana Reeve, the widow of the actor Christopher Reeve, has died of "
     "lung cancer at age 44, according to the Christopher Reeve Foundation. sentence2: Christopher Reeve had an "
     "accident.", "not_entailment"),
    ("wnli", "validation", "wnli sentence1: The drain is clogged with hair. It has to be cleaned. sentence2: The "
     "hair has to be cleaned.", "not_entailment"),
    # AX is cast as MNLI (sorted keys: hypothesis before premise); CRLF file. TFDS glue/ax is unlabelled
    # (GLUE's AX.tsv), so T5's target is "<unk>" even though diagnostic-full.tsv has a Label column
    ("ax", "test", "mnli hypothesis: The cat did not sit on the mat. premise: The cat sat on the mat.",
     "<unk>"),
    ("sg/rte", "validation", "rte hypothesis: Christopher Reeve had an accident. premise: Dana Reeve, the widow "
     "of the actor Christopher Reeve, has died of lung cancer at age 44, according to the Christopher Reeve "
     "Foundation.", "not_entailment"),
    ("cb", "validation", "cb hypothesis: Valence was helping premise: Valence the void-brain, Valence the "
     "virtuous valet. Why couldn't the figger choose his own portion of titanic anatomy to shaft? Did he think "
     "he was helping?", "contradiction"),
    ("copa", "validation", "copa choice1: The toilet filled with water. choice2: Water flowed from the spout. "
     "premise: The man turned on the faucet. question: effect", "choice2"),
    ("wic", "validation", "wic sentence1: An emerging professional class. sentence2: Apologizing for losing your "
     "temper, even though you were badly provoked, showed real class. word: class", "False"),
    # AX-b: sentence1 -> premise, sentence2 -> hypothesis, cast as RTE
    ("axb", "test", "rte hypothesis: The cat did not sit on the mat. premise: The cat sat on the mat.",
     "not_entailment"),
    ("axg", "test", "rte hypothesis: The accountant sought help filing taxes. premise: The taxpayer met with the "
     "accountant to get help filing his taxes.", "not_entailment"),
    ("wsc", "validation", "wsc: Bernard , who had not told the government official that he was less than 21 when "
     "he filed for a homestead claim, did not consider that he had done anything dishonest. Still, anyone who "
     "knew that he was 19 years old could take his claim away from *him* .", "anyone"),
    ("wnli_simple", "validation", "wsc: The drain is clogged with hair. *It* has to be cleaned.", "The hair"),
    ("wmt_t2t_ende_v003", "test", "translate English to German: Gutach: Increased safety for pedestrians",
     "Gutach: Noch mehr Sicherheit für Fußgänger"),
    ("wmt16_enro_v003", "test", "translate English to Romanian: UN Chief Says There Is No Military Solution in "
     "Syria", "Șeful ONU declară că nu există soluții militare în Siria"),
])
def test_first_real_row(task, split, inputs, targets, data_dir):
    ex = first(task, split, data_dir)
    assert (ex.inputs, ex.targets) == (inputs, targets)
    assert ex.index == 0


def test_stsb_rounds_half_to_even_with_one_decimal():
    # tf.round(label * 5) / 5 rounds half to even: 12.5 -> 12, 17.5 -> 18, 2.5 -> 2
    assert [stsb_target(x) for x in (2.5, 3.5, 0.5, 4.75, 5.0, 0.0)] == ["2.4", "3.6", "0.4", "4.8", "5.0", "0.0"]


def test_stsb_second_dev_row_rounds_4_75_up(data_dir):
    assert first("stsb", "validation", data_dir, n=2).targets == "4.8"


def test_glue_test_label_is_unk_and_keys_sorted():
    row = {"sentence2": "b", "sentence1": "a", "label": -1, "idx": 7}
    (cast,) = glue(row, benchmark_name="rte", label_names=["entailment", "not_entailment"])
    assert cast.inputs == "rte sentence1: a sentence2: b"
    assert cast.targets == "<unk>"
    assert cast.fields["idx"] == 7


def test_multirc_markup_removed_on_joined_string():
    row = {"question": "Q?", "answer": "<b>A</b>", "paragraph": "<b>Sent 1: </b>Hi.<br><b>Sent 2: </b>Bye.",
           "label": 1, "idx": {"paragraph": 3, "question": 4, "answer": 5}}
    (cast,) = glue(row, benchmark_name="multirc", label_names=["False", "True"],
                   feature_names=["question", "answer", "paragraph"])
    assert cast.inputs == "multirc question: Q? answer: A paragraph: Sent 1: Hi. Sent 2: Bye."
    assert cast.targets == "True"
    assert cast.fields == {"label": 1, "idx/paragraph": 3, "idx/question": 4, "idx/answer": 5}


def test_multirc_real_row_keeps_trailing_space_and_group(data_dir):
    ex = first("multirc", "validation", data_dir)
    assert ex.inputs.startswith("multirc question: Would the mass of a baseball affect how much force you have to "
                                "use to pick it up? answer: No paragraph: What causes a change in motion?")
    assert ex.inputs.endswith("This requires only a very small force. ")
    assert ex.targets == "False"
    assert ex.fields["idx/question"] == 0


def test_boolq_sorted_keys_passage_first(data_dir):
    ex = first("boolq", "validation", data_dir)
    assert ex.inputs.startswith("boolq passage: Ethanol fuel -- All biomass")
    assert ex.inputs.endswith(" question: does ethanol take more energy make that produces")
    assert ex.targets == "False"


def test_record_highlights_and_one_example_per_answer():
    assert clean_record_passage('A cat.\n@highlight\nDogs bark\n@highlight\n"Hi"\n@highlight\nEnd') == \
        'A cat. Dogs bark. "Hi" End'
    row = {"passage": "P.\n@highlight\nQ", "query": "@placeholder ran", "entities": ["Ann", "Bob"],
           "answers": ["Ann", "Bob"], "idx": {"passage": 1, "query": 2}}
    casts = record(row)
    assert [c.inputs for c in casts] == ["record query: @placeholder ran entities: Ann, Bob passage: P. Q"] * 2
    assert [c.targets for c in casts] == ["Ann", "Bob"]
    assert casts[0].fields == {"idx/passage": 1, "idx/query": 2, "answers": ["Ann", "Bob"]}
    assert [c.targets for c in record({**row, "answers": []})] == ["<unk>"]


def test_wsc_docstring_example_and_special_text():
    spec = REG.get("wsc")
    from t5eval.tasks.preprocess import wsc_simple
    row = {"text": "Mitchell asked Tom if he could lend some money.", "span1_text": "Tom", "span2_text": "he",
           "span1_index": 2, "span2_index": 4, "label": 1, "idx": 0}
    (cast,) = wsc_simple(row, **spec.preprocessor_args)
    assert (cast.inputs, cast.targets) == ("wsc: Mitchell asked Tom if *he* could lend some money.", "Tom")
    special = ('When they had eventually calmed down a bit , and had gotten home, Mr. Farley put the magic pebble in '
               'an iron safe . Some day they might want to use it , but really for now, what more could they wish for?')
    (cast,) = wsc_simple({**row, "text": special, "span2_text": "it", "span2_index": 26})
    assert "might want to use *it* , but really" in cast.inputs
    assert wsc_simple({**row, "label": 0}, correct_referent_only=True) == []


def test_wsc_simple_train_keeps_only_true_labels(data_dir):
    examples = load_examples(REG.get("super_glue_wsc_v102_simple_train"), "train", data_dir).examples
    assert len(examples) == 259  # SOURCES.md: 295 false, 259 true
    assert all(ex.fields["label"] == 1 for ex in examples)


def test_dpr_first_pronoun_only():
    row = {"sentence": "Bob asked Tom if he can lend some money, he said.", "pronoun": "he",
           "candidates": ["Bob", "Tom"], "label": 1, "idx": 0}
    (cast,) = dpr_simple(row)
    assert cast.inputs == "wsc: Bob asked Tom if *he* can lend some money, he said."
    assert cast.targets == "Tom"


@pytest.mark.parametrize(("premise", "hypothesis", "inputs", "target"), [
    ("The fish ate the worm. It was tasty.", "The worm was tasty.", "wsc: The fish ate the worm. *It* was tasty.",
     "The worm"),
    ("Jane knocked on Susan's door but she did not answer.", "Susan did not answer.",
     "wsc: Jane knocked on Susan's door but *she* did not answer.", "Susan"),
    # trailing punctuation moves outside the asterisks
    ("The cat saw the dog and chased it.", "The cat chased the dog.", "wsc: The cat saw the dog and chased *it* .",
     "the dog"),
])
def test_wnli_simple(premise, hypothesis, inputs, target):
    assert wnli_simple(premise, hypothesis) == (inputs, target)


def test_squad_padding_ascii_and_paper_nonword():
    assert pad_punctuation("U.S. in 1990s,  (ok)") == "U . S . in 1990s , ( ok ) "
    assert pad_punctuation(" vídeo!") == " vídeo ! "
    assert pad_punctuation(" vídeo!", "nonword") == " v í deo ! "


def test_squad_real_row_and_padded_answers(data_dir):
    ex = first("squad", "validation", data_dir)
    assert ex.inputs.startswith("question: Which NFL team represented the AFC at Super Bowl 50 ? context: Super "
                                "Bowl 50 was an American football game to determine the champion of the National "
                                "Football League ( NFL ) for the 2015 season .")
    assert ex.targets == "Denver Broncos"
    assert ex.fields["answers"] == ["Denver Broncos"] * 3
    assert "Carolina Panthers 24–10 to earn" in ex.inputs  # the en dash is not ASCII punctuation
    paper = load_examples(REG.get("squad"), "validation", data_dir, limit=1, protocol="paper").examples[0]
    assert "Carolina Panthers 24 – 10 to earn" in paper.inputs  # RE2 \W pads it (paper era)


def test_cnndm_current_cased_and_paper_lowercased(data_dir):
    spec = REG.get("cnn_dailymail_v002")
    with pytest.warns(DataWarning, match="SummEval subset"):
        ex = load_examples(spec, "test", data_dir, limit=1).examples[0]
    assert ex.inputs.startswith("summarize: Paul Merson has restarted his row with Andros Townsend")
    assert ex.targets.startswith("Andros Townsend an 83rd minute sub in Tottenham 's draw with Burnley .")
    with pytest.warns(DataWarning):
        paper = load_examples(spec, "test", data_dir, limit=1, protocol="paper").examples[0]
    assert paper.inputs.startswith("summarize: paul merson has restarted")
    assert paper.targets.startswith("andros townsend an 83rd minute sub")


def test_mnli_partial_file_warns(data_dir):
    with pytest.warns(DataWarning, match="TextFooler"):
        ex = first("mnli_matched", "validation", data_dir)
    assert ex.inputs == ("mnli hypothesis: There is a bookshop at the gallery . premise: In Temple Bar , the "
                         "bookshop at the Gallery of Photography carries a large selection of photographic "
                         "publications , and the Flying Pig is a secondhand bookshop .")
    assert ex.targets == "entailment"


def test_wmt_sgm_gives_the_same_first_segment(data_dir, tmp_path):
    (tmp_path / "wmt" / "en-de").mkdir(parents=True)
    (tmp_path / "wmt" / "en-de" / "sgm").symlink_to(data_dir / "wmt" / "en-de" / "sgm")
    plain = first("wmt14_ende_v003", "test", data_dir)
    sgm = first("wmt14_ende_v003", "test", tmp_path)
    assert (sgm.inputs, sgm.targets) == (plain.inputs, plain.targets)
