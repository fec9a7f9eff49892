"""`t5eval pretrain` options of issue 25: --corpus-tokens (Table 9), the Table 2 architectures, --lm-loss.

At --inputs-length 64 span corruption cuts chunks of 70 tokens (random_spans_helper(64, 0.15, 3) = (70, 17):
70 tokens, 15% noise = 10.5 -> 10 noise tokens in 3 spans -> 60 + 3 sentinels + EOS = 64 inputs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5eval.pretrain.corpus import first_tokens, load_chunks
from t5eval.tokenizer import T5Tokenizer
from tests.pretrain.test_objectives import reassemble
from tests.pretrain.test_pretrain_cli import corpus, pretrain  # noqa: F401 (the corpus fixture)

CHUNK = 70
SMALL = ["--inputs-length", "64", "--batch-tokens", "128", "--threads", "1"]  # 128 // 64 = 2 rows per step


def test_first_tokens_cuts_the_last_chunk() -> None:
    import numpy as np

    chunks = [np.arange(5), np.arange(5, 10), np.arange(10, 12)]
    kept = first_tokens(iter(chunks), 7, "c.txt")
    assert [c.tolist() for c in kept] == [[0, 1, 2, 3, 4], [5, 6]]
    assert [c.tolist() for c in first_tokens(iter(chunks), 10, "c.txt")] == [list(range(5)), list(range(5, 10))]
    from t5eval.errors import T5evalError

    with pytest.raises(T5evalError, match="holds only 12 tokens"):
        first_tokens(iter(chunks), 13, "c.txt")


def test_export_sees_only_the_first_n_tokens_each_pass_once(corpus: Path, vocab_path: Path,  # noqa: F811
                                                            tmp_path: Path) -> None:
    """N = 280 = 4 chunks of 70: 12 examples are 3 passes, each visiting chunks 0..3 once; the chunks are the
    corpus's first four in corpus order (spans put back from the targets)."""
    out = tmp_path / "ex.jsonl"
    assert pretrain("--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), *SMALL,
                    "--corpus-tokens", "280", "--export", "12", str(out)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["epoch"], sorted(x["chunk"] for x in rows if x["epoch"] == r["epoch"])) for r in rows[::4]] == [
        (0, [0, 1, 2, 3]), (1, [0, 1, 2, 3]), (2, [0, 1, 2, 3])]
    chunks, _ = load_chunks(str(corpus), T5Tokenizer(vocab_path), CHUNK, seed=0)
    for row in rows:
        assert row["chunk_tokens"] == CHUNK
        assert reassemble(row["inputs_ids"], row["targets_ids"]) == chunks[row["chunk"]].tolist()


@pytest.mark.parametrize(("tokens", "chunks", "repeats"), [(280, 4, 3.0), (284, 5, 2.4)])
def test_pretrain_records_n_and_repeats_by_hand(corpus: Path, vocab_path: Path, tmp_path: Path,  # noqa: F811
                                                tokens: int, chunks: int, repeats: float) -> None:
    """6 steps x 2 rows = 12 examples (one chunk each). N = 280: 4 chunks, 12 / 4 = 3 repeats; N = 284: 4 full
    chunks + one of 4 tokens, 12 / 5 = 2.4. History every 2 steps: 4 examples more each time. The shared
    architecture's record carries its hand-counted parameters (tests/model/test_architectures.py)."""
    out = tmp_path / "out"
    assert pretrain("--model", "tiny-shared", "--corpus", str(corpus), "--vocab", str(vocab_path), *SMALL,
                    "--steps", "6", "--log-every", "2", "--corpus-tokens", str(tokens), "--out", str(out)) == 0
    record = json.loads((out / "pretrain.json").read_text())
    trunc = record["corpus_tokens"]
    assert (trunc["tokens"], trunc["chunks"], trunc["examples_seen"], trunc["repeats"]) == (tokens, chunks, 12,
                                                                                          repeats)
    assert [h["repeats"] for h in trunc["loss_by_repeats"]] == pytest.approx([4 / chunks, 8 / chunks, 12 / chunks])
    assert [h["step"] for h in trunc["loss_by_repeats"]] == [2, 4, 6]
    assert record["model"]["cost"]["params"] == 2_155_072 and record["model"]["config"]["shared_encoder_decoder"]


