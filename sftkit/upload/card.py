"""The dataset card, built with huggingface_hub's DatasetCard API (no hand-written YAML).

Front matter: license, ``source_datasets`` (the Hub ids the stages read), ``configs:`` (each config's
splits and their Parquet files), ``dataset_info`` (features and sizes, computed by ``datasets``),
language (detected from the data's scripts unless given), task categories, computed size category,
tags, pretty name; the values a user gives are checked against the Hub's lists (hub_metadata). Body,
unless the folder supplies ``original_readme.log``: a description, intended use, the dataset owner and
its created and modified dates, the upstream datasets with their licenses; per config its fields with
their meaning and type, one example record (the one rendered through the chat template, when checked),
and a ``load_dataset`` snippet per split; how the data was made, stage by stage from the ``*.stats.json``
provenance; histograms per config; limitations; a citation when given.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from sftkit.errors import InputError
from sftkit.export.field_docs import meaning
from sftkit.export.layout import DATA_DIR
from sftkit.export.render import Rendered
from sftkit.scripts import languages
from sftkit.upload.local_paths import publishable
from sftkit.upload.provenance import Provenance
from sftkit.upload.summary import ConfigSummary, sample_texts, size_category

_EXAMPLE_CHARS = 300
_RENDERED_CHARS = 1_500
LICENSE_ON_PURPOSE = ("other", "unknown")

# the card keys a user may set: a flag given sets one; otherwise the Hub card's value stays, else this default
USER_KEYS = ("license", "language", "task_categories", "tags", "pretty_name")
DEFAULTS = {"task_categories": ["text-generation"], "tags": ["sft"]}  # language: detected from the data
_CREATED = re.compile(r"^- Created: (\d{4}-\d{2}-\d{2})$", re.M)


@dataclass
class CardOptions:
    """The card flags; None means the flag was not given."""

    repo_id: str
    split: str = "train"
    license: str | None = None
    language: list[str] | None = None
    task_categories: list[str] | None = None
    tags: list[str] | None = None
    pretty_name: str | None = None
    description: str | None = None
    citation: str | None = None
    intended_use: str | None = None
    owner: str | None = None  # None: the repo's namespace
    source_licenses: dict[str, str] = field(default_factory=dict)  # Hub id -> license, where its card gives none


@dataclass
class CardExtras:
    """What the card says beyond the data itself: provenance, plots, rendered examples, the export."""

    provenance: Provenance
    plots: dict[str, list[str]] = field(default_factory=dict)  # config -> plot paths relative to the folder
    rendered: dict[str, Rendered] = field(default_factory=dict)  # config -> its first row through a chat template
    chains: dict[str, str] = field(default_factory=dict)  # config -> its rows stage by stage, "3,200 → 566 → 12"
    export: dict[str, Any] | None = None  # format, reasoning, split rule, per-config counts
    source_licenses: dict[str, str] = field(default_factory=dict)  # Hub id -> the license its Hub card states


def _truncate(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _EXAMPLE_CHARS:
        return value[:_EXAMPLE_CHARS] + f"... [{len(value):,} chars]"
    if isinstance(value, list):
        return [_truncate(v) for v in value[:5]]
    if isinstance(value, dict):
        return {k: _truncate(v) for k, v in value.items()}
    return value


def load_snippet(repo_id: str, config: str, split: str) -> str:
    return f"from datasets import load_dataset\n\nds = load_dataset({repo_id!r}, {config!r}, split={split!r})\n"


def _data_glob(config: str, split_glob: str) -> str:
    return f"{DATA_DIR}/{config}/{split_glob}"


def published_configs(front: dict[str, Any] | None) -> set[str]:
    """The configs a card lists as we write them (data under data/<config>/): ones an earlier upload made."""
    found = set()
    for entry in (front or {}).get("configs") or []:
        if not isinstance(entry, dict):
            continue
        files = entry.get("data_files")
        paths = [f.get("path") if isinstance(f, dict) else f for f in (files if isinstance(files, list) else [files])]
        prefix = f"{DATA_DIR}/{entry.get('config_name')}/"
        if paths and all(isinstance(p, str) and p.startswith(prefix) for p in paths):
            found.add(entry["config_name"])
    return found


def check_license(opts: CardOptions, existing: dict[str, Any] | None) -> None:
    """A published dataset states its license: a flag, or the Hub card's; ``other``/``unknown`` on purpose."""
    if opts.license is not None and not opts.license.strip():
        raise InputError("--license is empty: name one (e.g. cc-by-4.0), or other or unknown on purpose")
    if opts.license is None and not (existing or {}).get("license"):
        raise InputError(
            "--license is required: the card must say how the data may be used (e.g. cc-by-4.0, "
            f"apache-2.0; the license of the source datasets); give {' or '.join(LICENSE_ON_PURPOSE)} "
            "to publish without one on purpose"
        )


