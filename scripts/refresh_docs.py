"""Helper of scripts/refresh_docs.sh: the README's quick-start command, and the figures it quotes.

    python scripts/refresh_docs.py command            # the quick start's arguments after `t5eval`, one a line
    python scripts/refresh_docs.py rewrite --run DIR --log FILE --wall S --load L --score FILE \
        --report FILE --resume-log FILE

`rewrite` regenerates the text between `<!-- refresh_docs:NAME -->` and `<!-- /refresh_docs:NAME -->` in
README.md and docs/quickstart.md (NAME: `quickstart`, `resume`) from the fresh runs' files.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from t5eval.results import cpu_model

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "quickstart.md"]
TASK = "glue_sst2_v002"
STEP_LINE = re.compile(rf"^{TASK} step (\d+): accuracy (\d+\.\d\d)$", re.M)


def quickstart_args(readme: str) -> list[str]:
    """The arguments after `t5eval` of the first ```bash block of the README's `## Quick start`."""
    section = ("\n" + readme).split("\n## Quick start\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    words = shlex.split(block.replace("\\\n", " "))
    if words[:2] != ["t5eval", "run"]:
        raise SystemExit(f"the quick start's first bash block is not a `t5eval run` command: {block!r}")
    return words[1:]


def quoted_step_accuracies(readme: str) -> dict[int, str]:
    """The step accuracies the README quotes for the quick start: {step: '58.94'}."""
    section = ("\n" + readme).split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return {int(step): acc for step, acc in STEP_LINE.findall(section)}


CPU_LINE = re.compile(r"CPU model `([^`]+)`")  # as `cpu_model()` (t5eval.results) writes it


def quoted_cpu(readme: str) -> str | None:
    """The CPU model the README's quick-start figures come from (as `cpu_model()` wrote it)."""
    section = ("\n" + readme).split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    match = CPU_LINE.search(section)
    return match.group(1) if match else None


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _replace_region(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- refresh_docs:{name} -->\n", f"<!-- /refresh_docs:{name} -->"
    if begin not in text or end not in text:
        raise SystemExit(f"markers {begin.strip()} … {end} not found")
    head, rest = text.split(begin, 1)
    return head + begin + body + rest[rest.index(end):]


def _interval(report: str) -> tuple[str, str, str]:
    match = re.search(r"\| `quickstart_sst2` \(validation\) \|[^|]*\| [^|]*\| (\d+\.\d) \[(\d+\.\d), (\d+\.\d)\]", report)
    if match is None:
        raise SystemExit("the report has no SST-2 accuracy with an interval for quickstart_sst2")
    return match.group(1), match.group(2), match.group(3)


def quickstart_text(a: argparse.Namespace) -> str:
    record = json.loads((a.run / "run.json").read_text(encoding="utf-8"))
    task = record["tasks"][TASK]
    log = a.log.read_text(encoding="utf-8")
    steps = STEP_LINE.findall(log)
    history = task["history"]
    if [int(s) for s, _ in steps] != [h["step"] for h in history]:
        raise SystemExit(f"{a.log}: step lines {steps} do not match run.json's history")
    acc = task["metrics"]["accuracy"]
    tput = task["throughput"]
    score = re.search(r'"accuracy": (\d+\.\d+)', a.score.read_text(encoding="utf-8"))
    if score is None:
        raise SystemExit(f"{a.score}: no accuracy in `t5eval score`'s output")
    low, high = _interval(a.report.read_text(encoding="utf-8"))[1:]
    when = datetime.fromtimestamp(a.run.joinpath("run.json").stat().st_mtime, timezone.utc)
    avg = record["benchmarks"]["glue"]
    groups = f"{len(avg['groups'])} of {len(avg['groups']) + len(avg['missing'])}"
    printed = "\n".join(f"{TASK} step {s}: accuracy {v}" for s, v in steps)
    losses = ", ".join(f"{h['train_loss']:.2f}" for h in history)
    tokens = task["train"]["train_tokens"] / 1e6
    return f"""What it printed (finished {when:%Y-%m-%d %H:%M} UTC on the shared 2-core machine, CPU model `{cpu_model()}`,
one torch thread (`--threads 1`), load average {a.load} at the start (other jobs running); {_duration(a.wall)}
wall; `scripts/refresh_docs.sh` reruns it and rewrites these figures):

```
{printed}
 task (split)                  n    metrics          best step   tok/s train/decode
 {TASK} (validation)   {task['n']}  accuracy {acc:.2f}   {task['best_step']}        {tput['train_tokens_per_s']:.0f}/{tput['decode_tokens_per_s']:.0f}
 glue average                       {avg['average']:.2f} over {groups} groups (incomplete)
results: results/quickstart_sst2
```

(table abridged). So it learns: **{acc:.1f}% accuracy on SST-2 dev ({task['n']} sentences) after {task["train"]["steps"]:,} steps**
({tokens:.2f}M training tokens), against **50.9%** for always answering the majority class (444/872
`positive`); `t5eval report results/quickstart_sst2 --out reports/quickstart.md` puts the 95% bootstrap
interval at [{low}, {high}] (committed example: `reports/examples/quickstart_sst2.md`). The training loss
at the {len(history)} checkpoints was {losses}. `t5eval score sst2 --predictions
results/quickstart_sst2/{TASK}/predictions.jsonl --data-dir ../shared/data` recomputes {float(score.group(1)):.2f}
without the model. These figures come from one seed (`--seed 0`, the default) and one thread: with
`--threads 1` two runs on the same CPU model print the same numbers (a slow test, `tests/runner/test_readme_figures.py`,
checks the step accuracies above against a fresh run: exactly on this CPU model, and on any other CPU each
quoted step within the 95% bootstrap interval of the fresh run's accuracy at that step); another seed,
thread count or CPU gives somewhat different numbers. This is a from-scratch tiny model, not T5: the paper's numbers need a pre-trained
checkpoint (`--model t5-small` or a local HF folder) and the paper's 2^18 steps.
"""


def resume_text(a: argparse.Namespace, step_400_of_quickstart: str) -> str:
    log = a.resume_log.read_text(encoding="utf-8")
    final = dict((int(s), v) for s, v in STEP_LINE.findall(log))
    resumed = re.search(r"fine-tuning resumed at step\(s\) \[(\d+)\], not redone", log)
    if resumed is None or 400 not in final:
        raise SystemExit(f"{a.resume_log}: the rerun did not resume from a checkpoint, or printed no step 400")
    same = "the same as" if final[400] == step_400_of_quickstart else "NOT the same as"
    return f"""For example (what `scripts/refresh_docs.sh` runs), the quick start's command with
`--steps 400 --eval-every 200`, killed with `kill -9` as soon as its step-200 checkpoint appears, and
run again:

```bash
t5eval run sst2 --model tiny --init random --vocab ../shared/vocab/t5_spiece.model \\
  --data-dir ../shared/data --steps 400 --eval-every 200 --batch-tokens 1024 --threads 1 \\
  --out results/resume_demo &
pid=$!
until [ -e results/resume_demo/{TASK}/checkpoint.pt ]; do sleep 0.2; done
kill -9 $pid
# the same command again (without the trailing &) resumes
```

The second run printed `fine-tuning resumed at step(s) [{resumed.group(1)}], not redone` and reached a
step-400 accuracy of {final[400]}, {same} the uninterrupted quick start's
step 400 ({step_400_of_quickstart}): the batches, dropout masks and optimizer state after the restart are those
the killed run would have used.
"""


def rewrite(a: argparse.Namespace) -> None:
    quick = quickstart_text(a)
    step_400 = dict((int(s), v) for s, v in STEP_LINE.findall(a.log.read_text(encoding="utf-8")))[400]
    resume = resume_text(a, step_400)
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        text = _replace_region(_replace_region(text, "quickstart", quick), "resume", resume)
        path.write_text(text, encoding="utf-8")
        print(f"rewrote {path.relative_to(ROOT)}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("command", help="print the quick start's arguments, one a line")
    rw = sub.add_parser("rewrite", help="rewrite the quoted figures from fresh runs")
    for name in ("run", "log", "score", "report", "resume-log"):
        rw.add_argument(f"--{name}", type=Path, required=True)
    rw.add_argument("--wall", type=float, required=True)
    rw.add_argument("--load", required=True)
    a = parser.parse_args(argv)
    if a.cmd == "command":
        print("\n".join(quickstart_args((ROOT / "README.md").read_text(encoding="utf-8"))))
    else:
        rewrite(a)


if __name__ == "__main__":
    main(sys.argv[1:])
