"""Running a study's cells: finished cells are skipped, a killed one resumes (each cell is a plain
`t5eval pretrain`/`t5eval run` command, which resumes its own folder), one lock per cell so that slices on
several machines never run a cell twice at once, and a progress line with the study's ETA.

The command runner is handed in by the CLI (it executes `t5eval <argv>` in this process), so this module
never imports `cli`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json, read_json, sha256_file
from t5eval.study.corpus import write_unlabeled_corpus
from t5eval.study.estimate import Estimate, human_time
from t5eval.study.plan import SHARED_CORPUS, Cell, StudyPlan

Executor = Callable[[Sequence[str]], int]  # argv after `t5eval` -> exit status
Log = Callable[[str], None]
STUDY_FILE = "study.json"
_RECORD_LOCK = threading.Lock()  # the file lock (fcntl) excludes other processes; this, other threads


def cell_done(out: Path, cell: Cell | str) -> bool:
    """A pre-training is done when its pretrain.json exists (written last); a run when run.json says complete."""
    name = cell if isinstance(cell, str) else cell.name
    folder = out / name
    if name.startswith("pretrain/"):
        return (folder / "pretrain.json").exists()
    path = folder / "run.json"
    if not path.exists():
        return False
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text(encoding="utf-8")).get("status", "complete") == "complete"
    return False


RECORD_KEYS = ("study", "scale", "seeds", "definition", "scale_definition")


def read_study_record(path: Path) -> dict[str, Any]:
    """A study folder's study.json; unreadable or incomplete is one line naming the file."""
    try:
        record = read_json(path)
    except FileNotFoundError:
        raise T5evalError(f"{path} not found: pass a folder written by `t5eval study run`") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise T5evalError(f"{path}: not readable JSON ({err}); this file is written by `t5eval study run`: "
                          "restore it, or rerun the study into a fresh --out") from None
    missing = [k for k in RECORD_KEYS if not isinstance(record, dict) or k not in record]
    if missing:
        raise T5evalError(f"{path}: not a study record (no {', '.join(missing)}); this file is written by "
                          "`t5eval study run`: restore it, or rerun the study into a fresh --out")
    return dict(record)


def write_study_record(plan: StudyPlan, source: Path) -> dict[str, Any]:
    """study.json: the study's definition, scale, seeds (merged with those already recorded, so `study run`
    processes started at once with other --seeds or --cell slices all stay recorded: the read-merge-write
    holds the study record's lock and the write is atomic) and this run's --threads/--device; another study
    or scale in the same folder is refused (one line)."""
    if plan.out.exists() and not plan.out.is_dir():
        raise T5evalError(f"--out {plan.out} is a file, not a folder; pass a new or study folder")
    path = plan.out / STUDY_FILE
    with _RECORD_LOCK, cell_lock(plan.out, STUDY_FILE, wait=True):
        old: dict[str, Any] = read_study_record(path) if path.exists() else {}
        if old and (old.get("study") != plan.study.name or old.get("scale") != plan.scale_name):
            raise T5evalError(f"{path}: this folder holds study {old.get('study')!r} at scale {old.get('scale')!r}, "
                              f"not {plan.study.name!r} at {plan.scale_name!r}; use another --out")
        record = {
            "schema": 1, "study": plan.study.name, "scale": plan.scale_name,
            "seeds": sorted(set(old.get("seeds", [])) | set(plan.seeds)), "tasks": plan.tasks,
            "definition": plan.study.model_dump(by_alias=True), "scale_definition": plan.scale.model_dump(),
            "source": str(source), "source_sha256": sha256_file(source) if source.exists() else None,
            "corpus": plan.corpus, "cell_options": plan.cell_options,
        }  # fmt: skip
        atomic_write_json(path, record)
    return record


def prepare_corpus(plan: StudyPlan, data_dir: Path | None, log: Log) -> None:
    """Build the shared unlabeled corpus once (atomically) when the scale uses it and it is missing."""
    if plan.scale.corpus != SHARED_CORPUS or Path(plan.corpus).exists():
        return
    if data_dir is None:
        raise T5evalError("the study's pre-training text is built from the shared GLUE/SuperGLUE train splits: "
                          "pass --data-dir (or set T5EVAL_DATA_DIR)")
    count = write_unlabeled_corpus(data_dir, Path(plan.corpus), plan.scale.corpus_documents)
    log(f"corpus: {count} documents -> {plan.corpus}")


@contextlib.contextmanager
def cell_lock(out: Path, cell: Cell | str, wait: bool = False) -> Iterator[bool]:
    """Hold the cell's lock file while it runs (POSIX record lock, released by the OS if the process dies,
    kill -9 included); yields False when another process holds it (`wait`: block until it lets go)."""
    folder = out / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    name = cell if isinstance(cell, str) else cell.name
    with (folder / (name.replace("/", "__") + ".lock")).open("a+") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


