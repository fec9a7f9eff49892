"""Environment capture for run.json's `env` block: time, package versions, git commit, device, platform."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PACKAGES = (
    "t5eval", "torch", "transformers", "sentencepiece", "safetensors", "sacrebleu", "rouge-score",
    "scikit-learn", "scipy", "numpy", "datasets", "typer", "rich",
)  # fmt: skip


def now_iso() -> str:
    """Current UTC time, ISO-8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that can change a result (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo: Path | None = None) -> str | None:
    """`git rev-parse HEAD` of the t5eval checkout, with '+dirty' when tracked files changed."""
    cwd = repo or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


@functools.cache
def pin_git_commit() -> str | None:
    """The checkout's commit, read once per process: call it when a job starts, so the record names the code
    that was loaded even if the checkout moves while the job runs (a run.json written at the end would
    otherwise name a later commit)."""
    return git_commit()


def code_change_note(previous: dict[str, Any]) -> str:
    """A warning clause when a finished run record was made by another commit (settings do not hash code)."""
    then, now = (previous.get("env") or {}).get("git_commit"), git_commit()
    if then and now and then != now:
        return f", made by commit {then[:12]} (this checkout: {now[:12]}): its numbers may differ from this code's"
    return ""


def cpu_model() -> str:
    """This machine's CPU model: /proc/cpuinfo's first `model name` (Linux; `platform.processor()` is empty on
    many Linux builds), else `platform.processor()` or the machine type."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """A human-readable name of the device the run used."""
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(torch.device(device)))
    return f"{platform.processor() or platform.machine()} CPU ({platform.system()})"


def env_record(device: str, threads: int | None) -> dict[str, Any]:
    """The `env` block: python, package versions, git commit, device name, CPU threads."""
    import torch

    return {
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git_commit": pin_git_commit(),
        "device_name": device_name(device),
        "torch_threads": threads or torch.get_num_threads(),
        "platform": platform.platform(),
    }
