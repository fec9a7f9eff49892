"""A fresh clone runs the README's commands in order, pasted as written (issue 28: "done means").

The commands are the ```bash blocks the README marks with `<!-- readme-test: run -->` (set-up, quick start,
the follow-ups), read from the README at test time, so the test follows the README. They run as one bash
script from the folder holding the clone (the set-up block starts with `cd t5eval`), with the shared folder
beside the clone as the README describes. One deviation, for an offline CI: the venv is made with
`--system-site-packages`, so `pip install torch==2.13.0` finds the installed torch instead of downloading it.
Slow: the quick start alone takes minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SHARED

MARK = "<!-- readme-test: run -->"
VENV = "python -m venv .venv"


def readme_blocks(readme: str) -> list[str]:
    """The marked ```bash blocks, in README order."""
    return [m.group(1) for m in re.finditer(re.escape(MARK) + r"\s*```bash\n(.*?)```", readme, re.S)]


def test_the_marked_blocks_are_set_up_quick_start_and_follow_ups():
    blocks = readme_blocks((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 3
    assert blocks[0].startswith("cd t5eval") and VENV in blocks[0] and 'pip install -e ".[dev]"' in blocks[0]
    assert blocks[1].startswith("t5eval run sst2") and "--out results/quickstart_sst2" in blocks[1]
    assert all("results/quickstart_sst2" in line for line in blocks[2].splitlines() if line.startswith("t5eval"))


@pytest.mark.slow
def test_a_fresh_clone_runs_the_readme_commands_in_order(tmp_path: Path) -> None:
    blocks = readme_blocks((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(tmp_path / "t5eval")], check=True)
    (tmp_path / "shared").symlink_to(SHARED.resolve())
    script = "set -euo pipefail\n" + "\n".join(blocks).replace(VENV, VENV.replace("venv", "venv --system-site-packages", 1))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "T5EVAL_INCLUDE_PATH")}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=5400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    clone = tmp_path / "t5eval"
    run = json.loads((clone / "results" / "quickstart_sst2" / "run.json").read_text())
    accuracy = run["tasks"]["glue_sst2_v002"]["metrics"]["accuracy"]
    assert (clone / "reports" / "quickstart.md").is_file()
    scored = json.loads(re.search(r"^\{.*?^\}", done.stdout, re.S | re.M).group(0))  # type: ignore[union-attr]
    assert scored["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    again = json.loads((clone / "results" / "quickstart_best" / "run.json").read_text())
    assert again["tasks"]["glue_sst2_v002"]["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    elsewhere = tmp_path / "elsewhere"  # not the clone's parent, where `t5eval/` would import as a namespace
    elsewhere.mkdir()
    where = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c", "import t5eval; print(t5eval.__file__)"],
                           env=env, cwd=elsewhere, capture_output=True, text=True).stdout
    assert where.strip() == str(clone / "t5eval" / "__init__.py")  # the venv runs the clone's code (editable)