def test_more_tokens_than_the_corpus_is_one_line(corpus: Path, vocab_path: Path, tmp_path: Path,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = pretrain("--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), *SMALL,
                    "--corpus-tokens", "100000000", "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--corpus-tokens 100,000,000: --corpus" in err and "holds only" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_decoder_only_pretrains_with_the_lm_loss_on_every_token(corpus: Path, vocab_path: Path,  # noqa: F811
                                                                tmp_path: Path) -> None:
    out = tmp_path / "lm"
    assert pretrain("--model", "tiny-lm", "--objective", "prefix_lm", "--lm-loss", "all", "--corpus", str(corpus),
                    "--vocab", str(vocab_path), *SMALL, "--steps", "2", "--out", str(out)) == 0
    record = json.loads((out / "pretrain.json").read_text())
    assert record["settings"]["lm_loss"] == "all" and record["model"]["config"]["model_type"] == "t5lm"
    assert record["model"]["cost"]["flops_per_token"] == 131_072


@pytest.mark.parametrize(("args", "needle"), [
    (["--model", "tiny-gpt2"], "--model tiny-gpt2 is a gpt2 model; t5eval pre-trains t5, t5lm models"),
    (["--model", "tiny", "--lm-loss", "all"], "--lm-loss all applies to decoder-only models"),
    (["--model", "tiny-lm", "--lm-loss", "every"], "--lm-loss 'every' is not known"),
])  # fmt: skip
def test_refusals_are_one_line(args: list[str], needle: str, corpus: Path, vocab_path: Path,  # noqa: F811
                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = pretrain(*args, "--corpus", str(corpus), "--vocab", str(vocab_path), *SMALL, "--steps", "2",
                    "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def _streams(corpus_path: Path, vocab: Path, probabilities: list[float]):
    from t5eval.pretrain.mixed import MixedStream, TaskExamples
    from t5eval.pretrain.objectives import make_objective
    from t5eval.pretrain.stream import ExampleStream, LocalChunks

    obj = make_objective("span_corruption", 64)
    chunks, _ = load_chunks(str(corpus_path), T5Tokenizer(vocab), obj.tokens_per_chunk, seed=0)
    task = TaskExamples("toy", [[10 + i, 1] for i in range(5)], [[100 + i, 1] for i in range(5)], 5.0)
    plain = ExampleStream(LocalChunks(chunks, 0), obj, 0, 2)
    mixed = MixedStream(LocalChunks(chunks, 0), obj, 0, 2, tasks=[task], probabilities=probabilities)
    return plain, mixed


def test_mixed_stream_of_the_corpus_alone_is_the_plain_stream(corpus: Path, vocab_path: Path) -> None:  # noqa: F811
    plain, mixed = _streams(corpus, vocab_path, [1.0, 0.0])
    assert [mixed.example(i)[:2] for i in range(8)] == [plain.example(i)[:2] for i in range(8)]


def test_a_task_member_visits_each_example_once_per_pass(corpus: Path, vocab_path: Path) -> None:  # noqa: F811
    _, mixed = _streams(corpus, vocab_path, [0.0, 1.0])
    first, second = ([mixed.example(i)[0][0] for i in range(p * 5, p * 5 + 5)] for p in (0, 1))
    assert sorted(first) == sorted(second) == [10, 11, 12, 13, 14] and first != second  # two seeded orders


def test_member_draws_follow_the_rates_and_resume(corpus: Path, vocab_path: Path) -> None:  # noqa: F811
    """Probabilities 1/3 and 2/3: over 3,000 seeded draws the corpus share is 1/3 within 0.03 (3.5 standard
    deviations of a binomial share); a stream restored from its state continues the same batches."""
    _, mixed = _streams(corpus, vocab_path, [1 / 3, 2 / 3])
    share = sum(mixed._member(i) == 0 for i in range(3000)) / 3000
    assert abs(share - 1 / 3) < 0.03
    for _ in range(3):
        mixed.next_batch()
    state = mixed.state_dict()
    after = [mixed.next_batch().input_ids.tolist() for _ in range(3)]
    _, again = _streams(corpus, vocab_path, [1 / 3, 2 / 3])
    again.load_state_dict(state)
    assert [again.next_batch().input_ids.tolist() for _ in range(3)] == after


def test_member_rates_by_hand() -> None:
    """Corpus of 264 chunks, CB 250, COPA 400. proportional:300 -> 264, 250, 300 (Σ 814); --corpus-rate 0 leaves
    the corpus out (supervised multi-task pre-training): 250 / 550 and 300 / 550."""
    from t5eval.pretrain.mixed import TaskExamples, member_rates

    tasks = [TaskExamples("cb", [[1]] * 250, [[1]] * 250, 250.0), TaskExamples("copa", [[1]] * 400, [[1]] * 400, 400.0)]
    rates = member_rates("proportional:300", 264, None, tasks)
    assert [r["rate"] for r in rates.values()] == [264.0, 250.0, 300.0]
    assert rates["corpus"]["probability"] == pytest.approx(264 / 814)
    alone = member_rates("proportional:300", 264, 0.0, tasks)
    assert [r["probability"] for r in alone.values()] == pytest.approx([0.0, 250 / 550, 300 / 550])
    assert [r["rate"] for r in member_rates("equal", 264, 1e6, tasks).values()] == [1e6, 1.0, 1.0]


def test_mix_tasks_cli_records_the_mixture(corpus: Path, vocab_path: Path, data_dir: Path,  # noqa: F811
                                           tmp_path: Path) -> None:
    out, ex = tmp_path / "mt", tmp_path / "ex.jsonl"
    assert pretrain("--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), *SMALL, "--steps", "2",
                    "--mix-tasks", "cb", "--corpus-rate", "0", "--data-dir", str(data_dir), "--out", str(out),
                    "--export", "6", str(ex)) == 0
    rows = [json.loads(line) for line in ex.read_text().splitlines()]
    assert {r["member"] for r in rows} == {"super_glue_cb_v102"} and rows[0]["inputs"].startswith("cb hypothesis:")
    members = json.loads((out / "pretrain.json").read_text())["mixture"]["members"]
    assert members["super_glue_cb_v102"] == {"examples": 250, "rate": 250.0, "probability": 1.0}
    assert members["corpus"]["rate"] == 0.0


def test_mixing_without_mix_tasks_is_one_line(corpus: Path, vocab_path: Path, tmp_path: Path,  # noqa: F811
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert pretrain("--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), "--mixing", "equal",
                    "--out", str(tmp_path / "o")) == 2
    assert "add --mix-tasks TASKS" in capsys.readouterr().err


def test_corpus_tokens_with_mix_tasks_is_refused(corpus: Path, vocab_path: Path, data_dir: Path,  # noqa: F811
                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pretrain("--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), *SMALL,
                    "--corpus-tokens", "280", "--mix-tasks", "cb", "--data-dir", str(data_dir),
                    "--out", str(tmp_path / "o")) == 2
    assert "--corpus-tokens counts repeats of a corpus-only run" in capsys.readouterr().err
