"""Score how hard each question is: gold-answer log-probability, ensemble accuracy, IRT difficulty, and
a composite difficulty_z (formula in sftkit/difficulty/composite.py and the README).

This version refits from saved responses without loading any model:
    hpc/difficulty_scorer.py --from-responses responses.jsonl --output scored.jsonl
FILE is JSONL, one line per item: {"id": ..., "responses": {"<model>": [correct, total], ...},
"avg_logprob": <float or null>} plus any other fields, which are carried through. The IRT fit is
global over every item (Rasch by default, --irt-model 2pl), MAP with normal priors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import orjson

from sftkit import cli, report
from sftkit.data.atomic import dumps_line, write_json_atomic
from sftkit.data.errors import InputError
from sftkit.data.writers import write_lines
from sftkit.difficulty.composite import Weights, score


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add(p, "--from-responses", required=True, help="JSONL of items with per-model [correct, total]")
    cli.add(p, "--output", required=True, help=".jsonl, .json or .parquet")
    cli.add(p, "--irt-model", choices=("rasch", "2pl"), default="rasch")
    cli.add(p, "--irt-prior-sd", type=float, default=2.0, help="sd of the normal prior on beta")
    cli.add(p, "--logprob-weight", type=float, default=1.0, help="w_lp in difficulty_z")
    cli.add(p, "--irt-weight", type=float, default=1.0, help="w_irt in difficulty_z")
    return p


def read_items(path: Path) -> list[dict]:
    items = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: malformed JSON ({exc})") from None
            if not isinstance(item, dict):
                raise InputError(f"{path}:{lineno}: not a JSON object")
            items.append(item)
    if not items:
        raise InputError(f"{path}: no items")
    return items


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scored = score(read_items(Path(args.from_responses)), Weights(args.logprob_weight, args.irt_weight),
                   args.irt_model, args.irt_prior_sd)
    write_lines(args.output, lambda: (dumps_line(r) for r in scored))
    out = Path(args.output)
    z = np.array([r["difficulty_z"] for r in scored])
    beta = np.array([r["irt_beta"] for r in scored])
    plot = report.histogram_png(out.with_name(out.stem + ".difficulty.png"),
                                {"difficulty_z + 4": z + 4, "irt_beta + 6": beta + 6},
                                f"difficulty of {len(scored):,} items (shifted to be positive for the log axis)",
                                "score")
    stats = {"stage": "difficulty_scorer", "items": len(scored), "irt_model": args.irt_model,
             "weights": {"logprob": args.logprob_weight, "irt": args.irt_weight},
             "ensemble_acc_mean": float(np.mean([r["ensemble_acc"] for r in scored])),
             "irt_beta_range": [float(beta.min()), float(beta.max())]}
    write_json_atomic(f"{out}.stats.json", stats)
    report.print_summary("difficulty (refit from responses)", {
        "items": len(scored), "IRT model": args.irt_model, "mean ensemble accuracy": stats["ensemble_acc_mean"],
        "beta min / max": f"{beta.min():.2f} / {beta.max():.2f}", "output": str(out), "histogram": str(plot)})
    return 0
