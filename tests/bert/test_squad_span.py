"""BERT's SQuAD v1.1 span head (google-research/bert run_squad.py): windows with doc stride, max-context,
gold positions, n-best decoding, qa_outputs loaded, logits as transformers' BertForQuestionAnswering, and
`t5eval run squad` end to end. Expectations are worked by hand from run_squad.py's rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from t5eval.cli import main
from t5eval.eval.squad_span import (
    EMPTY,
    SpanSettings,
    Window,
    answer_text,
    is_max_context,
    window_starts,
    windows_of,
)

from .conftest import save_hf_bert

torch.set_num_threads(1)


class _Words:
    """A whitespace 'tokenizer': one piece per word, ids 10 + word index, [CLS] 1, [SEP] 2, pad 0."""

    pad_id = 0

    def pieces(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        ids, offsets, at = [], [], 0
        for word in text.split(" "):
            ids.append(10 + len(ids))
            offsets.append((at, at + len(word)))
            at += len(word) + 1
        return ids, offsets

    def special_id(self, token: str) -> int:
        return {"[CLS]": 1, "[SEP]": 2}[token]


def test_windows_stride_and_max_context_as_run_squad() -> None:
    # 10 context pieces, 4 per window, stride 3: starts 0, 3, 6 (6 + 4 = 10 ends it)
    assert window_starts(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert window_starts(3, 4, 3) == [(0, 3)]
    spans = window_starts(10, 4, 3)
    # piece 6: window 1 (3..6) scores min(3, 0) + 0.04, window 2 (6..9) min(0, 3) + 0.04: equal, the first wins
    assert is_max_context(spans, 1, 6) and not is_max_context(spans, 2, 6)
    # piece 4: window 0 (0..3) does not hold it; window 1: min(1, 2) + 0.04
    assert is_max_context(spans, 1, 4) and not is_max_context(spans, 0, 4)


def test_window_layout_and_gold_positions() -> None:
    context = "a b c d e f g h i j"  # 10 words, word k at characters 2k..2k+1
    settings = SpanSettings(max_seq_len=9, doc_stride=3, max_query_len=2)  # question cut to 2: 4 context pieces a window
    windows = windows_of(0, "q1 q2 q3", context, _Words(), settings, answer=(10, "f g"))  # words 5-6
    assert [w.length for w in windows] == [9, 9, 9]  # 1 + 2 + 1 + 4 + 1: no padding left
    first = windows[0]
    assert first.ids == [1, 10, 11, 2, 10, 11, 12, 13, 2]  # [CLS] q1 q2 [SEP] a b c d [SEP]
    assert first.types == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert first.offsets[:4] == [None] * 4 and first.offsets[4] == (0, 1) and first.offsets[8] is None
    # words 5-6 lie in window 1 (words 3..6) at positions 4 + 2, 4 + 3, and in window 2 (words 6..9) only in part
    assert [(w.start, w.end) for w in windows] == [(0, 0), (6, 7), (0, 0)]
    assert windows[1].max_context == [False] * 4 + [False, True, True, True] + [False]  # word 3 belongs to window 0


def _window(max_context: list[bool]) -> Window:
    offsets: list[tuple[int, int] | None] = [None, None, (0, 3), (4, 9), (10, 13), None]  # [CLS], question, 3 words
    return Window(0, [0] * 6, [0] * 6, offsets, max_context, 6)


def test_decoding_keeps_the_best_qualifying_span_by_start_plus_end() -> None:
    context = "The quick fox"
    settings = SpanSettings(n_best=3, max_answer_len=2)
    window = _window([False, False, True, True, True, False])
    logits = torch.tensor([[9.0, 9.0], [0.0, 0.0], [1.0, 0.5], [3.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    # top-3 starts: 0 (9), 3 (3), 2 (1); top-3 ends: 0 (9), 4 (2), 2 (0.5). Position 0 is [CLS]: no context.
    # (3, 4): 3 + 2 = 5; (2, 4): 3 pieces > max 2; (2, 2): 1.5; (3, 2): end < start. Best: "quick fox"
    assert answer_text(context, [window], [logits], settings) == "quick fox"
    not_max = _window([False, False, True, False, True, False])  # piece 3's max context is another window
    assert answer_text(context, [not_max], [logits], settings) == "The"  # (2, 2): 1.5
    only_cls = torch.zeros(6, 2)
    only_cls[0] = 50.0
    assert answer_text(context, [window], [only_cls], SpanSettings(n_best=1)) == EMPTY


def test_span_logits_equal_transformers_bert_for_question_answering(tmp_path: Path) -> None:
    import transformers

    from t5eval.model import load_model
    from t5eval.model.bert.weights import read_qa_outputs
    from t5eval.model.heads import SpanHeadModel

    model_dir = save_hf_bert(tmp_path / "qa", kind="BertForQuestionAnswering", seed=3)
    reference = transformers.BertForQuestionAnswering.from_pretrained(model_dir).eval()
    loaded = load_model(str(model_dir))
    qa = read_qa_outputs(model_dir)
    assert qa is not None and qa["weight"].shape == (2, 32)
    model = SpanHeadModel(loaded.model, 32, seed=0)
    model.load_qa_outputs(qa)
    ids = torch.randint(5, 120, (2, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    with torch.no_grad():
        ours = model.eval()(ids, mask, types)
        theirs = reference(input_ids=ids, attention_mask=mask, token_type_ids=types)
    torch.testing.assert_close(ours[..., 0], theirs.start_logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours[..., 1], theirs.end_logits, rtol=1e-4, atol=1e-5)
    assert read_qa_outputs(save_hf_bert(tmp_path / "plain", seed=3)) is None
    from t5eval.errors import T5evalError
    from t5eval.model.heads import HeadModel

    with pytest.raises(T5evalError, match="has no pooler"):  # BertForQuestionAnswering saves none
        HeadModel(loaded.model, 32, 2, 0.1, seed=0)


def _squad_json(path: Path, questions: list[tuple[str, str, str, int]]) -> None:
    """[(context, question, answer, answer_start)] as a SQuAD v1.1 file (one paragraph per question)."""
    data = [{"title": f"t{i}", "paragraphs": [{"context": c, "qas": [
        {"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": s}]}]}]}
        for i, (c, q, a, s) in enumerate(questions)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": data}))


def _questions() -> list[tuple[str, str, str, int]]:
    long = " ".join(["The committee met in the old hall to discuss the budget for the coming year ."] * 40)
    tail = " Denver won the game ."
    return [(long + tail, "Who won the game?", "Denver", len(long) + 1),
            ("The cat sat on the mat .", "Where did the cat sit?", "on the mat", 12),
            ("Water boils at one hundred degrees .", "When does water boil?", "one hundred degrees", 15)]


def test_run_squad_with_a_span_head_end_to_end(wordpiece_vocab: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    for split in ("train-v1.1.json", "dev-v1.1.json"):
        _squad_json(data / "squad" / split, _questions())
    model_dir = save_hf_bert(tmp_path / "qa", kind="BertForQuestionAnswering", vocab_size=30522,
                             max_position_embeddings=512, seed=3)
    shutil.copy(wordpiece_vocab, model_dir / "vocab.txt")
    out = tmp_path / "eval"
    common = ["--data-dir", str(data), "--threads", "1", "--device", "cpu"]
    with pytest.raises(SystemExit) as info:
        main(["run", "squad", "--model", str(model_dir), "--no-finetune", "--out", str(out), *common])
    assert info.value.code in (0, None)
    assert "qa_outputs loaded" in capsys.readouterr().err
    task = json.loads((out / "run.json").read_text())["tasks"]["squad_v010_allanswers"]
    assert set(task["metrics"]) == {"em", "f1"} and task["n"] == 3
    assert task["decode"]["span"]["max_seq_len"] == 384 and task["decode"]["span"]["windows"] > 3  # the long context
    rows = [json.loads(line) for line in (out / "squad_v010_allanswers" / "predictions.jsonl").read_text().splitlines()]
    contexts = [c for c, _, _, _ in _questions()]
    assert all(r["prediction"] == EMPTY or r["prediction"] in c for r, c in zip(rows, contexts, strict=True))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["score", "squad", "--predictions", str(out / "squad_v010_allanswers" / "predictions.jsonl"),
              "--data-dir", str(data)])
    assert json.loads(capsys.readouterr().out)["metrics"] == pytest.approx(task["metrics"], abs=1e-9)

    trained = tmp_path / "train"
    with pytest.raises(SystemExit) as info:
        main(["run", "squad", "--model", "tiny-bert", "--init", "random", "--vocab", str(wordpiece_vocab),
              "--out", str(trained), "--epochs", "1", "--batch-size", "2", "--lr", "1e-3", *common])
    assert info.value.code in (0, None)
    task = json.loads((trained / "run.json").read_text())["tasks"]["squad_v010_allanswers"]
    windows = task["decode"]["span"]["windows"]  # train = dev here: the same windows
    assert task["train"]["steps"] == -(-windows // 2) and [h["step"] for h in task["history"]] == [task["train"]["steps"]]  # once, at the end of the epoch
    assert (trained / "squad_v010_allanswers" / "best" / "head_model.safetensors").is_file()
