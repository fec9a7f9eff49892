"""Task and benchmark definitions: strict loading of `task_defs/**.yaml` into frozen dataclasses.

One YAML file per task. Every key is checked: an unknown key, a wrong type, a non-string label or a
function name that is not registered raises `T5evalError` naming the file and the field. The spec's
`sha256` is taken over the file's bytes, so results can record exactly which definition they used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from t5eval.errors import T5evalError
from t5eval.tasks.prompts import PromptSpec, parse_prompt

PROTOCOLS = ("current", "paper")

_TOP_KEYS = {
    "name": str, "t5_name": str, "aliases": list, "benchmark": str, "version": int, "description": str,
    "source": dict, "splits": dict, "preprocessor": str, "preprocessor_args": dict, "labels": list,
    "postprocessor": str, "postprocessor_args": dict, "metrics": list, "train_lengths": dict,
    "decode": dict, "mixture_weight": (int, float), "protocols": dict, "train_task": str, "notes": str,
    "prompt": dict,  # decoder-only models (t5eval.tasks.prompts)
}
_REQUIRED = ("name", "t5_name", "benchmark", "version", "source", "splits", "preprocessor", "metrics",
             "train_lengths", "decode", "mixture_weight")
_SOURCE_KEYS = {"reader": str, "reader_args": dict, "local": dict, "hf": dict}
_CANDIDATE_KEYS = {"files": list, "reader": str, "reader_args": dict, "warning": str}
_HF_KEYS = {"path": str, "name": str, "splits": dict, "revision": str}
_DECODE_KEYS = {"beam_size": int, "alpha": (int, float), "max_decode_len": int}
_LENGTH_KEYS = {"inputs": int, "targets": int}
_PROTOCOL_KEYS = {"metrics": list, "preprocessor_args": dict, "notes": str}


@dataclass(frozen=True)
class Candidate:
    """One way to find a split on disk: files relative to --data-dir, read by a named reader."""

    files: tuple[str, ...]
    reader: str
    reader_args: dict[str, Any]
    warning: str | None = None


@dataclass(frozen=True)
class HFSource:
    """The Hugging Face hub copy of a task's data (`datasets.load_dataset(path, name, split=...)`)."""

    path: str
    name: str | None
    splits: dict[str, str]
    revision: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A T5 task: where its rows come from, how they are cast to text, and how they are scored."""

    name: str
    t5_name: str
    aliases: tuple[str, ...]
    benchmark: str
    version: int
    splits: dict[str, str]
    local: dict[str, tuple[Candidate, ...]]
    hf: HFSource | None
    preprocessor: str
    preprocessor_args: dict[str, Any]
    labels: tuple[str, ...] | None
    postprocessor: str
    postprocessor_args: dict[str, Any]
    metrics: tuple[str, ...]
    train_lengths: dict[str, int]
    decode: dict[str, Any]
    mixture_weight: float
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_task: str | None = None
    prompt: PromptSpec | None = None  # how a decoder-only model sees the task (None: T5 casting only)
    description: str = ""
    notes: str = ""
    path: str = ""
    sha256: str = ""

    @property
    def split_names(self) -> list[str]:
        """Every split this task can read (local or hub), in a stable order."""
        names = list(self.local)
        if self.hf is not None:
            names += [s for s in self.hf.splits if s not in names]
        return names

    def metrics_for(self, protocol: str) -> tuple[str, ...]:
        """Metric names for `protocol` ("current" or "paper"); paper overrides fall back to current."""
        check_protocol(protocol)
        override = self.protocols.get(protocol, {})
        return tuple(override.get("metrics", self.metrics))

    def preprocessor_args_for(self, protocol: str) -> dict[str, Any]:
        """Preprocessor arguments for `protocol`, with that protocol's overrides merged in."""
        check_protocol(protocol)
        return {**self.preprocessor_args, **self.protocols.get(protocol, {}).get("preprocessor_args", {})}


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark: member tasks and T5's averaging groups (spec §3)."""

    name: str
    description: str
    split: str
    members: tuple[str, ...]
    groups: dict[str, dict[str, tuple[str, ...]]]  # group -> task -> metric keys averaged in the group
    mixture_extra: tuple[str, ...] = ()  # trained on in T5's mixture, never evaluated (e.g. DPR, spec §2)


def check_protocol(protocol: str) -> None:
    """Reject a protocol name other than "current" or "paper"."""
    if protocol not in PROTOCOLS:
        raise T5evalError(f"unknown protocol {protocol!r}; use one of: {', '.join(PROTOCOLS)}")


