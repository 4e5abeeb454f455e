"""Row counts on a histogram's y axis read as plain numbers (1, 2, 5, 10), not 4×10⁰ or 10¹."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sftkit import report

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("rows", [39, 648, 20_000])
def test_y_tick_labels_are_plain_counts(rows: int, tmp_path: Path, monkeypatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    seen: list[list[str]] = []
    save = Figure.savefig

    def capture(fig, *args, **kwargs):
        fig.canvas.draw()
        ax = fig.axes[0]
        lo, hi = ax.get_ylim()
        labels = [t for t in ax.get_yticklabels(which="both") if lo <= t.get_position()[1] <= hi]
        seen.append([t.get_text() for t in labels if t.get_text()])
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    lengths = np.random.default_rng(0).lognormal(8, 0.6, rows)
    report.histogram_png(tmp_path / "h.png", {"kept": lengths}, "t", "chars")
    assert seen and seen[0], seen
    for text in seen[0]:
        assert text.replace(",", "").isdigit(), seen[0]