def _dataset_info(s: ConfigSummary) -> dict[str, Any]:
    splits = [
        {"name": name, "num_bytes": s.split_bytes.get(name, 0), "num_examples": rows} for name, rows in s.rows.items()
    ]
    return {
        "config_name": s.name,
        "features": s.features,
        "splits": splits,
        "download_size": s.bytes,
        "dataset_size": sum(s.split_bytes.values()),
    }


def build_card(
    root: Path,
    summaries: list[ConfigSummary],
    split_globs: dict[str, dict[str, str]],
    opts: CardOptions,
    extras: CardExtras,
    body: str | None,
    existing: dict[str, Any] | None = None,
) -> DatasetCard:
    """The card. ``existing`` front matter from the Hub keeps its keys except the ones a flag set;
    ``configs``, ``dataset_info``, ``source_datasets`` and ``size_categories`` describe the data and are ours."""
    existing = dict(existing or {})
    front: dict[str, Any] = dict(existing)
    defaults = {**DEFAULTS, "pretty_name": opts.repo_id.split("/")[-1].replace("-", " ").replace("_", " ")}
    if _preference(extras):
        defaults["tags"] = ["dpo"]
    for key in USER_KEYS:
        value = getattr(opts, key)
        if value is None and existing.get(key) is None:
            value = languages(sample_texts(root, summaries)) if key == "language" else defaults.get(key)
        if value is not None:
            front[key] = value
    front["size_categories"] = [size_category(sum(s.total for s in summaries))]
    if extras.provenance.source_datasets:
        front["source_datasets"] = extras.provenance.source_datasets
    front["configs"] = [
        {
            "config_name": s.name,
            "data_files": [
                {"split": split, "path": _data_glob(s.name, split_globs[s.name][split])} for split in s.splits
            ],
        }
        for s in summaries
    ]
    front["dataset_info"] = [_dataset_info(s) for s in summaries]
    data = DatasetCardData(**front)
    if body is None:
        body = _body(root, summaries, opts, front, extras)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body.strip()}\n")