def _check_keys(where: str, data: dict[str, Any], allowed: dict[str, Any], required: tuple = ()) -> None:
    for key, value in data.items():
        if key not in allowed:
            raise T5evalError(f"{where}: unknown field {key!r}; allowed: {', '.join(sorted(allowed))}")
        kind = allowed[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise T5evalError(f"{where}: field {key!r} must be {_kind_name(kind)}, got {type(value).__name__}")
    for key in required:
        if key not in data:
            raise T5evalError(f"{where}: missing required field {key!r}")


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _strings(where: str, values: list, what: str) -> tuple[str, ...]:
    """Check a YAML list holds only strings (PyYAML reads bare True/no as bools: quote label words)."""
    for v in values:
        if not isinstance(v, str):
            raise T5evalError(f"{where}: {what} must be quoted strings, got {v!r} ({type(v).__name__})")
    return tuple(values)


def _candidates(where: str, split: str, raw: Any, source: dict[str, Any]) -> tuple[Candidate, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        here = f"{where}: field 'source.local.{split}[{i}]'"
        if isinstance(item, str):
            item = {"files": [item]}
        if not isinstance(item, dict):
            raise T5evalError(f"{here} must be a path or a mapping")
        _check_keys(here, item, _CANDIDATE_KEYS, ("files",))
        reader = item.get("reader", source.get("reader"))
        if reader is None:
            raise T5evalError(f"{here}: no reader (set source.reader or the candidate's reader)")
        args = {**source.get("reader_args", {}), **item.get("reader_args", {})}
        files = _strings(here, item["files"], "files")
        out.append(Candidate(files, reader, args, item.get("warning")))
    return tuple(out)


def _source(where: str, raw: dict[str, Any]) -> tuple[dict[str, tuple[Candidate, ...]], HFSource | None]:
    _check_keys(f"{where}: field 'source'", raw, _SOURCE_KEYS)
    local = {split: _candidates(where, split, c, raw) for split, c in raw.get("local", {}).items()}
    hf = None
    if "hf" in raw:
        _check_keys(f"{where}: field 'source.hf'", raw["hf"], _HF_KEYS, ("path", "splits"))
        h = raw["hf"]
        hf = HFSource(h["path"], h.get("name"), dict(h["splits"]), h.get("revision"))
    return local, hf


def _check_sub(where: str, data: dict[str, Any]) -> None:
    _check_keys(f"{where}: field 'decode'", data["decode"], _DECODE_KEYS, tuple(_DECODE_KEYS))
    _check_keys(f"{where}: field 'train_lengths'", data["train_lengths"], _LENGTH_KEYS, tuple(_LENGTH_KEYS))
    for name, proto in data.get("protocols", {}).items():
        if name not in PROTOCOLS:
            raise T5evalError(f"{where}: field 'protocols' has unknown protocol {name!r}; use {PROTOCOLS}")
        _check_keys(f"{where}: field 'protocols.{name}'", proto, _PROTOCOL_KEYS)
        _strings(where, proto.get("metrics", []), f"protocols.{name}.metrics")


def load_yaml_text(where: str, text: str) -> Any:
    """`yaml.safe_load`, with a syntax error as one line naming the file, line and column (1-based)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise T5evalError(f"{where}{at}: not valid YAML ({problem}); fix the file or move it out of the "
                          "task definitions folder") from None


def parse_task(path: Path, text: str) -> TaskSpec:
    """Parse and strictly validate one task YAML (`text` is the file's content)."""
    where = str(path)
    data = load_yaml_text(where, text)
    if not isinstance(data, dict):
        raise T5evalError(f"{where}: a task file must be a YAML mapping")
    _check_keys(where, data, _TOP_KEYS, _REQUIRED)
    _check_sub(where, data)
    local, hf = _source(where, data["source"])
    labels = data.get("labels")
    return TaskSpec(
        name=data["name"], t5_name=data["t5_name"],
        aliases=_strings(where, data.get("aliases", []), "aliases"),
        benchmark=data["benchmark"], version=data["version"],
        splits={str(k): _strings(where, [v], f"splits.{k}")[0] for k, v in data["splits"].items()},
        local=local, hf=hf, preprocessor=data["preprocessor"],
        preprocessor_args=dict(data.get("preprocessor_args", {})),
        labels=_strings(where, labels, "labels") if labels is not None else None,
        postprocessor=data.get("postprocessor", "identity"),
        postprocessor_args=dict(data.get("postprocessor_args", {})),
        metrics=_strings(where, data["metrics"], "metrics"),
        train_lengths=dict(data["train_lengths"]), decode=dict(data["decode"]),
        mixture_weight=float(data["mixture_weight"]), protocols=dict(data.get("protocols", {})),
        train_task=data.get("train_task"),
        prompt=_prompt(where, data),
        description=data.get("description", ""),
        notes=data.get("notes", ""), path=where, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _prompt(where: str, data: dict[str, Any]) -> PromptSpec | None:
    if "prompt" not in data:
        return None
    if data["decode"]["beam_size"] != 1:
        raise T5evalError(f"{where}: a prompt task decodes with beam_size 1 (greedy or prompt.sampling)")
    return parse_prompt(where, data["prompt"], data["decode"]["max_decode_len"])


def load_task_file(path: Path) -> TaskSpec:
    """Read and parse one task YAML file."""
    return parse_task(path, path.read_text(encoding="utf-8"))


def parse_benchmarks(path: Path) -> dict[str, BenchmarkSpec]:
    """Parse `task_defs/benchmarks.yaml`: {name: {description, split, members?, groups?, mixture_extra?}}."""
    where = str(path)
    data = load_yaml_text(where, path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise T5evalError(f"{where}: must be a mapping of benchmark name -> definition")
    out = {}
    for name, raw in data.items():
        here = f"{where}: benchmark {name!r}"
        _check_keys(here, raw, {"description": str, "split": str, "members": list, "groups": dict,
                                "mixture_extra": list}, ("split",))
        groups: dict[str, dict[str, tuple[str, ...]]] = {}
        for gname, members in raw.get("groups", {}).items():
            if not isinstance(members, dict):
                raise T5evalError(f"{here}: group {gname!r} must map task -> [metric keys]")
            groups[str(gname)] = {t: _strings(here, m, f"group {gname} metrics") for t, m in members.items()}
        listed = _strings(here, raw.get("members", []), "members")
        grouped = [t for g in groups.values() for t in g if t not in listed]
        members = tuple(dict.fromkeys([*listed, *grouped]))
        extra = _strings(here, raw.get("mixture_extra", []), "mixture_extra")
        out[name] = BenchmarkSpec(name, raw.get("description", ""), raw["split"], members, groups, extra)
    return out
