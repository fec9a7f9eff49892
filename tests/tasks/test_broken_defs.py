"""One broken definition file blocks only its own task (issue 28 item 13); `--include-path` adds task folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from t5eval.errors import T5evalError
from t5eval.tasks.defs import INCLUDE_ENV
from t5eval.tasks.registry import DEFAULT_TASK_DEFS, TaskRegistry

COLA = (DEFAULT_TASK_DEFS / "glue" / "cola.yaml").read_text(encoding="utf-8")


def _copy_with_broken_cola(tmp_path: Path) -> Path:
    root = tmp_path / "task_defs"
    shutil.copytree(DEFAULT_TASK_DEFS, root)
    lines = COLA.splitlines(keepends=True)
    version = next(i for i, line in enumerate(lines) if line.startswith("version:"))
    lines.insert(version + 1, "  labels: [oops\n")  # line version+2 (1-based): an indented key, a YAML syntax error
    (root / "glue" / "cola.yaml").write_text("".join(lines), encoding="utf-8")
    return root


def test_a_syntax_error_names_file_and_line_and_blocks_only_its_task(tmp_path):
    root = _copy_with_broken_cola(tmp_path)
    line = next(i for i, t in enumerate(COLA.splitlines()) if t.startswith("version:")) + 2
    reg = TaskRegistry.from_dir(root)
    assert reg.get("rte").name == "glue_rte_v002" and reg.resolve("super_glue")  # the others work
    for name in ("cola", "glue_cola_v002", "glue/cola"):
        with pytest.raises(T5evalError, match=rf"glue/cola\.yaml:{line}:\d+: not valid YAML"):
            reg.get(name)
    with pytest.raises(T5evalError, match=rf"benchmark glue needs a broken task file: .*cola\.yaml:{line}:"):
        reg.resolve("glue")
    with pytest.raises(T5evalError, match=r"unknown task 'nosuch'.*broken and were skipped: .*cola\.yaml"):
        reg.get("nosuch")


def test_a_broken_benchmarks_yaml_names_its_line_and_tasks_still_work(tmp_path):
    root = tmp_path / "task_defs"
    shutil.copytree(DEFAULT_TASK_DEFS, root)
    (root / "benchmarks.yaml").write_text("glue:\n  split: validation\n  members: [a\n", encoding="utf-8")
    reg = TaskRegistry.from_dir(root)
    assert reg.get("cola").name == "glue_cola_v002"
    assert any(":4:" in b.error and "benchmarks.yaml" in b.error for b in reg.broken), reg.broken


def _included(tmp_path: Path) -> Path:
    inc = tmp_path / "mine"
    inc.mkdir()
    text = COLA.replace("glue_cola_v002", "my_cola_v001")
    (inc / "my_cola.yaml").write_text(text.replace(text.split("aliases: ")[1].split("\n")[0], "[my_cola]"))
    (inc / "broken.yaml").write_text("name: broken_task\n  x: [\n", encoding="utf-8")
    return inc


def test_include_path_adds_tasks_and_a_broken_one_only_warns(tmp_path, monkeypatch, capsys, data_dir):
    from t5eval import cli

    monkeypatch.setenv(INCLUDE_ENV, "")
    inc = _included(tmp_path)
    with pytest.raises(SystemExit) as done:
        cli.main(["--include-path", str(inc), "tasks", "--json"])
    assert done.value.code in (0, None)
    out = capsys.readouterr()
    assert "my_cola_v001" in {r["task"] for r in json.loads(out.out)}
    assert "broken.yaml:2:" in out.err and "warning:" in out.err
    with pytest.raises(SystemExit) as done:
        cli.main(["--include-path", str(inc), "export", "my_cola", "--data-dir", str(data_dir), "--limit", "2",
                  "--out", str(tmp_path / "x.jsonl")])
    assert done.value.code in (0, None) and len((tmp_path / "x.jsonl").read_text().splitlines()) == 2
    with pytest.raises(SystemExit) as done:
        cli.main(["--include-path", str(inc), "export", "broken_task", "--out", str(tmp_path / "y.jsonl")])
    assert done.value.code == 2 and "'broken_task' cannot be used: " in capsys.readouterr().err


def test_include_path_that_is_missing_is_one_line(tmp_path, monkeypatch, capsys):
    from t5eval import cli

    monkeypatch.setenv(INCLUDE_ENV, "")
    with pytest.raises(SystemExit) as done:
        cli.main(["--include-path", str(tmp_path / "nope"), "tasks"])
    assert done.value.code == 2
    assert f"--include-path {tmp_path / 'nope'} does not exist" in capsys.readouterr().err


def test_include_path_adds_study_files(tmp_path, monkeypatch):
    from t5eval.study.schema import builtin_study_files, find_study_file
    from t5eval.tasks.defs import builtin_task_defs

    builtin = sorted((builtin_task_defs() / "studies").glob("table*.yaml"))[0]
    (tmp_path / "studies").mkdir()
    mine = tmp_path / "studies" / "my_study.yaml"
    mine.write_text(builtin.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv(INCLUDE_ENV, "")
    assert "my_study" not in builtin_study_files()
    monkeypatch.setenv(INCLUDE_ENV, str(tmp_path))
    assert find_study_file("my_study") == mine and builtin.stem in builtin_study_files()
