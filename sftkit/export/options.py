"""The export flags, shared by upload/export_sft.py and upload_data.py --format."""

from __future__ import annotations

import argparse

from sftkit import cli
from sftkit.errors import InputError
from sftkit.export.build import ExportOptions
from sftkit.export.formats import DEFAULT_FIELDS, FORMAT_COLUMNS, FORMATS, PAIR_COLUMNS, FieldMap, FormatOptions
from sftkit.export.pairs import STRATEGIES, UNSURE, PairOptions
from sftkit.export.reasoning import REASONING_MODES
from sftkit.export.splits import QUESTION, SplitOptions

# the export flags and their defaults: any other value without --format is a mistake, not ignored
_EXPORT_DEFAULTS = {
    "reasoning": "inline",
    "system_prompt": None,
    "split_key": QUESTION,
    "keep_fields": None,
    "val_fraction": None,
    "val_size": None,
    "val_stratify": None,
    "seed": 0,
    "tokenizer": None,
    "pairs_per_problem": 1,
    "pair_strategy": "random",
    "min_margin": 0.0,
    "rejected_include": None,
    **{f"{part}_field": None for part in DEFAULT_FIELDS},
}


def add_export_args(p: argparse.ArgumentParser, format_required: bool) -> None:
    g = p.add_argument_group("SFT format (upload/export_sft.py)")
    cli.add(
        g,
        "--format",
        choices=FORMATS,
        required=format_required,
        help="messages (TRL/OpenAI), sharegpt or alpaca (LLaMA-Factory), dpo (preference pairs: TRL and "
        "LLaMA-Factory's ranking)" + ("" if format_required else "; unset: publish the stage outputs as they are"),
    )
    cli.add(
        g,
        "--reasoning",
        choices=REASONING_MODES,
        default="inline",
        help="inline: <think>...</think> before the answer; field: a separate reasoning_content; drop",
    )
    cli.add(g, "--system-prompt", help="a system turn before every question (a row's own system field wins)")
    for part, names in DEFAULT_FIELDS.items():
        cli.add(
            g, f"--{part}-field", help=f"input field of the {part} (default: the first present of {', '.join(names)})"
        )
    pairs = p.add_argument_group("preference pairs (--format dpo)")
    cli.add(pairs, "--pairs-per-problem", type=int, default=1, help="pairs per problem from the filter's samples (K)")
    cli.add(
        pairs,
        "--pair-strategy",
        choices=STRATEGIES,
        default="random",
        help="random: K seeded draws of all correct x incorrect pairs; longest-vs-shortest: the K longest correct "
        "against the K shortest incorrect; all: every pair",
    )
    cli.add(
        pairs,
        "--min-margin",
        type=float,
        default=0.0,
        help="score source: the least score difference between chosen and rejected",
    )
    cli.add(
        pairs,
        "--rejected-include",
        nargs="*",
        choices=UNSURE,
        help="filter source: samples also used as rejected (never as chosen): truncated, undecided",
    )
    cli.add(
        g,
        "--split-key",
        default=QUESTION,
        help="what the split hashes: question (normalized: every solution of a problem in one split), id, or "
        "any FIELD (a row without it is rejected)",
    )
    cli.add(
        g,
        "--keep-fields",
        nargs="*",
        help="input fields kept beside each example (default: the ids, labels "
        "and scores the stages write, where present); none: give it empty",
    )
    cli.add(g, "--val-fraction", type=float, help="share of split keys (problems, by default) for validation, by hash")
    cli.add(
        g,
        "--val-size",
        type=int,
        help="validation = the N split keys (with the default key: problems) of smallest hash, all their rows",
    )
    cli.add(
        g,
        "--val-stratify",
        help="split each value of this field on its own (a field of few values: bin a continuous one first)",
    )
    cli.add(g, "--seed", type=int, default=0, help="seed of the split hash")
    cli.add(
        g,
        "--tokenizer",
        help="render the first exported rows with this tokenizer's chat template (a check, and the card's example)",
    )


