"""The settings fingerprint of a run folder (`settings.json`): a restart must match the settings that shape results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json, sha256_json
from t5eval.trust import read_json_object


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the settings that shape the results."""
    return sha256_json(settings)


def check_settings(run_dir: Path, settings: dict[str, Any]) -> bool:
    """Refuse a run dir that holds a run with other settings. Returns True when resuming one.

    Raises:
        T5evalError: `run_dir/settings.json` exists with a different fingerprint (names the first
            differing setting and suggests --overwrite).
    """
    path = run_dir / "settings.json"
    if not path.exists():
        return False
    saved = read_json_object(path, "delete it if this folder is a run or pre-training t5eval made, or choose another --out")
    if saved.get("fingerprint") == settings_fingerprint(settings):
        return True
    key, there, now = _first_difference(saved.get("settings", {}), settings)
    raise T5evalError(
        f"{run_dir} holds a run with different settings ({key}: {there!r} there, {now!r} now); "
        "pass --overwrite to replace it or choose another --out"
    )


def _first_difference(old: Any, new: Any, prefix: str = "") -> tuple[str, Any, Any]:
    """The first (dotted key, old value, new value) where two settings dicts differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{prefix}{key}.")
    return prefix.rstrip(".") or "settings", old, new


def write_settings(run_dir: Path, settings: dict[str, Any]) -> None:
    """Record the settings and their fingerprint (checked by `check_settings` on restart)."""
    atomic_write_json(
        run_dir / "settings.json", {"fingerprint": settings_fingerprint(settings), "settings": settings}
    )