def _description(summaries: list[ConfigSummary], opts: CardOptions, front: dict[str, Any], extras: CardExtras) -> str:
    if opts.description:
        return opts.description.strip()
    rows = sum(s.total for s in summaries)
    what = f"in the `{extras.export['format']}` format" if extras.export else "as the stages wrote them"
    kind = "preference pairs (prompt, chosen, rejected)" if _preference(extras) else "supervised fine-tuning data"
    text = f"{rows:,} rows of {kind} {what}, built with sftkit"
    sources = front.get("source_datasets") or []
    if sources:
        text += " from " + ", ".join(f"[`{s}`](https://huggingface.co/datasets/{s})" for s in sources)
    stages = extras.provenance.stages
    if stages:
        text += ": " + " → ".join(f"`{s.name}`" for s in stages)
    chains = [c for c in extras.chains.values() if c]
    return text + (f" ({chains[0]} rows)." if len(extras.chains) == 1 and chains else ".")


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _made(extras: CardExtras) -> list[str]:
    stages = extras.provenance.stages
    out = ["", "## How it was made", ""]
    if stages:
        out += ["Rows through the stages behind each config:", ""]
        out += [f"- `{c}`: {chain}" for c, chain in extras.chains.items() if chain]
        out += [
            "",
            "| # | stage | output | rows in → out | models | sampling | settings |",
            "| ---: | --- | --- | --- | --- | --- | --- |",
        ]
        for k, s in enumerate(stages, 1):
            flow = f"{s.rows_in:,} → " if s.rows_in is not None else "→ "
            flow += f"{s.rows_out:,}" if s.rows_out is not None else "not recorded"
            out.append(
                f"| {k} | `{s.name}` | `{s.output}` | {flow} | {_cell(', '.join(s.models) or '—')} | "
                f"{_cell('; '.join(s.sampling) or '—')} | {_cell(', '.join(s.settings) or '—')} |"
            )
        counted = [s for s in stages if s.counts]
        if counted:
            out += ["", "Counts each stage recorded:", ""]
            out += [
                f"- `{s.name}` (`{s.output}`): "
                + ", ".join(
                    f"`{_cell(k)}` {v:,}" if isinstance(v, int) else f"`{_cell(k)}` {_cell(str(v))}"
                    for k, v in s.counts.items()
                )
                for s in counted
            ]
    else:
        out.append("No stage provenance (`*.stats.json`) was found next to the data.")
    if extras.export:
        e = extras.export
        out += [
            "",
            f"Exported with `upload/export_sft.py`: format `{e['format']}`, reasoning `{e['reasoning']}`, "
            f"{e['split_rule']}.",
        ]
        for c, n in e["configs"].items():
            if not n["rows_in"]:
                out.append(f"- `{c}`: no rows (left out)")
                continue
            rejected = (
                f"{n['rejects']:,} rejected ({_cell(json.dumps(n['reasons'], ensure_ascii=False))})"
                if n["rejects"]
                else "none rejected"
            )
            out.append(
                f"- `{c}`: {n['rows_in']:,} rows in, "
                + ", ".join(f"{rows:,} {split}" for split, rows in n["splits"].items())
                + f", {rejected}"
            )
    return out


def _limitations(summaries: list[ConfigSummary], extras: CardExtras) -> list[str]:
    columns = {name for s in summaries for name, _ in s.columns}
    names = {s.name for s in extras.provenance.stages}
    out = [
        "",
        "## Limitations",
        "",
        "- Solutions and answers come from the source data and from models; none was checked by a person.",
    ]
    scored = {"pass_rate", "ensemble_acc", "difficulty_z", "irt_beta"} & columns
    if scored or {"filter", "difficulty_scorer"} & names:
        out.append(
            "- Pass rates and difficulty scores are measured with the models listed above, on this pool: "
            "they rank rows against each other and are not absolute difficulty."
        )
    if "filter" in names:
        out.append(
            "- Correctness was decided by math-verify and LLM judges, which can be wrong on unusual answer forms."
        )
    if extras.export and extras.export["split_rule"] != "no validation split":
        out.append("- The validation split is a hash-chosen sample of the same distribution, not a held-out benchmark.")
    if not any("decontam" in n for n in names):
        out.append("- Not decontaminated against public benchmarks by this pipeline.")
    return out


def _preference(extras: CardExtras) -> bool:
    """An export of preference pairs: a card that says SFT (or `SFTTrainer`) would send users the wrong way."""
    return bool(extras.export) and extras.export["format"] == "dpo"


