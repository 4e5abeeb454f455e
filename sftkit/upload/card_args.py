"""The card flags, shared by upload_data.py and export_sft.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from sftkit import cli
from sftkit.errors import InputError
from sftkit.upload.card import CardOptions
from sftkit.upload.hub_metadata import check_metadata


def add_card_args(p: argparse.ArgumentParser) -> None:
    keep = "; unset: the Hub card's value, else "
    cli.add(p, "--license", help="e.g. cc-by-4.0 (required unless the Hub card has one; other or unknown on purpose)")
    cli.add(
        p,
        "--language",
        nargs="+",
        help=f"card language(s), ISO 639 codes (en, zh){keep}detected from the data's scripts (en, zh, ja, ko)",
    )
    cli.add(p, "--task-categories", nargs="+", help=f"card task categories{keep}text-generation")
    cli.add(p, "--tags", nargs="+", help=f"card tags{keep}sft")
    cli.add(p, "--pretty-name", help=f"card title{keep}the repo name")
    cli.add(
        p, "--description", help="the card's description: text, or @FILE (Markdown); unset: a summary of the pipeline"
    )
    cli.add(p, "--citation", help="a BibTeX entry for the card: text (@misc{...} inline too), or @FILE")
    cli.add(
        p,
        "--intended-use",
        help="the card's intended-use section: text, or @FILE; unset: training use of the format, not a benchmark",
    )
    cli.add(p, "--dataset-owner", help="who owns and answers for the dataset (default: the repo's namespace)")
    cli.add(
        p,
        "--source-license",
        nargs="+",
        metavar="ID=LICENSE",
        help="license of an upstream Hub dataset whose card states none, e.g. nvidia/OpenMathReasoning=cc-by-4.0",
    )


def _source_licenses(given: list[str] | None) -> dict[str, str]:
    out = {}
    for item in given or ():
        source, sep, license = item.partition("=")
        if not sep or not source.strip() or not license.strip():
            raise InputError(f"--source-license {item}: expected ID=LICENSE, e.g. nvidia/OpenMathReasoning=cc-by-4.0")
        check_metadata(license.strip(), None, None, flag="--source-license")
        out[source.strip()] = license.strip()
    return out


def _text(value: str | None, flag: str) -> str | None:
    """``@FILE`` is the file's text; other text as given, BibTeX's own ``@misc{...}`` included."""
    if value is None or not value.startswith("@"):
        return value
    path = Path(value[1:])
    if not path.is_file() and "{" in value:  # an inline BibTeX entry, not a file name
        return value
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{flag} {value}: cannot read {path} ({exc})") from None


def card_options(args: argparse.Namespace, repo_id: str, split: str = "train") -> CardOptions:
    """The card flags, each value the Hub lists checked first: a typo stops here, before any work."""
    check_metadata(args.license, args.language, args.task_categories)
    return CardOptions(
        repo_id,
        split,
        args.license,
        args.language,
        args.task_categories,
        args.tags,
        args.pretty_name,
        _text(args.description, "--description"),
        _text(args.citation, "--citation"),
        _text(args.intended_use, "--intended-use"),
        args.dataset_owner,
        _source_licenses(args.source_license),
    )
