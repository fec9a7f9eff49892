"""GPT-2 tokenizer: the official files (sha256 as shared/vocab/README.md) and ids equal to transformers'
GPT2TokenizerFast on the eval texts of every GPT-2 task (prompts, targets, WSC candidate texts)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from t5eval.tasks import TaskRegistry, load_examples
from t5eval.tokenizer import GPT2Tokenizer

from .conftest import GPT2_VOCAB

SHA256 = {"vocab.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
          "merges.txt": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"}


def test_official_files() -> None:
    for name, digest in SHA256.items():
        assert hashlib.sha256((GPT2_VOCAB / name).read_bytes()).hexdigest() == digest
    tok = GPT2Tokenizer(GPT2_VOCAB)
    assert (tok.vocab_size, tok.eos_id) == (50257, 50256)
    # hand-checked against OpenAI's encoder.json: "Hello" 15496, " world" 995, "\n" 198, "TL" 14990
    assert tok.encode("Hello world\nTL") == [15496, 995, 198, 14990]
    assert tok.decode([15496, 995, 50256, 198]) == "Hello world"


def eval_texts(data_dir: Path, limit: int | None) -> dict[str, list[str]]:
    """Per GPT-2 task: every prompt, target and WSC candidate prompt/continuation of its eval split."""
    reg = TaskRegistry.default()
    out = {}
    for name in reg.benchmark("gpt2_zero_shot").members:
        spec = reg.get(name)
        examples = load_examples(spec, spec.splits["eval"], data_dir, limit=limit).examples
        texts = [t for ex in examples for t in (ex.inputs, ex.targets)]
        texts += [c[k] for ex in examples for c in ex.fields.get("choices", []) for k in ("prompt", "continuation")]
        out[name] = texts
    return out


def _disagreements(texts: list[str]) -> list[str]:
    from transformers import GPT2TokenizerFast

    ours = GPT2Tokenizer(GPT2_VOCAB)
    theirs = GPT2TokenizerFast(str(GPT2_VOCAB / "vocab.json"), str(GPT2_VOCAB / "merges.txt"))
    reference = theirs(texts)["input_ids"]
    return [t for t, ids in zip(texts, reference, strict=True) if ours.encode(t) != ids]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ids_equal_transformers_on_a_sample_of_each_task(data_dir: Path) -> None:
    for name, texts in eval_texts(data_dir, limit=40).items():
        assert len(texts) >= 80, name
        assert _disagreements(texts) == [], name


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ids_equal_transformers_on_every_eval_text(data_dir: Path) -> None:
    counts = {name: (len(texts), len(_disagreements(texts))) for name, texts in eval_texts(data_dir, None).items()}
    print(counts)
    assert all(bad == 0 for _, bad in counts.values()), counts
