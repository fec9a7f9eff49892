"""The study's forest plot: each level's paired Δ against the baseline per task and on average, with its
95% interval (matplotlib, Agg backend)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from t5eval.io import atomic_write_bytes
from t5eval.study.schema import Study
from t5eval.study.stats import Delta

WRAP = 90  # characters per line of the title and axis label, so that neither runs off the figure


def plot_deltas(deltas: dict[str, dict[str, Delta]], study: Study, columns: list[str], path: Path) -> bool:
    """One row per (level, column), a point and its interval; False (nothing written) when there is no Δ."""
    fig = forest_figure(deltas, study, columns)
    if fig is None:
        return False
    _save(fig, path)
    return True


def forest_figure(deltas: dict[str, dict[str, Delta]], study: Study, columns: list[str]) -> Figure | None:
    """The forest plot's figure (None when there is no Δ); long titles and labels are wrapped."""
    rows = [(f"{study.levels[level].label} · {column}", d) for level, by_column in deltas.items()
            for column in columns if (d := by_column.get(column)) is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8.0, 1.3 + 0.32 * len(rows)), layout="constrained")
    y = np.arange(len(rows))[::-1]  # (n_rows,) first row on top
    points = np.array([d.point for _, d in rows])
    lows = np.array([d.point - d.low for _, d in rows])
    highs = np.array([d.high - d.point for _, d in rows])
    colors = ["tab:green" if d.arrow == "▲" else "tab:red" if d.arrow == "▼" else "tab:gray" for _, d in rows]
    for yi, p, lo, hi, c in zip(y, points, lows, highs, colors, strict=True):
        ax.errorbar(p, yi, xerr=[[lo], [hi]], fmt="o", color=c, capsize=3)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, [name for name, _ in rows], fontsize=8)
    label = f"Δ against {study.levels[study.baseline].label} (points, 95% paired bootstrap interval)"
    fig.supxlabel(textwrap.fill(label, WRAP), fontsize=9)  # centred on the figure, not on the shifted axes
    fig.suptitle(textwrap.fill(study.title, WRAP), fontsize=9)
    return fig


def _save(fig: Figure, path: Path) -> None:
    """PNG, cropped to everything drawn (nothing clipped), written atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def plot_losses(curves: dict[str, list[tuple[float, float]]], title: str, path: Path) -> bool:
    """Training loss against step, one line per label (the paper's Figure 6 for Table 9's truncated corpora);
    False (nothing written) when no curve has two points."""
    curves = {label: points for label, points in curves.items() if len(points) >= 2}
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    for label, points in curves.items():
        steps, losses = zip(*points, strict=True)
        ax.plot(steps, losses, label=label)
    ax.set_xlabel("pre-training step")
    ax.set_ylabel("training loss")
    ax.set_title(textwrap.fill(title, WRAP), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return True
