"""Learning-curve plots (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def plot_curves(panels: Mapping[str, Series], xlabel: str, path: Path, title: str) -> Path:
    """One subplot per panel (its y label), one line per series; written atomically as PNG."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels.items()):
        for name, (xs, ys) in series.items():
            points = [(x, y) for x, y in zip(xs, ys) if y is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
