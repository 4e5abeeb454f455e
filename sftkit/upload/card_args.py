"""The card flags, shared by upload_data.py and export_sft.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from sftkit import cli
from sftkit.errors import InputError
from sftkit.upload.card import CardOptions


def add_card_args(p: argparse.ArgumentParser) -> None:
    keep = "; unset: the Hub card's value, else "
    cli.add(p, "--license", help="e.g. cc-by-4.0 (required unless the Hub card has one; other or unknown on purpose)")
    cli.add(p, "--language", nargs="+", help=f"card language(s){keep}en")
    cli.add(p, "--task-categories", nargs="+", help=f"card task categories{keep}text-generation")
    cli.add(p, "--tags", nargs="+", help=f"card tags{keep}sft")
    cli.add(p, "--pretty-name", help=f"card title{keep}the repo name")
    cli.add(
        p, "--description", help="the card's description: text, or @FILE (Markdown); unset: a summary of the pipeline"
    )
    cli.add(p, "--citation", help="a BibTeX entry for the card: text (@misc{...} inline too), or @FILE")


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
    )
