"""`t5eval pretrain`: export facts (issue 18 "done means"), bad input, output folder, resume after kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from t5eval import cli
from t5eval.model import load_model, state_dict_sha256
from t5eval.pretrain.corpus import load_chunks
from t5eval.tokenizer import T5Tokenizer
from tests.pretrain.test_objectives import reassemble, sentinels

REPO = Path(__file__).resolve().parents[2]
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "tall", "people",
         "watch", "from", "an", "old", "red", "barn", ",", "and"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    docs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 150))) + "." for _ in range(400)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


def pretrain(*args: str) -> int:
    try:
        cli.main(["pretrain", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize(("inputs_length", "chunk", "targets", "spans"), [(512, 568, 114, 28), (128, 141, 29, 7)])
def test_export_full_chunks_match_t5(corpus: Path, vocab_path: Path, tmp_path: Path, inputs_length: int,
                                     chunk: int, targets: int, spans: int) -> None:
    out = tmp_path / "ex.jsonl"
    n = 40
    assert pretrain("--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), "--export", str(n),
                    str(out), "--inputs-length", str(inputs_length)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    chunks, _ = load_chunks(str(corpus), T5Tokenizer(vocab_path), chunk, seed=0)
    full = [r for r in rows if r["chunk_tokens"] == chunk]
    assert len(rows) == n and len(full) >= n // 2  # the rest: the short last chunk of a 128-document group
    assert all(r["chunk_tokens"] < chunk for r in rows if r not in full)
    for row in full:
        ids, tgt = row["inputs_ids"], row["targets_ids"]
        assert (len(ids), len(tgt)) == (inputs_length, targets) and ids[-1] == tgt[-1] == 1
        assert sentinels(ids) == sentinels(tgt) == list(range(32099, 32099 - spans, -1))
        assert ids[0] < 32000
        assert reassemble(ids, tgt) == chunks[row["chunk"]].tolist()
        assert "<extra_id_0>" in row["inputs"] and row["targets"].startswith("<extra_id_0>")


@pytest.mark.parametrize(("args", "needle"), [
    (["--objective", "span_corupt"], "did you mean span_corruption"),
    (["--noise-density", "1.5"], "strictly between 0 and 1"),
    (["--targets-length", "100"], "--targets-length 114"),
    (["--batch-tokens", "100"], "below one sequence"),
])
def test_bad_input_is_one_line_and_writes_nothing(args: list[str], needle: str, corpus: Path, vocab_path: Path,
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = pretrain("--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), "--out", str(out),
                    "--steps", "2", *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and needle in err and "\n" not in err
    assert not out.exists()


def test_bad_corpus_is_one_line(tmp_path: Path, vocab_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text\n\nbroken \xff here")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    for path, needle in ((bad, f"{bad}: not UTF-8 text at byte offset 18"), (empty, "empty corpus")):
        code = pretrain("--model", "tiny", "--corpus", str(path), "--vocab", str(vocab_path), "--out",
                        str(tmp_path / "out"))
        err = capsys.readouterr().err.strip()
        assert code == 2 and needle in err and "\n" not in err
    assert not (tmp_path / "out").exists()


TRAIN = ["--model", "tiny", "--inputs-length", "64", "--batch-tokens", "256", "--steps", "8", "--save-every", "2",
         "--log-every", "2", "--threads", "1"]


def test_output_folder_loads_and_is_recorded(corpus: Path, vocab_path: Path, tmp_path: Path) -> None:
    out, ex = tmp_path / "pt", tmp_path / "ex.jsonl"
    assert pretrain(*TRAIN, "--steps", "3", "--corpus", str(corpus), "--vocab", str(vocab_path), "--out",
                    str(out), "--export", "2", str(ex)) == 0
    assert len(ex.read_text().splitlines()) == 2
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "spiece.model",
                                               "pretrain.json", "settings.json", "t5eval-folder.json"}
    loaded = load_model(out)  # what `t5eval run --model DIR` does
    record = json.loads((out / "pretrain.json").read_text())
    assert record["model"]["weights_sha256"] == state_dict_sha256(loaded.model)
    assert record["model"]["weights_sha256"] != record["model"]["initial_weights_sha256"]
    assert record["steps"] == 3 and record["examples_seen"] == 3 * 4  # 256 // 64 rows per step
    assert record["settings"]["dropout"] == 0.1  # tiny is v1.0: the paper's dropout
    assert record["objective"]["tokens_per_chunk"] == 70 and record["corpus"]["files"] == {
        str(corpus): record["corpus"]["files"][str(corpus)]}
    assert record["tokens_seen"] == record["padding"]["real_tokens"] > 0
    assert [h["step"] for h in record["loss_history"]] == [2, 3]
    at = record["command"].index("--export")
    assert record["command"][at:at + 3] == ["--export", "2", str(ex)] and record["command"][1] == "pretrain"
    assert T5Tokenizer.find(out, None).sha256 == T5Tokenizer(vocab_path).sha256
    # continue from the folder (its own spiece.model, no --vocab)
    more = tmp_path / "more"
    assert pretrain("--model", str(out), "--init", "pretrained", "--corpus", str(corpus), "--steps", "1",
                    "--inputs-length", "64", "--batch-tokens", "256", "--threads", "1", "--out", str(more)) == 0
    continued = json.loads((more / "pretrain.json").read_text())
    assert continued["model"]["initial_weights_sha256"] == loaded.weights_sha256
    assert continued["vocab"]["path"] == str(out / "spiece.model")


def same_weights(a: Path, b: Path) -> bool:
    want, got = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


def test_crash_mid_run_resumes_to_identical_weights(corpus: Path, vocab_path: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process stand-in for kill -9 (fast): the step after the step-4 checkpoint dies."""
    import t5eval.pretrain.loop as loop

    common = [*TRAIN, "--corpus", str(corpus), "--vocab", str(vocab_path)]
    reference = tmp_path / "reference"
    assert pretrain(*common, "--out", str(reference)) == 0
    real_step = loop.train_step
    calls = []

    def dies_at_step_5(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 5:
            raise MemoryError("simulated crash")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", dies_at_step_5)
    crashed = tmp_path / "crashed"
    with pytest.raises(MemoryError):
        pretrain(*common, "--out", str(crashed))
    monkeypatch.setattr(loop, "train_step", real_step)
    assert (crashed / "checkpoint.pt").exists() and not (crashed / "pretrain.json").exists()
    assert pretrain(*common, "--out", str(crashed)) == 0
    assert json.loads((crashed / "pretrain.json").read_text())["resumed_from"] == [4]
    assert not (crashed / "checkpoint.pt").exists()
    assert same_weights(reference, crashed)


@pytest.mark.slow
def test_kill_9_resumes_to_identical_weights(corpus: Path, vocab_path: Path, tmp_path: Path) -> None:
    common = [*TRAIN, "--corpus", str(corpus), "--vocab", str(vocab_path)]
    reference = tmp_path / "reference"
    assert pretrain(*common, "--out", str(reference)) == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "t5eval", "pretrain", *common, "--out", str(killed)],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (killed / "pretrain.json").exists()
    assert pretrain(*common, "--out", str(killed)) == 0
    record = json.loads((killed / "pretrain.json").read_text())
    assert record["resumed_from"] and record["resumed_from"][0] < 8
    assert same_weights(reference, killed)
    assert np.isclose(record["loss_history"][-1]["loss"],
                      json.loads((reference / "pretrain.json").read_text())["loss_history"][-1]["loss"], rtol=0)