def _intended_use(opts: CardOptions, extras: CardExtras) -> list[str]:
    out = ["", "## Intended use", ""]
    if opts.intended_use:
        return [*out, opts.intended_use.strip()]
    if _preference(extras):
        out.append(
            "Preference optimisation (DPO and its variants) of chat models: `prompt`/`chosen`/`rejected` load as "
            "they are in TRL's `DPOTrainer`, and LLaMA-Factory's `stage: dpo` reads `dataset_info.json`."
        )
    elif extras.export:
        fmt = extras.export["format"]
        out.append(
            f"Supervised fine-tuning of chat models: the `{fmt}` format loads as it is in TRL's `SFTTrainer`"
            + (" and LLaMA-Factory (`dataset_info.json`)." if fmt in ("sharegpt", "alpaca") else ".")
        )
    else:
        out.append("Supervised fine-tuning data and its selection signals, as the pipeline's stages wrote them.")
    out += [
        "",
        "Not intended as an evaluation benchmark (a validation split, if any, is a sample of the same data), "
        "nor for uses that the licenses of the upstream datasets below do not allow.",
    ]
    return out


def _about(opts: CardOptions, extras: CardExtras, created: str, today: str) -> list[str]:
    owner = opts.owner or opts.repo_id.split("/")[0]
    out = ["", "## Dataset owner and dates", "", f"- Owner: {owner}", f"- Created: {created}", f"- Modified: {today}"]
    sources = extras.provenance.source_datasets
    out += ["", "## Upstream datasets", ""]
    if not sources:
        return [*out, "None recorded: no stage behind this data read a Hub dataset."]
    out += ["| dataset | license |", "| --- | --- |"]
    for source in sources:
        license = extras.source_licenses.get(source) or opts.source_licenses.get(source)
        shown = f"`{license}`" if license else "not stated (see its card; give `--source-license ID=LICENSE`)"
        out.append(f"| [`{source}`](https://huggingface.co/datasets/{source}) | {shown} |")
    return out


def created_date(root: Path, today: str) -> str:
    """The date the card first said, when the folder's card is ours from an earlier run; else today."""
    card = root / "README.md"
    found = _CREATED.search(card.read_text(encoding="utf-8", errors="replace")) if card.is_file() else None
    return found.group(1) if found else today


def _body(
    root: Path, summaries: list[ConfigSummary], opts: CardOptions, front: dict[str, Any], extras: CardExtras
) -> str:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    out = [f"# {front['pretty_name']}", "", _description(summaries, opts, front, extras)]
    out += _intended_use(opts, extras)
    out += _about(opts, extras, created_date(root, today), today)
    out += ["", "## Configs and splits", "", "| config | split | rows |", "| --- | --- | ---: |"]
    out += [f"| `{s.name}` | {split} | {rows:,} |" for s in summaries for split, rows in s.rows.items()]
    for s in summaries:
        out += ["", f"### `{s.name}`", "", "| field | type | meaning |", "| --- | --- | --- |"]
        out += [f"| `{col}` | `{dtype}` | {_cell(meaning(col))} |" for col, dtype in s.columns]
        for split in s.splits:
            snippet = load_snippet(opts.repo_id, s.name, split).rstrip()
            out += ["", f"Load the {split} split:", "", "```python", snippet, "```"]
        rendered = extras.rendered.get(s.name)
        record = rendered.record if rendered else s.example  # one row: the record shown is the one rendered
        if record is not None:
            example = json.dumps(_truncate(publishable(record, root)), ensure_ascii=False, indent=2, default=str)
            out += ["", "Example record:", "", "```json", example, "```"]
        if rendered:
            text = str(publishable(rendered.text.rstrip(), root))
            if len(text) > _RENDERED_CHARS:
                text = text[:_RENDERED_CHARS] + f"... [{len(text):,} chars]"
            out += [
                "",
                "The same record through the chat template every exported row was checked with (each row's "
                "reasoning is in its rendering):",
                "",
                "```text",
                text,
                "```",
            ]
    out += _made(extras)
    plots = [(c, p) for c, paths in extras.plots.items() for p in paths]
    if plots:
        out += ["", "## Distributions", ""]
        out += [f"![{Path(p).stem.replace('.', ' ')}]({p})" for _, p in plots]
    out += _limitations(summaries, extras)
    if opts.citation:
        out += ["", "## Citation", "", "```bibtex", opts.citation.strip(), "```"]
    return "\n".join(out)
