"""The README's quick-start figures come from the current code (issue 14 item 3; the fresh run is slow: 2-5 min).

Reruns the README's exact quick-start command (`--vocab`/`--data-dir` pointed at this checkout's shared
folder) and checks that the step accuracies README.md and docs/quickstart.md quote equal the fresh run's.
The command must keep `--threads 1`: one torch thread makes the run deterministic on a given CPU (two
runs print the same numbers); with more threads the reduction order, and so the figures, may change.
When this fails after a deliberate change, `scripts/refresh_docs.sh` refreshes the figures.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import DATA_DIR, REPO_ROOT, VOCAB

_spec = importlib.util.spec_from_file_location("refresh_docs", REPO_ROOT / "scripts" / "refresh_docs.py")
assert _spec is not None and _spec.loader is not None
refresh_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refresh_docs)


def test_readme_and_guide_quote_the_same_quick_start_with_one_thread():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    guide = (REPO_ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    args = refresh_docs.quickstart_args(readme)
    assert args[:2] == ["run", "sst2"] and refresh_docs.quickstart_args(guide) == args
    assert args[args.index("--threads") + 1] == "1", "the quick start must run with --threads 1 to be reproducible"
    assert sorted(refresh_docs.quoted_step_accuracies(readme)) == [400, 800, 1200]
    assert refresh_docs.quoted_step_accuracies(guide) == refresh_docs.quoted_step_accuracies(readme)
    for name in ("quickstart", "resume"):  # the regions scripts/refresh_docs.sh rewrites
        for text in (readme, guide):
            assert f"<!-- refresh_docs:{name} -->" in text and f"<!-- /refresh_docs:{name} -->" in text


@pytest.mark.slow
def test_the_quoted_step_accuracies_equal_a_fresh_run_with_one_thread(tmp_path, vocab_path, data_dir):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    args = refresh_docs.quickstart_args(readme)
    assert args[args.index("--threads") + 1] == "1", "the quick start must run with --threads 1 to be reproducible"
    quoted = refresh_docs.quoted_step_accuracies(readme)
    args[args.index("--vocab") + 1] = str(VOCAB)
    args[args.index("--data-dir") + 1] = str(DATA_DIR)
    out = tmp_path / "quickstart"
    done = subprocess.run([sys.executable, "-m", "t5eval", *args, "--out", str(out)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    history = json.loads((out / "run.json").read_text(encoding="utf-8"))["tasks"]["glue_sst2_v002"]["history"]
    fresh = {entry["step"]: f"{entry['metrics']['accuracy']:.2f}" for entry in history}
    assert fresh == quoted, f"README quotes {quoted}, a fresh run (1 thread) gives {fresh}: run scripts/refresh_docs.sh"
