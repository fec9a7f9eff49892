"""Family-agnostic checkpoint pieces: weight files (safetensors, .bin, sharded), hashes, the hub, key-map totality."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from t5eval.errors import T5evalError, did_you_mean
from t5eval.io import atomic_path, atomic_write_text

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=torch.nn.Module)


@dataclass
class LoadedModel(Generic[ModelT]):
    """A model ready for use (any family), with its config, where it came from and a hash of its weights."""

    model: ModelT
    config: Any  # the family's config dataclass (T5Config, BertConfig, ...)
    source: str
    weights_sha256: str


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


WEIGHT_FILES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json",
                 "pytorch_model.bin")


def read_config_json(path: Path) -> dict[str, Any]:
    """A checkpoint's config.json as a dict (a folder means its config.json); one-line errors (any family)."""
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise T5evalError(f"{path}: config file not found; pass a directory holding config.json")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise T5evalError(f"{path}: not valid JSON ({err.__class__.__name__}); re-download the config") from err
    if not isinstance(data, dict):
        raise T5evalError(f"{path}: expected a JSON object; pass the model's config.json")
    return data


def pick_preset(presets: Mapping[str, T], name: str, family: str) -> T:
    """`presets[name]`, or a one-line error with did-you-mean naming the family and every preset."""
    if name not in presets:
        raise T5evalError(f"unknown {family} preset {name!r}{did_you_mean(name, presets)}; "
                          f"choose one of {', '.join(presets)}")
    return presets[name]


def config_fields(source: str | Path | dict[str, Any], model_types: tuple[str | None, ...], family: str,
                  required: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """(where, the config dict) of an HF config.json path or dict, checked to be of `family`: its
    `model_type` among `model_types` and every `required` field present (one-line errors otherwise)."""
    where = str(source) if not isinstance(source, dict) else "config dict"
    data = read_config_json(Path(source)) if not isinstance(source, dict) else dict(source)
    if data.get("model_type") not in model_types:
        raise T5evalError(f"{where}: model_type {data.get('model_type')!r} is not {family}; "
                          f"pass a {family} checkpoint directory")
    missing = [k for k in required if k not in data]
    if missing:
        raise T5evalError(f"{where}: not a {family} config, missing field(s) {', '.join(missing)}")
    return where, data


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else err.__class__.__name__
        raise T5evalError(f"{path}: cannot read weights ({first}); the file is truncated or corrupt, "
                          "re-download it") from err


def weight_files(model_dir: Path) -> list[Path]:
    """The weight files of an HF directory, preferring safetensors; shards come from the index."""
    for name in WEIGHT_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise T5evalError(f"{path}: not a valid shard index (needs 'weight_map')") from err
            missing = [s for s in shards if not (model_dir / s).is_file()]
            if missing:
                raise T5evalError(f"{path}: shard(s) missing: {', '.join(missing)}")
            return [model_dir / s for s in shards]
        return [path]
    raise T5evalError(f"{model_dir}: no weights found; expected one of {', '.join(WEIGHT_FILES)}")


def files_sha256(paths: list[Path]) -> str:
    """sha256 over the bytes of the weight files, in sorted path order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def first_keys(keys: list[str], n: int = 8) -> str:
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def require_dir(model_dir: Path, family: str) -> None:
    if not model_dir.is_dir():
        raise T5evalError(f"model directory {model_dir} not found; pass an existing HF {family} directory")


def read_checkpoint(model_dir: Path) -> tuple[list[Path], dict[str, torch.Tensor]]:
    """The weight files of an HF folder and all their tensors, merged (shards included)."""
    files = weight_files(model_dir)
    checkpoint: dict[str, torch.Tensor] = {}
    for path in files:
        checkpoint.update(read_weights(path))
    return files, checkpoint


def write_checkpoint(out_dir: str | Path, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
    """Write `out_dir/model.safetensors`, then `out_dir/config.json` (tensors moved to the CPU), each atomically
    and with the mode of any other file we write (safetensors alone leaves 0600)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.safetensors") as tmp:
        save_file({k: v.to("cpu") for k, v in tensors.items()}, tmp, metadata={"format": "pt"})
    atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    return out


def check_keys(where: str, unknown: list[str], missing: list[str]) -> None:
    """Key-map totality: one line naming the unexpected and the missing keys, if any."""
    parts = [f"{label} keys {first_keys(keys)}" for label, keys in (("unexpected", unknown), ("missing", missing))
             if keys]
    if parts:
        raise T5evalError(f"{where}: checkpoint does not fit its config.json: {'; '.join(parts)}")


def check_shapes(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Every checkpoint tensor must have its parameter's shape (one line naming the first four that do not)."""
    bad = [f"{n} {tuple(state[n].shape)} != {tuple(p.shape)}" for n, p in model.named_parameters()
           if n in state and state[n].shape != p.shape]
    if bad:
        raise T5evalError(f"{where}: weight shapes do not fit config.json: {'; '.join(bad[:4])}")


def download(hub_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:  # pragma: no cover - huggingface_hub is a dependency
        raise T5evalError(f"cannot load hub id {hub_id!r}: huggingface_hub is not installed; "
                          "pass a local directory") from err
    try:
        path = snapshot_download(hub_id, allow_patterns=["*.json", "*.safetensors", "spiece.model", "vocab.txt"])
    except Exception as err:  # offline, unknown repo, auth: all mean "use a local copy"
        raise T5evalError(f"cannot fetch {hub_id!r} from the Hugging Face Hub ({err.__class__.__name__}); "
                          "pass a local model directory instead") from err
    return Path(path)


def state_dict_sha256(model: torch.nn.Module) -> str:
    """sha256 over a model's state dict (names, dtypes, shapes and raw bytes, in name order).

    Identifies the exact weights a prediction came from, e.g. a fine-tuning checkpoint.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
