"""Issue 28 items 11 and 14: a missing eval split names its file and suggests --split test; --version;
`report` to stdout; `score` on a run folder; uncut tables when piped; --batch-tokens help."""

from __future__ import annotations

import json
import re

import pytest

from t5eval import cli
from tests.conftest import REPO_ROOT, VOCAB

FIXTURE_RUN = REPO_ROOT / "tests" / "report" / "fixtures" / "results" / "run_small_a"


def _main(argv: list[str]) -> int:
    try:
        cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_version_flag_prints_the_package_version(capsys):
    assert _main(["--version"]) == 0
    version = re.search(r'^version = "(.+)"$', (REPO_ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert version is not None and capsys.readouterr().out.strip() == f"t5eval {version.group(1)}"


@pytest.mark.parametrize(("task", "expected", "test_file"), [
    ("cnn_dailymail", "cnn_dailymail/validation.jsonl", "cnn_dailymail/test_subset_summeval100.jsonl"),
    ("wmt_enro", "wmt/en-ro/newsdev2016.en + ", "wmt/en-ro/newstest2016.en"),
])  # fmt: skip
def test_missing_eval_split_names_the_path_and_suggests_split_test(task, expected, test_file, data_dir, tmp_path,
                                                                    capsys):
    code = _main(["run", task, "--model", "tiny", "--init", "random", "--vocab", str(VOCAB), "--data-dir",
                  str(data_dir), "--limit", "2", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "pass --data-dir with the files" not in err
    assert f"expected {data_dir / expected}" in err and str(data_dir / test_file) in err
    assert "add --split test --no-finetune" in err


def test_report_prints_markdown_when_out_is_omitted_or_dash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--out", "-"]):
        assert _main(["report", str(FIXTURE_RUN), "--bootstrap", "50", *extra]) == 0
        out = capsys.readouterr().out
        assert out.lstrip().startswith("#") and "SST-2" in out and "87.5" in out  # the fixture's SST-2 score
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_score_accepts_a_run_folder(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    (run / "glue_sst2_v002").mkdir(parents=True)
    rows = [{"index": i, "prediction": "positive"} for i in range(4)]
    (run / "glue_sst2_v002" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    gold = [line.rsplit("\t", 1)[1] for line in (data_dir / "glue" / "SST-2" / "dev.tsv").read_text().splitlines()[1:5]]
    assert _main(["score", "sst2", "--predictions", str(run), "--data-dir", str(data_dir), "--limit", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["accuracy"] == 100 * gold.count("1") / 4
    assert _main(["score", "glue", "--predictions-dir", str(run), "--data-dir", str(data_dir), "--limit", "4"]) == 0
    assert "glue_sst2_v002" in json.loads(capsys.readouterr().out)["tasks"]
    assert _main(["score", "rte", "--predictions", str(run), "--data-dir", str(data_dir)]) == 2
    assert "without glue_rte_v002/predictions.jsonl" in capsys.readouterr().err


def test_tables_are_not_cut_when_piped(monkeypatch, capsys):
    from t5eval.cli.console import stdout_console
    from t5eval.cli.run_cmds import summary_table

    monkeypatch.delenv("COLUMNS", raising=False)
    record = json.loads((FIXTURE_RUN / "run.json").read_text())
    stdout_console().print(summary_table(record))  # stdout is captured: not a terminal
    out = capsys.readouterr().out
    assert "…" not in out and all(name in out for name in record["tasks"])  # at 80 columns long names wrap


def test_batch_tokens_help_says_packed_rows(capsys):
    assert _main(["run", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "packed rows" in help_text and "padded tokens with --no-pack" in help_text
