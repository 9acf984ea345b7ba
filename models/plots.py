"""Learning-curve plots (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

@dataclass(frozen=True)
class Series:
    """One line: ``ys`` (None = no point) over ``xs``, with an optional band of +- ``spread``;
    ``flat`` lines (reference levels) are drawn dashed without markers."""

    xs: Sequence[float]
    ys: Sequence[float | None]
    spread: Sequence[float] | None = None
    flat: bool = False


def plot_curves(panels: Mapping[str, Mapping[str, Series]], xlabel: str, path: Path, title: str) -> Path:
    """One subplot per panel (its y label), one line per series; written atomically as PNG."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels.items()):
        for name, line in series.items():
            keep = [i for i, y in enumerate(line.ys) if y is not None]
            if not keep:
                continue
            xs, ys = [line.xs[i] for i in keep], [float(line.ys[i]) for i in keep]  # type: ignore[arg-type]
            drawn = ax.plot(xs, ys, linestyle="--" if line.flat else "-", marker=None if line.flat else "o",
                            label=name)
            if line.spread is not None:
                spread = [float(line.spread[i]) for i in keep]
                ax.fill_between(xs, [y - d for y, d in zip(ys, spread)], [y + d for y, d in zip(ys, spread)],
                                color=drawn[0].get_color(), alpha=0.2)
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
