"""`t5eval pretrain` behaves like `t5eval run` (issue 28 items 6-8, issue 27's MFU line): every argument is
checked before the corpus is read, progress lines carry tok/s, MFU and ETA, Ctrl-C saves and says how to
resume, and `run --model` on a pre-training or run folder says what the folder is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from t5eval.results import write_settings
from t5eval.trust import PRETRAIN, RUN, write_marker
from tests.pretrain.test_pretrain_cli import REPO, TRAIN, pretrain

NO_CORPUS = "no/such/corpus.txt"  # every refusal below must come before the corpus is looked at


def _run_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    write_marker(path, RUN)  # what `t5eval run` writes first
    write_settings(path, {"tasks": ["glue_sst2_v002"], "steps": 10, "batch_tokens": 1024})
    return path


@pytest.mark.parametrize(("case", "needle"), [
    ("out_is_file", "is an existing file, not a folder"),
    ("out_under_file", "which is a file, not a folder"),
    ("out_is_run_folder", "holds a t5eval run (t5eval run), not a t5eval pre-training"),
    ("export_trailing_slash", "names a folder; give a file path"),
    ("export_is_dir", "is a folder; give a file path"),
    ("gpt2_model", "--model tiny-gpt2 is a gpt2 model; t5eval pre-trains t5, t5lm models"),
    ("bert_model", "--model tiny-bert is a bert model; t5eval pre-trains t5, t5lm models"),
    ("missing_model_folder", "folder does not exist"),
    ("cuda_without_gpu", "CUDA is not available on this machine"),
])  # fmt: skip
def test_bad_arguments_are_refused_before_the_corpus(case: str, needle: str, tmp_path: Path, vocab_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    if case == "cuda_without_gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    (tmp_path / "adir").mkdir()
    args = {"out_is_file": ["--out", str(a_file)],
            "out_under_file": ["--out", str(a_file / "sub")],
            "out_is_run_folder": ["--out", str(_run_folder(tmp_path / "run"))],
            "export_trailing_slash": ["--export", "3", str(tmp_path / "new") + "/"],
            "export_is_dir": ["--export", "3", str(tmp_path / "adir")],
            "gpt2_model": ["--model", "tiny-gpt2", "--out", str(tmp_path / "o")],
            "bert_model": ["--model", "tiny-bert", "--out", str(tmp_path / "o")],
            "missing_model_folder": ["--model", str(tmp_path / "nope" / "best"), "--out", str(tmp_path / "o")],
            "cuda_without_gpu": ["--device", "cuda", "--out", str(tmp_path / "o")]}[case]
    model = [] if "--model" in args else ["--model", "tiny"]
    code = pretrain(*model, "--corpus", NO_CORPUS, "--vocab", str(vocab_path), *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "\n" not in err and needle in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "new").exists()


def test_progress_lines_and_record_carry_tokens_per_s_mfu_and_eta(tmp_path: Path, vocab_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(" ".join(["word"] * 40 + [str(i)]) for i in range(200)), encoding="utf-8")
    out = tmp_path / "pt"
    assert pretrain(*TRAIN, "--steps", "4", "--corpus", str(corpus), "--vocab", str(vocab_path),
                    "--out", str(out)) == 0
    err = capsys.readouterr().err
    assert "planned 4 steps x 4 rows of 64 input tokens on cpu; matmul peak" in err
    logged = [line for line in err.splitlines() if line.startswith(("step 2/4", "step 4/4"))]
    assert len(logged) == 2 and all(" tok/s  MFU " in line and "%  ETA " in line for line in logged), err
    record = json.loads((out / "pretrain.json").read_text())
    assert record["settings"]["device"] == "cpu"  # the default on a machine without a GPU, as `run`'s
    for entry in record["loss_history"]:
        assert entry["tokens_per_s"] > 0 and 0 < entry["mfu"] < 1 and entry["seconds_per_step"] > 0
    block = record["throughput"]
    assert block["matmul_peak_gflops"] > 0 and block["train_flops_per_token"] > 0 and 0 < block["mfu"] < 1
    # MFU is its definition: FLOPs per token x tokens/s over the peak
    assert block["mfu"] == pytest.approx(block["train_flops_per_token"] * block["tokens_per_s"]
                                         / (block["matmul_peak_gflops"] * 1e9))


def test_train_flops_per_row_counts_three_forwards_of_matmuls() -> None:
    from t5eval.train.throughput import train_flops_per_row

    layer = torch.nn.Linear(8, 4, bias=False)  # forward: 2 x 3 x 8 x 4 FLOPs on a (3, 8) input
    assert train_flops_per_row(lambda: layer(torch.ones(3, 8))) == 3 * 2 * 3 * 8 * 4


def test_ctrl_c_finishes_the_step_saves_and_prints_the_resume_command(tmp_path: Path, vocab_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(" ".join(["word"] * 40 + [str(i)]) for i in range(200)), encoding="utf-8")
    out = tmp_path / "pt"
    argv = [sys.executable, "-m", "t5eval", "pretrain", *TRAIN, "--steps", "100000", "--save-every", "100000",
            "--corpus", str(corpus), "--vocab", str(vocab_path), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "T5EVAL_PROGRESS_EVERY_S": "0"}
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # plain progress lines: training has started
        if line.startswith("train pretrain") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    message = rest.strip().splitlines()[-1]
    assert message.startswith("interrupted: step ") and f"is saved in {out}; resume with: " in message
    assert (out / "checkpoint.pt").is_file() and not (out / "pretrain.json").exists()
    assert "--out" in message and "pretrain" in message  # the command as given, which resumes


def test_run_model_on_an_unfinished_pretraining_or_a_run_folder_says_so(tmp_path: Path, data_dir: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from t5eval import cli

    unfinished = tmp_path / "pt"
    unfinished.mkdir()
    write_marker(unfinished, PRETRAIN)  # what `t5eval pretrain` writes first
    write_settings(unfinished, {"model": "tiny", "corpus": {"source": "c.txt"}, "steps": 8})
    (unfinished / "checkpoint.pt").write_bytes(b"")
    run_dir = _run_folder(tmp_path / "run")
    for folder, needle in ((unfinished, "holds an unfinished pre-training (no pretrain.json yet): finish it by "
                                        f"running its `t5eval pretrain ... --out {unfinished}` command again"),
                           (run_dir, "is a run folder of `t5eval run`, not a model"),
                           (tmp_path / "results" / "x" / "best", "folder does not exist")):
        with pytest.raises(SystemExit) as done:
            cli.main(["run", "sst2", "--model", str(folder), "--no-finetune", "--data-dir", str(data_dir),
                      "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip()
        assert done.value.code == 2 and needle in err and "\n" not in err, err