def export_options(args: argparse.Namespace) -> ExportOptions | None:
    """The export the flags ask for; None without --format."""
    if args.format is None:
        given = [f"--{k.replace('_', '-')}" for k, v in _EXPORT_DEFAULTS.items() if getattr(args, k) != v]
        if given:
            raise InputError(f"{', '.join(given)}: only with --format (messages, sharegpt, alpaca or dpo)")
        return None
    pair_flags = ("pairs_per_problem", "pair_strategy", "min_margin", "rejected_include")
    given = [f"--{k.replace('_', '-')}" for k in pair_flags if getattr(args, k) != _EXPORT_DEFAULTS[k]]
    if given and args.format != "dpo":
        raise InputError(f"{', '.join(given)}: only with --format dpo")
    if args.pairs_per_problem < 1:
        raise InputError(f"--pairs-per-problem {args.pairs_per_problem}: must be >= 1")
    if args.min_margin < 0:
        raise InputError(f"--min-margin {args.min_margin}: must be >= 0")
    if args.val_fraction is not None and args.val_size is not None:
        raise InputError("--val-fraction and --val-size: give one")
    if args.val_fraction is not None and not 0 <= args.val_fraction < 1:
        raise InputError(f"--val-fraction {args.val_fraction}: must be in [0, 1)")
    if args.val_size is not None and args.val_size < 0:
        raise InputError(f"--val-size {args.val_size}: must be >= 0")
    if args.val_stratify and args.val_fraction is None and args.val_size is None:
        raise InputError("--val-stratify needs --val-fraction or --val-size")
    if args.reasoning == "field" and args.format not in ("messages", "dpo"):
        raise InputError(
            f"--reasoning field with --format {args.format}: LLaMA-Factory's dataset_info.json has no "
            "column for a separate reasoning_content; use --reasoning inline (its templates read "
            "<think> blocks) or drop, or --format messages"
        )
    clash = set(args.keep_fields or ()) & (FORMAT_COLUMNS if args.format == "dpo" else FORMAT_COLUMNS - PAIR_COLUMNS)
    if clash:
        raise InputError(f"--keep-fields {', '.join(sorted(clash))}: the exported example has such a column itself")
    fields = FieldMap(
        **{
            part: (given,) if (given := getattr(args, f"{part}_field")) else names
            for part, names in DEFAULT_FIELDS.items()
        }
    )
    return ExportOptions(
        FormatOptions(args.format, args.reasoning, args.system_prompt, fields),
        SplitOptions(args.val_fraction, args.val_size, args.val_stratify, args.seed, args.split_key),
        tuple(args.keep_fields) if args.keep_fields is not None else None,
        PairOptions(
            args.pairs_per_problem, args.pair_strategy, args.min_margin, tuple(args.rejected_include or ()), args.seed
        ),
    )


def split_rule(opts: ExportOptions) -> str:
    """The split as the card states it."""
    s = opts.split
    if not s.wanted:
        return "no validation split"
    key = (
        "the normalized question (NFKC, casefolded, whitespace collapsed), so every solution of a problem "
        "is in the same split"
        if s.key == QUESTION
        else f"`{s.key}`"
    )
    draw = f"sha256(seed={s.seed}, key)"
    if s.fraction:
        rule = f"validation = the rows with {draw} < {s.fraction:g} (read as a number in [0, 1))"
        return rule + (f", in each value of `{s.stratify}` alike" if s.stratify else "") + f"; the key is {key}"
    if s.stratify:
        return (
            f"validation = per value of `{s.stratify}`, its Sainte-Laguë share of {s.size:,} keys with the "
            f"smallest {draw}; the key is {key}"
        )
    return f"validation = the rows of the {s.size:,} keys with the smallest {draw}; the key is {key}"
