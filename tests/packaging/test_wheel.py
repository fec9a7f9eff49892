"""A built wheel works outside the repository (issue 28 item 2): the task definitions ship as package data.

Builds the wheel from a copy of the sources (the checkout stays clean), installs it with `--no-deps` into a
temporary venv that sees this interpreter's packages (torch is not reinstalled), and runs `t5eval tasks`
and a `--limit 4` score from a folder outside the repository, with no PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SOURCES = ("t5eval", "task_defs", "setup.py", "pyproject.toml", "README.md")


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done


def _isolation() -> list[str]:
    """Build with this environment's setuptools when it can make wheels by itself (>= 70.1, offline);
    otherwise let pip fetch the build requirements (a fresh venv's bundled setuptools has no bdist_wheel)."""
    try:
        import setuptools

        version = tuple(int(part) for part in setuptools.__version__.split(".")[:2])
    except (ImportError, ValueError):
        return []
    return ["--no-build-isolation"] if version >= (70, 1) else []


def _build_and_install(tmp_path: Path, env: dict[str, str]) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(REPO_ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *_isolation(), "-q", "-w", str(tmp_path / "dist"),
          str(src)], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("t5eval-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], tmp_path, env)
    return python


def test_wheel_installs_and_finds_its_task_definitions(tmp_path, data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "T5EVAL_INCLUDE_PATH")}
    python = _build_and_install(tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-c", "import t5eval.tasks.defs as d; print(d.builtin_task_defs())"], elsewhere, env)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout  # the packaged copy
    t5eval = [str(python), "-m", "t5eval"]
    listed = json.loads(_run([*t5eval, "tasks", "--json"], elsewhere, env).stdout)
    assert len(listed) == 40 and {"glue_rte_v002", "squad_v010_allanswers"} <= {r["task"] for r in listed}
    # 4 RTE dev predictions, all "entailment": accuracy is the share of "entailment" among the 4 gold labels
    preds = elsewhere / "rte.jsonl"
    preds.write_text("".join(json.dumps({"index": i, "prediction": "entailment"}) + "\n" for i in range(4)))
    rows = (data_dir / "glue" / "RTE" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:5]
    gold = [row.split("\t")[-1] for row in rows]
    scored = json.loads(_run([*t5eval, "score", "rte", "--predictions", str(preds), "--data-dir", str(data_dir),
                              "--limit", "4"], elsewhere, env).stdout)
    assert scored["metrics"]["accuracy"] == 100 * gold.count("entailment") / 4
