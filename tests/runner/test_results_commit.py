"""run.json's git commit is the checkout's commit when the job started, not when its record was written."""

from __future__ import annotations

import t5eval.results.environment as results


def test_the_commit_is_read_once_at_the_start_and_kept(monkeypatch):
    results.pin_git_commit.cache_clear()
    commits = iter(["a" * 40, "b" * 40])  # the checkout moves from a… to b… while the job runs
    monkeypatch.setattr(results, "git_commit", lambda: next(commits))
    assert results.pin_git_commit() == "a" * 40  # job start
    assert results.env_record("cpu", 1)["git_commit"] == "a" * 40  # record written at the end
    results.pin_git_commit.cache_clear()  # later tests read the real checkout again
