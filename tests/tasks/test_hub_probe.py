"""Issue 14 item 5: a forgotten --data-dir with an unreachable hub is one line naming --data-dir and
T5EVAL_DATA_DIR, in under 2 s, for run, score and export. Offline: the hub endpoint is pointed at a
closed local port (never a real external address)."""

from __future__ import annotations

import socket
import time

import pytest

from t5eval import hub
from tests.runner.helpers import cli


def _closed_local_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on exit: connecting is refused


@pytest.fixture
def no_data_dir(monkeypatch):
    monkeypatch.delenv("T5EVAL_DATA_DIR", raising=False)
    for var in hub.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub, "_answers", {})


def _commands(tmp_path, vocab_path) -> dict[str, list]:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"index": 0, "prediction": "entailment"}\n')
    return {
        "run": ["run", "cb", "--model", "tiny", "--init", "random", "--vocab", vocab_path, "--threads", "1",
                "--out", tmp_path / "run"],
        "score": ["score", "cb", "--predictions", predictions],
        "export": ["export", "cb", "--out", tmp_path / "cb.jsonl"],
    }


@pytest.mark.parametrize("command", ["run", "score", "export"])
@pytest.mark.parametrize("how", ["closed_port", "offline_env"])
def test_forgotten_data_dir_is_one_fast_line(command, how, no_data_dir, monkeypatch, tmp_path, vocab_path, capsys):
    if how == "closed_port":
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_local_port()}")
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = _commands(tmp_path, vocab_path)[command]
    start = time.perf_counter()
    assert cli(args) == 2
    elapsed = time.perf_counter() - start
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and "--data-dir" in err[0] and "T5EVAL_DATA_DIR" in err[0]
    assert ("HF_HUB_OFFLINE is set" if how == "offline_env" else "Connection refused") in err[0]
    assert elapsed < 2.0, f"{command} took {elapsed:.1f} s"
    assert not (tmp_path / "run").exists() and not (tmp_path / "cb.jsonl").exists()


def test_a_stuck_connection_is_given_up_after_the_probe_timeout(monkeypatch):
    def never_answers(address, timeout=None):
        time.sleep(10)
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", never_answers)
    start = time.perf_counter()
    reason = hub._probe("https://hub.invalid", timeout_s=0.3)
    assert time.perf_counter() - start < 1.0
    assert reason == "no answer from hub.invalid:443 within 0.3 s"


def test_a_listening_endpoint_counts_as_reachable():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert hub._probe(f"http://127.0.0.1:{server.getsockname()[1]}", timeout_s=1.0) is None
