"""Loading a task's split: local files (under --data-dir / $T5EVAL_DATA_DIR) or the HF hub copy,
then row normalisation and T5's preprocessor, giving `Example`s in file order.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.tasks.preprocess import PREPROCESSORS
from t5eval.tasks.prompts import render, wsc_choices
from t5eval.tasks.readers import READERS
from t5eval.tasks.rows import DataWarning, hf_to_raw, normalize_row
from t5eval.tasks.spec import Candidate, TaskSpec, check_protocol

DATA_DIR_ENV = "T5EVAL_DATA_DIR"


@dataclass(frozen=True)
class Example:
    """One text-to-text example. `index` is its position in the split (file order, after ReCoRD's
    one-example-per-answer expansion); `fields` holds what T5 keeps (idx, idx/question, answers, label…)."""

    index: int
    inputs: str
    targets: str
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The export line: index, inputs, targets and the kept fields."""
        return {"index": self.index, "inputs": self.inputs, "targets": self.targets, **self.fields}


@dataclass(frozen=True)
class ExampleSet:
    """A loaded split: examples, the files read (path -> sha256), and where they came from."""

    examples: list[Example]
    files: dict[str, str] = field(default_factory=dict)
    source: str = ""


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """--data-dir wins, else $T5EVAL_DATA_DIR, else None (use the hub). A missing folder is an error.

    The folder is returned absolute, so run.json (data_files, data_source) and settings.json record
    data paths the same way, whatever folder the command ran in.
    """
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        return None
    root = Path(chosen).expanduser().resolve()
    if not root.is_dir():
        raise T5evalError(f"data dir {root} does not exist; pass --data-dir DIR (or set {DATA_DIR_ENV})")
    return root


def _check_split(spec: TaskSpec, split: str) -> None:
    if split not in spec.split_names:
        raise T5evalError(f"task {spec.name} has no split {split!r}; splits: {', '.join(spec.split_names)}")


def find_candidate(spec: TaskSpec, split: str, root: Path) -> Candidate | None:
    """The first local candidate of `split` whose files all exist under `root`, or None."""
    for cand in spec.local.get(split, ()):
        if all((root / f).is_file() for f in cand.files):
            return cand
    return None


def has_split(spec: TaskSpec, split: str, data_dir: str | Path | None = None) -> bool:
    """True when `split` can be loaded: its local files exist (with a data dir) or the hub declares it."""
    root = resolve_data_dir(data_dir)
    if root is not None:
        return find_candidate(spec, split, root) is not None
    return spec.hf is not None and split in spec.hf.splits


def missing_split_hint(spec: TaskSpec, split: str, data_dir: str | Path | None = None) -> str:
    """For an error about `split` missing from the data folder: the files looked for, and `--split test` when
    the folder holds the task's test split instead ("" without a local data folder)."""
    root = resolve_data_dir(data_dir)
    if root is None:
        return ""
    hint = f"expected {_expected(spec, split, root)}"
    test = spec.splits.get("test")
    found = find_candidate(spec, test, root) if test and test != split else None
    if found is not None:
        files = " + ".join(str(root / f) for f in found.files)
        hint += f"; the folder has the {test} split ({files}): add --split {test} --no-finetune to score a checkpoint on it"
    return hint


def _expected(spec: TaskSpec, split: str, root: Path) -> str:
    options = [" + ".join(str(root / f) for f in c.files) for c in spec.local.get(split, ())]
    return " or ".join(options) if options else "(no local layout for this split)"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_rows(spec: TaskSpec, split: str, root: Path) -> tuple[list[tuple[str, dict]], dict[str, str], dict]:
    """Raw rows of a local split, the files read (path -> sha256), and the reader args used."""
    cand = find_candidate(spec, split, root)
    if cand is None:
        raise T5evalError(f"task {spec.name}, split {split}: no local file; expected "
                          f"{_expected(spec, split, root)} (set --data-dir to the folder holding them)")
    if cand.warning:
        warnings.warn(f"task {spec.name}: {cand.warning}", DataWarning, stacklevel=2)  # same for each split
    paths = [root / f for f in cand.files]
    rows = READERS[cand.reader](paths, cand.reader_args)
    return rows, {str(p): _sha256(p) for p in paths}, cand.reader_args


HubLoader = Callable[[str, str | None, str, str | None], Iterable[Mapping[str, Any]]]


def require_hub(spec: TaskSpec) -> None:
    """Refuse at once, in one line naming --data-dir, when the hub cannot be reached (`t5eval.hub`).

    Raises:
        T5evalError: the hub is offline or does not answer within a second or two.
    """
    from t5eval.hub import hub_unreachable_reason

    hf = spec.hf
    if hf is not None and Path(hf.path).is_dir():
        return  # a local copy laid out as the hub's repo: no network needed
    reason = hub_unreachable_reason()
    if reason is not None:
        raise T5evalError(f"task {spec.name}: no --data-dir given (nor ${DATA_DIR_ENV}) and the Hugging Face Hub "
                          f"is unreachable ({reason}); pass --data-dir DIR (or set {DATA_DIR_ENV}) with the local files")


def _datasets_loader(path: str, name: str | None, split: str, revision: str | None) -> Iterable[Mapping]:
    import datasets

    return datasets.load_dataset(path, name, split=split, revision=revision)


