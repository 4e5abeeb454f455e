"""What a person reads at the end of a command: a summary table, and PNG plots where a picture helps."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

_console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for k, col in enumerate(columns):
        table.add_column(col, justify="left" if k == 0 else "right")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    _console.print(table)


def print_summary(title: str, items: dict[str, Any]) -> None:
    print_table(title, ["", "value"], list(items.items()))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return str(value)


def histogram_png(
    path: str | Path,
    series: dict[str, np.ndarray],
    title: str,
    xlabel: str,
    edges: np.ndarray | None = None,
    bins: int = 60,
    log_x: bool = True,
    ylabel: str = "rows",
    span: tuple[float, float] | None = None,
) -> Path:
    """Overlaid histograms, on a log-x axis by default (text lengths span decades), with optional bin
    edges; ``log_x=False`` for scores that can be negative; ``span``: a fixed linear x range (scores in
    [0, 1]), whatever the data covers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [np.asarray(v, dtype=np.float64) for v in series.values() if len(v)]
    if span is not None:
        lo, hi = span
        grid = np.linspace(lo, hi, bins)
    elif log_x:
        lo = max(1.0, min(float(v.min()) for v in values)) if values else 1.0
        hi = max(lo * 10, max(float(v.max()) for v in values)) if values else 10.0
        grid = np.geomspace(lo, hi, bins)
    else:
        lo = min(float(v.min()) for v in values) if values else 0.0
        hi = max(lo + 1e-9, max(float(v.max()) for v in values)) if values else 1.0
        grid = np.linspace(lo, hi, bins)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for label, data in series.items():
        ax.hist(np.clip(data, lo, hi), bins=grid, alpha=0.55, label=f"{label} ({len(data):,})")
    for edge in edges if edges is not None else []:
        ax.axvline(edge, color="grey", linestyle=":", linewidth=1)
    if (
        log_x and span is None
    ):  # labels at 1, 2 and 5 of each decade, as plain numbers; matplotlib's minor labels overlap
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if hi / lo < 1e4 else (1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if x >= 1 else f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yscale("log")  # row counts as plain numbers at 1, 2 and 5 of each decade, not 4×10⁰ or 10¹
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}" if y >= 1 else ""))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


PASS_RATE_BINS = 20  # fixed bins of 0.05 on [0, 1], so that the shards' counts add up
_BIN_KEY = "pass_rate_bin_"


def pass_rate_bin(rate: float) -> str:
    """The counts key of the bin that holds ``rate``. Bins hold their right edge ([0, 0.05], (0.05, 0.1], ...):
    a row at the usual upper threshold (keep <= 0.1) is drawn inside the band, whatever its float rounding."""
    return f"{_BIN_KEY}{max(math.ceil(rate * PASS_RATE_BINS - 1e-9) - 1, 0):02d}"


def split_pass_rate_bins(counts: dict[str, int]) -> tuple[dict[str, int], list[int]]:
    """The counts without the bin keys (for tables: 20 rows of bins would drown the rest), and the rows per bin."""
    bins = [0] * PASS_RATE_BINS
    rest = {}
    for key, value in counts.items():
        if key.startswith(_BIN_KEY):
            bins[int(key.removeprefix(_BIN_KEY))] += value
        else:
            rest[key] = value
    return rest, bins


def pass_rate_png(path: str | Path, counts_per_bin: Sequence[int], band: Sequence[float], title: str) -> Path:
    """Rows per pass-rate bin with the kept band shaded: where the thresholds cut the distribution. The title
    says what the band is (a legend would cover bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 1 / len(counts_per_bin)
    lo, hi = band
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.axvspan(lo, hi, color="tab:green", alpha=0.15)
    for edge in (lo, hi):
        ax.axvline(edge, color="tab:green", linewidth=1.2)
    left = np.arange(len(counts_per_bin)) * width
    ax.bar(left, counts_per_bin, width=width, align="edge", color="tab:blue", edgecolor="white", linewidth=0.5)
    top = max(counts_per_bin, default=0)
    for x, n in zip(left, counts_per_bin):
        if n:
            ax.text(x + width / 2, n + top * 0.01, f"{n:,}", ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1, top) * 1.15)
    ax.set_xticks(np.linspace(0, 1, 11))
    ax.set_xlabel(f"pass rate (bins of {width:g}, each holding its right edge)")
    ax.set_ylabel("rows")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def filter_bars_png(path: str | Path, bars: dict[str, tuple[int, int]], title: str) -> Path:
    """One row per filter: the rows it dropped (the first filter that fired on them), and lighter behind it the
    rows it would have dropped (it fired, maybe after another): which threshold to tune first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(bars) or ["(none fired)"]
    first = [bars.get(n, (0, 0))[0] for n in names]
    every = [bars.get(n, (0, 0))[1] for n in names]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.32 * len(names)), dpi=110)
    y = np.arange(len(names))
    ax.barh(y, every, color="tab:orange", alpha=0.35, label="would drop (fired)")
    ax.barh(y, first, color="tab:red", label="dropped (first to fire)")
    top = max(every, default=0)
    for k, (a, b) in enumerate(zip(first, every)):
        ax.text(b + top * 0.01, k, f"{a:,} / {b:,}", va="center", fontsize=7)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1, top) * 1.2)
    ax.set_xlabel("rows")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35 / (1 + 0.1 * len(names))), ncol=2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
