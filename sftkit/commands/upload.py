"""Convert a results folder to Parquet, write its dataset card, and push it to the Hugging Face Hub.

Input: DIR/<config>/*.json|*.jsonl|*.parquet (each subfolder is a config) and an optional
DIR/original_readme.log (any case) holding the card body. Output, next to the originals:
DIR/data/<config>/<file>.parquet (zstd, one schema per config), DIR/README.md and DIR/plots/.
With --format, each config is exported as SFT data instead (see upload/export_sft.py):
DIR/data/<config>/train.parquet and validation.parquet, and for sharegpt/alpaca/dpo DIR/dataset_info.json.
Reruns convert only sources whose content changed, and remove Parquet whose source is gone. The push
is one commit: the Parquet, the card, its plots and dataset_info.json (the original files too with
--include-sources) that differ from the Hub, and deletions of such files the folder no longer has.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from huggingface_hub import DatasetCard, HfApi
from tqdm import tqdm

from sftkit import cli, report, secrets
from sftkit.data.atomic import write_bytes_atomic
from sftkit.errors import InputError
from sftkit.export.dataset_info import DATASET_INFO
from sftkit.export.layout import discover, original_readme
from sftkit.export.manifest import Manifest, forget_missing
from sftkit.export.options import add_export_args, export_options
from sftkit.export.publish import export_all, export_facts, split_globs
from sftkit.upload.card import CardExtras, build_card, check_license, published_configs
from sftkit.upload.card_args import add_card_args, card_options
from sftkit.upload.convert import convert_config
from sftkit.upload.plots import PLOTS_DIR, config_plots
from sftkit.upload.provenance import chain, stats_files, trace
from sftkit.upload.push import hub_licenses, payload_size, plan_upload, push, remote_files, with_retries
from sftkit.upload.summary import ConfigSummary, summarize, text_field, text_lengths


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add(p, "--dataset-path", required=True, help="folder whose subfolders are configs")
    cli.add(p, "--repo-id", help="USER/NAME on the Hub (required; with --dry-run, a placeholder is used if absent)")
    vis = p.add_mutually_exclusive_group()
    cli.add(vis, "--private", dest="private", action="store_true", default=True, help="private repo (the default)")
    cli.add(vis, "--public", dest="private", action="store_false", help="public repo")
    cli.add(p, "--dry-run", action="store_true", help="do everything but the network calls; print the plan")
    cli.add(
        p,
        "--include-sources",
        action="store_true",
        help="also upload the original .json/.jsonl/.parquet files and their .stats.json",
    )
    cli.add(p, "--split", default="train", help="split name each config's files form (without --format)")
    add_card_args(p)
    cli.add(
        p,
        "--text-field",
        help="field for the length histograms (default: the longest text column; with --format: the assistant's text)",
    )
    cli.add(p, "--commit-message", default="Upload dataset with sftkit")
    cli.add(p, "--keys", help="keys.json path (default: $SFTKIT_KEYS, ./keys.json, repo root)")
    add_export_args(p, format_required=False)
    return p


def convert_all(root: Path) -> tuple[list[tuple], list[str]]:
    configs = discover(root)
    manifest = Manifest(root)
    rows = []
    files = [s for sources in configs.values() for s in sources]
    with tqdm(total=len(files), desc="converting", unit="file", file=sys.stderr) as bar:
        for config, sources in configs.items():
            results = convert_config(root, config, sources, manifest)
            for r in results:
                rows.append((r.source.rel, r.source.output_rel, r.rows, r.status))
            bar.update(len(sources))
    removed = forget_missing(root, manifest, set(configs), {s.rel for s in files})
    manifest.save()
    return rows, removed


def _prepare(root: Path, args: argparse.Namespace) -> tuple[list[ConfigSummary], dict[str, dict[str, str]], CardExtras]:
    """Convert (or with --format export) every config; summaries, split globs and the card's extras."""
    configs = discover(root)
    export = export_options(args)
    extras = CardExtras(trace(stats_files(root), root))
    extras.chains = {name: chain(trace(stats_files(root / name), root).stages) for name in configs}
    if export is not None:
        results, extras.rendered = export_all(root, configs, export, args.tokenizer)
        extras.export = export_facts(results, export)
        globs = split_globs(results)
        lengths = {r.config: r.lengths for r in results}
    else:
        (root / DATASET_INFO).unlink(missing_ok=True)  # an earlier export's: it would describe other files
        files, removed = convert_all(root)
        report.print_table("conversion", ["source", "parquet", "rows", "status"], files)
        for path in removed:
            print(f"removed {path}: its source is gone", file=sys.stderr)
        globs = {name: {args.split: "**/*.parquet"} for name in configs}
    summaries = [summary for name in configs if (summary := summarize(root, name, globs[name])).files]
    if not summaries:
        raise InputError(f"--dataset_path {root}: every data file is empty; nothing to publish")
    shutil.rmtree(root / PLOTS_DIR, ignore_errors=True)
    if export is None:
        text_field(summaries, args.text_field)  # a --text-field in no config is an error
    for s in summaries:
        if export is not None:
            series, what = lengths[s.name], "assistant text"
        else:  # --text-field where the config has it, else the config's own longest text column
            what = args.text_field if args.text_field in dict(s.columns) else text_field([s], None)
            series = text_lengths(root, s, what) if what else None
        extras.plots[s.name] = config_plots(root, s, series, what or "")
    return summaries, globs, extras


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(Path(args.dataset_path) / "README.md", "--dataset_path")
    if args.repo_id is None and not args.dry_run:
        raise InputError(
            "--repo_id USER/NAME is required: the Hub dataset to push to (add --dry-run to convert and write the card "
            "without pushing)"
        )
    args.repo_id = args.repo_id or f"your-username/{Path(args.dataset_path).absolute().name}"
    if args.repo_id.count("/") != 1:
        raise InputError(f"--repo_id {args.repo_id!r}: expected USER/NAME")
    root = Path(args.dataset_path)
    opts = card_options(args, args.repo_id, args.split)
    if args.dry_run:
        check_license(opts, None)
    summaries, globs, extras = _prepare(root, args)

    api, remote, existing = None, {}, None
    if not args.dry_run:
        token = secrets.hf_token(args.keys)
        if token is None:
            raise InputError("no Hugging Face token: set HF_TOKEN, add hf_token to keys.json, or log in")
        api = HfApi(token=token.reveal())
        exists = with_retries(lambda: api.repo_exists(args.repo_id, repo_type="dataset"), "checking the Hub repo")
        remote = remote_files(api, args.repo_id) if exists else {}
        if "README.md" in remote:
            readme = with_retries(
                lambda: api.hf_hub_download(args.repo_id, "README.md", repo_type="dataset"), "reading the Hub README"
            )
            existing = DatasetCard.load(Path(readme)).data.to_dict()
        check_license(opts, existing)  # before the repo is created: a refused upload leaves nothing behind
        extras.source_licenses = hub_licenses(api, extras.provenance.source_datasets)
        with_retries(
            lambda: api.create_repo(args.repo_id, repo_type="dataset", private=args.private, exist_ok=True),
            "creating the Hub repo",
        )
    card = build_card(root, summaries, globs, opts, extras, original_readme(root), existing)
    write_bytes_atomic(root / "README.md", str(card).encode())

    plan = plan_upload(root, remote, set(globs) | published_configs(existing), args.include_sources)
    report.print_table(
        "configs",
        ["config", "rows", "columns", "parquet bytes"],
        [(s.name, s.total, len(s.columns), s.bytes) for s in summaries],
    )
    visibility = "private" if args.private else "public"
    if args.dry_run:
        report.print_table(
            f"dry run: would upload to {args.repo_id} ({visibility})",
            ["file", "bytes"],
            [(p, payload_size(root, p)) for p in plan.add],
        )
        print(f"dry run: {len(plan.add)} files, {plan.bytes:,} bytes; nothing was sent")
        return 0
    for path in plan.delete:
        print(f"deleting {path} from the Hub: the folder no longer has it", file=sys.stderr)
    url = push(api, root, args.repo_id, plan, args.commit_message)
    report.print_summary(
        f"pushed to {args.repo_id} ({visibility})",
        {
            "files sent": len(plan.add),
            "files deleted": len(plan.delete),
            "unchanged on the Hub": len(plan.unchanged),
            "bytes sent": plan.bytes,
            "commit": url or "nothing changed, no commit",
        },
    )
    return 0