def hub_rows(spec: TaskSpec, split: str, loader: HubLoader | None = None) -> list[tuple[str, dict]]:
    """Raw rows from the HF hub copy (`loader` may be injected, e.g. an in-memory Dataset in tests)."""
    hf = spec.hf
    if hf is None or split not in hf.splits:
        raise T5evalError(f"task {spec.name}, split {split}: no hub copy is declared; pass --data-dir DIR "
                          f"(or set {DATA_DIR_ENV}) with the local files (see docs/tasks.md)")
    if loader is None:
        require_hub(spec)
    try:
        data = (loader or _datasets_loader)(hf.path, hf.name, hf.splits[split], hf.revision)
        rows = [dict(r) for r in data]
    except T5evalError:
        raise
    except Exception as err:
        raise T5evalError(f"task {spec.name}: no --data-dir given (nor ${DATA_DIR_ENV}) and the hub copy "
                          f"{hf.path}/{hf.name or ''}:{hf.splits[split]} could not be loaded "
                          f"({type(err).__name__}); pass --data-dir DIR with the local files") from None
    return [(f"hub {hf.path}/{hf.name or ''}:{hf.splits[split]}, row {i}", r) for i, r in enumerate(rows)]


def reader_args(spec: TaskSpec, split: str) -> dict[str, Any]:
    """The reader args that describe a split's features (the first local candidate's, else {})."""
    cands = spec.local.get(split) or next(iter(spec.local.values()), ())
    return dict(cands[0].reader_args) if cands else {}


def build_examples(spec: TaskSpec, raw: list[tuple[str, dict]], args: Mapping[str, Any],
                   protocol: str = "current", limit: int | None = None, from_hub: bool = False) -> list[Example]:
    """Normalise raw rows (local or hub) and apply the task's preprocessor; number examples in order.

    A prompt task (`spec.prompt`) then replaces each cast's inputs by its rendered prompt."""
    return [ex for ex, _ in cast_rows(spec, raw, args, protocol, limit, from_hub)]


def cast_rows(spec: TaskSpec, raw: list[tuple[str, dict]], args: Mapping[str, Any], protocol: str = "current",
              limit: int | None = None, from_hub: bool = False) -> list[tuple[Example, dict[str, Any]]]:
    """`build_examples`, each example with the normalised row it came from (its raw text fields)."""
    pre = PREPROCESSORS[spec.preprocessor]
    pre_args = spec.preprocessor_args_for(protocol)
    if spec.preprocessor == "glue":
        pre_args = {"label_names": list(spec.labels or []), **pre_args}
    norms: Iterator[dict[str, Any]] = (normalize_row(hf_to_raw(row, args) if from_hub else row, args, spec.labels, where, position)
             for position, (where, row) in enumerate(raw))
    choices: list[list[dict[str, str]]] | None = None
    if spec.prompt is not None and spec.prompt.scoring == "wsc_partial":
        norms_list = list(norms)  # candidates come from sibling rows: all of them first
        choices, norms = wsc_choices(norms_list), iter(norms_list)
    out: list[tuple[Example, dict[str, Any]]] = []
    for position, norm in enumerate(norms):
        for cast in pre(norm, **pre_args):
            fields = cast.fields if choices is None else {**cast.fields, "choices": choices[position]}
            inputs = cast.inputs if spec.prompt is None else render(
                spec.prompt, norm, fields, position, f"{spec.path}: row {position}")
            out.append((Example(len(out), inputs, cast.targets, fields), norm))
            if limit is not None and len(out) >= limit:
                return out
    return out


def load_examples_with_rows(spec: TaskSpec, split: str, data_dir: str | Path | None = None,
                            limit: int | None = None, protocol: str = "current"
                            ) -> tuple[ExampleSet, list[dict[str, Any]]]:
    """`load_examples` plus, per example, the normalised row it came from (task heads read its fields)."""
    check_protocol(protocol)
    _check_split(spec, split)
    root = resolve_data_dir(data_dir)
    if root is not None:
        raw, files, args = local_rows(spec, split, root)
        pairs = cast_rows(spec, raw, args, protocol, limit)
        source = f"local:{root}"
    else:
        raw, files, args = hub_rows(spec, split), {}, reader_args(spec, split)
        pairs = cast_rows(spec, raw, args, protocol, limit, from_hub=True)
        source = f"hub:{spec.hf.path}" if spec.hf else "hub"
    return ExampleSet([ex for ex, _ in pairs], files, source), [row for _, row in pairs]


def load_examples(spec: TaskSpec, split: str, data_dir: str | Path | None = None, limit: int | None = None,
                  protocol: str = "current", hub_loader: HubLoader | None = None) -> ExampleSet:
    """Load `split` of `spec` as T5 casts it. Local files win; without a data dir, the hub copy."""
    check_protocol(protocol)
    _check_split(spec, split)
    if limit is not None and limit < 1:
        raise T5evalError(f"limit must be a positive number of examples, got {limit}")
    root = resolve_data_dir(data_dir)
    if root is not None:
        raw, files, args = local_rows(spec, split, root)
        examples = build_examples(spec, raw, args, protocol, limit)
        return ExampleSet(examples, files, f"local:{root}")
    raw = hub_rows(spec, split, hub_loader)
    examples = build_examples(spec, raw, reader_args(spec, split), protocol, limit, from_hub=True)
    hf = spec.hf
    return ExampleSet(examples, {}, f"hub:{hf.path}/{hf.name or ''}:{hf.splits[split]}" if hf else "hub")
