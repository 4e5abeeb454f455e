"""What a person must see after scoring: each judge's and each dimension's scores, a histogram of the
totals per judge, and whether the judges agree (Spearman per pair). Read from every shard's rows, kept
and rejected, so a sharded run reports the same as one run over all rows."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sftkit import report
from sftkit.data.merge import load_markers, part_paths

DISAGREE = 0.5  # a Spearman below this between two judges is printed as a warning


def scored_rows(output: str | Path) -> Iterator[dict[str, Any]]:
    """Every scored row of the parts: the kept ones, and those the rejects hold with their scores (rows
    too long or bad input carry none)."""
    for part in part_paths(load_markers(output)):
        with open(part, "rb") as fh:
            yield from (orjson.loads(line) for line in fh if line.strip())
        rejects = part.with_suffix(".rejects.jsonl")
        if rejects.exists():
            with open(rejects, "rb") as fh:
                for line in fh:
                    record = orjson.loads(line).get("record") if line.strip() else None
                    if isinstance(record, dict) and "score_totals" in record:
                        yield record


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def spearman(a: list[float], b: list[float]) -> float | None:
    """Rank correlation, or None when it is undefined (under 3 rows, or a judge gave one total to all)."""
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return round(float(spearmanr(a, b).statistic), 4)


def summarize(output: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The summary of every scored row under ``<output>.parts``; ``settings`` are the stage's (the judges,
    the rubric and the vote thresholds)."""
    judges, rubric = settings["judges"], settings["rubric"]
    min_score = settings["votes"]["min_score"]
    totals: dict[str, list[float | None]] = {j: [] for j in judges}
    values = {j: {d["name"]: [] for d in rubric["dimensions"]} for j in judges}
    unusable = {j: dict.fromkeys(values[j], 0) for j in judges}
    for row in scored_rows(output):
        for j in judges:
            total = row["score_totals"].get(j)
            totals[j].append(total)
            for d in rubric["dimensions"]:
                value = (row["scores"].get(j) or {}).get(d["name"])
                if value is None or not d["scale"][0] <= value <= d["scale"][1]:
                    unusable[j][d["name"]] += 1
                elif total is not None:
                    values[j][d["name"]].append(value)
    per_judge = {}
    for j in judges:
        decided = [t for t in totals[j] if t is not None]
        per_judge[j] = {
            "rows": len(totals[j]),
            "decided": len(decided),
            "undecided": len(totals[j]) - len(decided),
            "mean_total": _mean(decided),
            f"totals >= {min_score:g}": sum(t >= min_score - 1e-9 for t in decided),
            "dimensions": {d: {"mean": _mean(values[j][d]), "undecided": unusable[j][d]} for d in values[j]},
        }
    agreement = []
    for a, b in itertools.combinations(judges, 2):
        both = [(x, y) for x, y in zip(totals[a], totals[b]) if x is not None and y is not None]
        rho = spearman([x for x, _ in both], [y for _, y in both])
        agreement.append({"judges": [a, b], "rows": len(both), "spearman": rho})
    out = Path(output)
    series = {j: np.array([t for t in totals[j] if t is not None]) for j in judges}
    plot = report.histogram_png(
        out.with_name(out.stem + ".score_totals.png"),
        series,
        f"weighted totals per judge ({settings['rubric']['name']}); dotted: --min-score {min_score:g}",
        "total (weighted, normalised to 0-1)",
        edges=np.array([min_score]),
        bins=21,
        log_x=False,
        span=(0.0, 1.0),
    )
    return {"judges": per_judge, "agreement": agreement, "totals_png": str(plot)}


def print_summary(summary: dict[str, Any]) -> None:
    """The tables, and a warning for each pair of judges that disagree."""
    judges = summary["judges"]
    report.print_table(
        "score: per judge",
        ["judge", "rows", "decided", "undecided", "mean total", *[k for k in next(iter(judges.values())) if ">=" in k]],
        [
            [j, s["rows"], s["decided"], s["undecided"], s["mean_total"] if s["decided"] else "-"]
            + [v for k, v in s.items() if ">=" in k]
            for j, s in judges.items()
        ],
    )
    report.print_table(
        "score: per judge and dimension (mean over the rows the judge decided)",
        ["judge / dimension", "mean", "undecided"],
        [
            [f"{j} / {d}", "-" if v["mean"] is None else v["mean"], v["undecided"]]
            for j, s in judges.items()
            for d, v in s["dimensions"].items()
        ],
    )
    if summary["agreement"]:
        report.print_table(
            "score: agreement between judges (Spearman of the totals, rows both decided)",
            ["judges", "rows", "spearman"],
            [
                [" vs ".join(a["judges"]), a["rows"], "n/a" if a["spearman"] is None else a["spearman"]]
                for a in summary["agreement"]
            ],
        )
    for a in summary["agreement"]:
        if a["spearman"] is not None and a["spearman"] < DISAGREE:
            print(
                f"warning: judges {a['judges'][0]} and {a['judges'][1]} disagree: Spearman {a['spearman']:.2f} "
                f"over {a['rows']:,} rows (under {DISAGREE}); read their scores before trusting the votes",
                file=sys.stderr,
            )
