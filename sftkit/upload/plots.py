"""The histograms a card shows per config: text lengths, and difficulty per split where rated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from sftkit import report
from sftkit.upload.summary import ConfigSummary, read_column

PLOTS_DIR = "plots"
LEGACY_HISTOGRAM = "length_histogram.png"  # earlier versions' single histogram: deleted from the Hub on upload


def config_plots(root: Path, summary: ConfigSummary, lengths: np.ndarray | None, what: str) -> list[str]:
    """``plots/<config>.lengths.png`` and, where the config has ``difficulty_z``, ``<config>.difficulty.png``
    (one series per split); returns their paths relative to the folder."""
    made = []
    if lengths is not None and len(lengths):
        made.append(
            report.histogram_png(
                root / PLOTS_DIR / f"{summary.name}.lengths.png",
                {summary.name: lengths},
                f"{summary.name}: {what} length",
                "characters",
            )
        )
    if "difficulty_z" in dict(summary.columns):
        series = {
            s: np.concatenate(
                [pc.cast(c, "float64").to_numpy(zero_copy_only=False) for c in read_column(root, files, "difficulty_z")]
            )
            for s, files in summary.splits.items()
        }
        series = {s: v[~np.isnan(v)] for s, v in series.items()}
        if any(len(v) for v in series.values()):
            made.append(
                report.histogram_png(
                    root / PLOTS_DIR / f"{summary.name}.difficulty.png",
                    series,
                    f"{summary.name}: difficulty_z per split",
                    "difficulty_z (higher is harder)",
                    log_x=False,
                )
            )
    return [p.relative_to(root).as_posix() for p in made]
