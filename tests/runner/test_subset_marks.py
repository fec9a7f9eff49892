"""Issue 14 item 8: subset (--limit) results are marked where they print, and `diff` of runs that
scored different example sets says so and compares the shared examples only."""

from __future__ import annotations

import re

from .conftest import CB, FT_ARGS
from .helpers import base_args, cli, read_jsonl


def test_console_table_marks_subset_rows_and_the_average(finetuned, vocab_path, data_dir, capsys):
    capsys.readouterr()
    assert cli(["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--out", finetuned]) == 0  # reuses it
    out = capsys.readouterr().out
    assert re.search(r"│\s+4\*\s+│", out), out  # n of CB: 4 of its 56 validation examples
    assert "* subset: the first 4 examples of the split (--limit 4)" in " ".join(out.split())
    average_row = out[out.index("super_glue average"):out.index("└")]  # the row may wrap over lines
    assert "(subset)" in average_row


def _accuracy(rows: list[dict], indices: list[int]) -> float:
    by_index = {r["index"]: r for r in rows}
    return 100.0 * sum(by_index[i]["target_value"] == by_index[i]["prediction_value"] for i in indices) / len(indices)


def test_diff_of_different_example_sets_compares_the_shared_ones(finetuned, tmp_path, vocab_path, data_dir, capsys):
    other = tmp_path / "two"
    assert cli(["run", "cb", *base_args(vocab_path, data_dir), "--no-finetune", "--limit", "2", "--out", other]) == 0
    capsys.readouterr()
    assert cli(["diff", finetuned, other]) == 0
    out = capsys.readouterr().out
    assert "2 examples in both runs; 2 only in A, 0 only in B" in out
    assert "The runs scored different example sets (A scored 4 examples, B 2" in out
    assert "recomputed on the 2 shared examples only" in out
    row = next(line for line in out.splitlines() if line.startswith("| accuracy |"))
    a, b = (float(x) for x in row.split("|")[2:4])
    assert a == round(_accuracy(read_jsonl(finetuned / CB / "predictions.jsonl"), [0, 1]), 4)
    assert b == round(_accuracy(read_jsonl(other / CB / "predictions.jsonl"), [0, 1]), 4)