class Progress:
    """Which cell, cells done / left, and the ETA: the estimate of the cells left, scaled by how far the
    cells run so far took longer or shorter than estimated."""

    def __init__(self, plan: StudyPlan, cells: list[Cell], estimate: Estimate, log: Log):
        self.plan, self.cells, self.estimate, self.log = plan, cells, estimate, log
        self.ratio_num = 0.0  # seconds the finished cells took
        self.ratio_den = 0.0  # seconds they were estimated to take

    def eta(self, left: list[Cell]) -> str:
        seconds = self.estimate.total([c.name for c in left])
        if seconds is not None and self.ratio_den > 0:
            seconds *= self.ratio_num / self.ratio_den
        return human_time(seconds)

    def start(self, cell: Cell, position: int, done: int, left: list[Cell]) -> None:
        what = ("pre-training" if cell.kind == "pretrain" else
                f"ensemble decode {cell.argv[1]}" if "--ensemble" in cell.argv else
                f"evaluate {cell.argv[1]}" if "--no-finetune" in cell.argv else f"fine-tune {cell.argv[1]}")
        self.log(f"[study {self.plan.study.name} {self.plan.scale_name}] cell {position}/{len(self.cells)} "
                 f"{cell.name} ({what}): {done} done, {len(left)} left, ETA {self.eta(left)}")

    def finish(self, cell: Cell, seconds: float) -> None:
        expected = self.estimate.seconds.get(cell.name)
        if expected:
            self.ratio_num += seconds
            self.ratio_den += expected
        self.log(f"cell {cell.name} finished in {human_time(seconds)} (estimated {human_time(expected)})")


def run_cells(plan: StudyPlan, cells: list[Cell], execute: Executor, estimate: Estimate, log: Log) -> None:
    """Run `cells` in order: skip finished ones, resume started ones; a fine-tune whose pre-training is not
    finished (another slice runs it) or a cell another process holds is left for later, tried once more at the
    end (other slices may have finished it meanwhile), and reported in one line if still unfinished."""
    progress = Progress(plan, cells, estimate, log)
    todo = [c for c in cells if not cell_done(plan.out, c)]
    if len(todo) < len(cells):
        log(f"{len(cells) - len(todo)} of {len(cells)} cells already finished: skipped")
    waiting = _run_pass(plan, cells, todo, execute, progress)
    if waiting:  # second pass: wait for what other processes are running now, then run what became ready
        waiting = _run_pass(plan, cells, [c for c, _ in waiting], execute, progress, wait=True)
    waiting = [(c, why) for c, why in waiting if not cell_done(plan.out, c)]
    if waiting:
        cell, why = waiting[0]
        more = f" (and {len(waiting) - 1} more cells)" if len(waiting) > 1 else ""
        raise T5evalError(f"cell {cell.name} {why}{more}: rerun this command once "
                          f"{'they have' if more else 'it has'} finished")


def _run_pass(plan: StudyPlan, cells: list[Cell], todo: list[Cell], execute: Executor, progress: Progress,
              wait: bool = False) -> list[tuple[Cell, str]]:
    """Run each cell of `todo` that is ready and not held by another process; returns those left waiting.
    With `wait`, a cell or pre-requisite another process is running is waited for (its lock), never one that
    nobody runs; no lock is held while waiting, so two processes never wait for each other."""
    waiting: list[tuple[Cell, str]] = []
    for cell in todo:
        unfinished = [n for n in cell.needs if not cell_done(plan.out, n)]
        if unfinished and wait:
            for need in unfinished:
                _wait_while_running(plan.out, need, progress.log)
            unfinished = [n for n in cell.needs if not cell_done(plan.out, n)]
        if unfinished:
            waiting.append((cell, f"waits for {', '.join(unfinished)}, not finished"))
            continue
        if wait:
            _wait_while_running(plan.out, cell.name, progress.log)
        with cell_lock(plan.out, cell) as held:
            if not held:
                waiting.append((cell, "is running in another process (its lock is held)"))
                continue
            if cell_done(plan.out, cell):  # another process finished it since this one listed its cells
                continue
            left = [c for c in cells if not cell_done(plan.out, c)]
            progress.start(cell, cells.index(cell) + 1, len(cells) - len(left), left)
            started = time.monotonic()
            try:
                status = execute(list(cell.argv))
            except T5evalError as err:  # the command's own one-line refusal, with the cell it came from
                raise T5evalError(f"cell {cell.name}: {err}") from None
            if status != 0:
                raise T5evalError(f"cell {cell.name} stopped (exit {status}); finished work is kept in "
                                  f"{plan.out / cell.name}: rerun the same study command to resume it")
            progress.finish(cell, time.monotonic() - started)
    return waiting


def _wait_while_running(out: Path, name: str, log: Log) -> None:
    """Return at once when no process holds the cell's lock; else say so and block until it lets go."""
    with cell_lock(out, name) as free:
        if free:
            return
    log(f"waiting for cell {name}: another process is running it")
    with cell_lock(out, name, wait=True):
        pass
