"""Every task x every split present in ../shared/data exports without error, with SOURCES.md row counts."""

from __future__ import annotations

import json
import warnings

from t5eval.tasks import TaskRegistry, has_split, load_examples

# (task, split) -> examples, from shared/data/SOURCES.md (MultiRC: answers; WSC train: label=True rows;
# MNLI: the 1000-row TextFooler subsets; CNN/DM: the 100-article SummEval subset).
EXPECTED = {
    ("glue_cola_v002", "train"): 8551, ("glue_cola_v002", "validation"): 1043,
    ("glue_sst2_v002", "train"): 67349, ("glue_sst2_v002", "validation"): 872,
    ("glue_mrpc_v002", "train"): 3668, ("glue_mrpc_v002", "validation"): 408,
    ("glue_stsb_v002", "train"): 5749, ("glue_stsb_v002", "validation"): 1500,
    ("glue_qnli_v002", "validation"): 5463,
    ("glue_rte_v002", "train"): 2490, ("glue_rte_v002", "validation"): 277,
    ("glue_wnli_v002", "train"): 635, ("glue_wnli_v002", "validation"): 71,
    ("glue_wnli_v002_simple_eval", "validation"): 71,
    ("glue_ax_v002", "test"): 1104,
    ("glue_mnli_v002", "validation_matched"): 1000, ("glue_mnli_v002", "validation_mismatched"): 1000,
    ("glue_mnli_matched_v002", "validation"): 1000, ("glue_mnli_mismatched_v002", "validation"): 1000,
    ("super_glue_boolq_v102", "validation"): 3270,
    ("super_glue_cb_v102", "train"): 250, ("super_glue_cb_v102", "validation"): 56,
    ("super_glue_copa_v102", "train"): 400, ("super_glue_copa_v102", "validation"): 100,
    ("super_glue_multirc_v102", "train"): 27243, ("super_glue_multirc_v102", "validation"): 4848,
    ("super_glue_rte_v102", "train"): 2490, ("super_glue_rte_v102", "validation"): 277,
    ("super_glue_wic_v102", "train"): 5428, ("super_glue_wic_v102", "validation"): 638,
    ("super_glue_wsc_v102_simple_train", "train"): 259, ("super_glue_wsc_v102_simple_eval", "validation"): 104,
    ("super_glue_axb_v102", "test"): 1104, ("super_glue_axg_v102", "test"): 356,
    ("squad_v010_allanswers", "validation"): 10570, ("squad_v010_context_free", "validation"): 10570,
    ("cnn_dailymail_v002", "test"): 100,
    ("wmt_t2t_ende_v003", "test"): 3003, ("wmt14_ende_v003", "test"): 3003, ("wmt14_enfr_v003", "test"): 3003,
    ("wmt15_enfr_v003", "newstest2014"): 3003, ("wmt16_enro_v003", "test"): 1999,
    # GPT-2 prompt tasks (task_defs/gpt2) read the same files
    ("gpt2_cnn_dailymail_tldr", "test"): 100, ("gpt2_cnn_dailymail_tldr_greedy", "test"): 100,
    ("gpt2_wmt14_en_fr", "test"): 3003, ("gpt2_wmt14_fr_en", "test"): 3003,
    ("gpt2_squad_rc", "validation"): 10570, ("gpt2_squad_closed_book", "validation"): 10570,
    ("gpt2_wsc_lm", "validation"): 104,
}


def test_every_present_split_loads_with_sources_counts(data_dir):
    reg = TaskRegistry.default()
    found = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in reg.names():
            spec = reg.get(name)
            for split in spec.split_names:
                if has_split(spec, split, data_dir):
                    loaded = load_examples(spec, split, data_dir)
                    found[(name, split)] = len(loaded.examples)
                    assert [ex.index for ex in loaded.examples] == list(range(len(loaded.examples)))
                    assert all(isinstance(ex.inputs, str) and ex.inputs for ex in loaded.examples)
    assert found == EXPECTED


def test_export_cli_writes_t5_fields(data_dir, tmp_path, cli):
    out = tmp_path / "multirc.jsonl"
    code, stdout, _ = cli("export", "multirc", "--split", "validation", "--data-dir", data_dir, "--out", out,
                          "--limit", "2")
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    assert rows[0]["task"] == "super_glue_multirc_v102" and rows[0]["split"] == "validation"
    assert {"inputs", "targets", "idx/paragraph", "idx/question", "idx/answer", "label"} <= rows[0].keys()
    assert "2 examples" in stdout
