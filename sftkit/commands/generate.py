"""Generate rows from rows: a prompt template over each row, a model's completions, parsed into new rows.

--prompt-file holds the template: {{field}} stands for any field of the row, {{a.b}} for a nested one
(--system-prompt-file likewise, as a system message). --parse says how a completion becomes rows: text,
tags:A,B (the last complete <A>…</A> of each, byte-exact; a JSON object is accepted instead), json:A,B,
json-list[:A,B] (each item a row) or lines[:A] (a numbered or bulleted list, each item a row). With --n
samples per row and a list per sample one row fans out into many; every output row has parent_id and a
lineage (sample, item, prompt hash, the parent's own lineage). --chunk-field F --chunk-tokens N splits a
long field into slices of N tokens of the model's tokenizer first (doc_id, slice_index name them).
--novelty-against POOL keeps an item only when its ROUGE-L with every pool instruction and every item kept
before it is below --max-rouge-l (Self-Instruct's rule, indexed). Rejected, to <output>.rejects.jsonl with
a reason and counted: a cut sample, a refusal, an item that does not parse (of a JSON list only that item),
an empty field, a copy of the input, a rejected keyword, a length outside --min-words/--max-words, a
--keep-if verdict not met, an item that is not novel.

Without --parse the seed preset runs (the predecessor's generateFromSeed.py): a new math problem and its
answer from each seed, between <question> and </question> and <answer> and </answer>; its {{question}}
and {{answer}} stand for --question-field and --answer-field; seed_id and seed_question are carried; a
copy of the seed is rejected. Whole chunks of --save-per-iteration rows go to the engine at once (vLLM
batches them continuously) and are checkpointed, so a killed shard resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sftkit import cli, preflight, prompts, report
from sftkit.cli.engines import add_engine_args, add_sampling_args, engine_gpus, make_engine, sampling_of
from sftkit.data.fields import TextField
from sftkit.data.shards import Shard
from sftkit.data.sources import InputSpec, Source, open_source
from sftkit.engines.base import ChatOptions
from sftkit.errors import InputError
from sftkit.generate.chunking import Chunker
from sftkit.generate.generator import FewShot, Generator, ItemRules
from sftkit.generate.novelty import Novelty
from sftkit.generate.parse import parse_spec
from sftkit.generate.seed import DEFAULT_PROMPT, preset
from sftkit.runner.stage import check_fields, run_stage

SERVER_ENGINES = ("",)  # engine flag prefixes slurm/submit.sh --server can serve
STAGE = "generate"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, aliases=("--input-file",))
    cli.add_field_args(p)
    add_engine_args(p)
    add_sampling_args(p, max_tokens=4096, temperature=0.3)
    g = p.add_argument_group("template and parsing")
    cli.add(g, "--system-prompt-file", help="system message template with {{placeholders}}, filled per row")
    cli.add(
        g,
        "--parse",
        help="text[:F] | tags:A,B | json:A,B | json-list[:A,B] | lines[:F]; without it, the seed preset",
    )
    cli.add(g, "--carry", action="append", help="copy a row field into each output row: FIELD or FIELD:NEW")
    cli.add(g, "--few-shot", action="append", help="examples pool, PATH or PATH:FIELD (repeatable): {{examples}}")
    cli.add(g, "--few-shot-k", type=int, default=3, help="examples drawn per row (seeded by --seed and the row id)")
    cli.add(g, "--chunk-field", help="split this text field into slices of --chunk-tokens before prompting")
    cli.add(g, "--chunk-tokens", type=int, default=2048, help="tokens per slice (the model's tokenizer)")
    cli.add(g, "--chunk-overlap", type=int, default=0, help="tokens each slice repeats from the one before")
    cli.add(g, "--tokenizer", help="tokenizer for --chunk-field (default: --model)")
    r = p.add_argument_group("item rules (each failure is a counted reject)")
    cli.add(r, "--novelty-against", action="append", help="pool of instructions, PATH or PATH:FIELD (repeatable)")
    cli.add(r, "--max-rouge-l", type=float, default=0.7, help="novelty: reject an item whose ROUGE-L reaches this")
    cli.add(r, "--reject-keywords", help="comma-separated words; an item whose main field has one is rejected")
    cli.add(r, "--min-words", type=int, help="reject an item whose main field has fewer words (CJK: characters)")
    cli.add(r, "--max-words", type=int, help="reject an item whose main field has more words (CJK: characters)")
    cli.add(r, "--keep-if", action="append", help="FIELD=A|B: keep an item only when its FIELD is one of these")
    o = p.add_argument_group("output")
    cli.add(
        o,
        "--output",
        "--output-file",
        env=True,
        default="results/generated.jsonl",
        help=".jsonl, .json or .parquet; parts of a sharded run go to <output>.parts/",
    )
    cli.add(
        o,
        "--save-per-iteration",
        type=int,
        default=512,
        dest="checkpoint_every",
        help="rows per engine call and checkpoint",
    )
    cli.add(
        o,
        "--keep-input",
        action="store_true",
        help="write each usable input row, unchanged, before the rows made from it (a round's output: the grown pool)",
    )
    cli.add_shard_args(p)
    return p


def gpus_needed(args: argparse.Namespace) -> int:
    """GPUs one worker's engine uses (none with --engine openai)."""
    return engine_gpus(args)


def generation_headline(counts: dict[str, int]) -> str:
    """One line a person reads first: what was generated, what was kept, and the main reasons the rest was not.
    Nothing kept is a warning: the prompt, the parsing or the model does not fit."""
    made, kept = counts.get("generated", 0), counts.get("kept", 0)
    reasons = sorted(
        ((v, k.removeprefix("rejected: ")) for k, v in counts.items() if k.startswith("rejected: ")), reverse=True
    )
    lost = sum(v for v, _ in reasons)
    why = "; ".join(f"{n:,} {reason}" for n, reason in reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    items = f" ({counts['items']:,} items)" if "items" in counts else ""
    line = f"generated {made:,}{items}, kept {kept:,}" + (f" ({lost:,} rejected: {why})" if lost else "")
    return f"warning: {line}: nothing kept" if made and not kept else line


def _pairs(values: list[str] | None, flag: str, sep: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        name, _, other = value.partition(sep)
        if not name or (sep == "=" and not other):
            raise InputError(f"{flag} {value!r}: expected FIELD{sep}{'VALUE' if sep == '=' else 'NEW'}")
        out[name] = other or name
    return out


def load_pool(specs: list[str], field: str | None, flag: str = "--novelty-against") -> list[str]:
    """The instructions of each PATH[:FIELD] (default: the parsed main field), in order."""
    texts: list[str] = []
    for spec in specs:
        path, name = (spec, field) if Path(spec).exists() else (spec.rpartition(":")[0], spec.rpartition(":")[2])
        if not name or not path:
            raise InputError(f"{flag} {spec!r}: name the field, PATH:FIELD")
        source = open_source(InputSpec(path))
        for batch in source.batches(0, source.num_rows(), 10_000):
            for k, value in enumerate(batch.values(name)):
                if not isinstance(value, str):
                    raise InputError(f"{batch.location(k)}: {flag} field {name!r} is {value!r}, not text")
                texts.append(value)
    return texts


def check_placeholders(source: Source, shard: Shard, names: list[str], filled: set[str], where: str) -> None:
    """A placeholder no row of the shard's first rows fills is a mistake: one line, before any model loads.
    ``filled``: the names the stage fills itself (``examples`` with --few-shot)."""
    span = shard.rows(source.num_rows())
    for batch in source.batches(span.start, min(span.stop, span.start + 100), 100):
        rows = batch.records("id")
        for name in sorted(set(names) - filled):
            if all(prompts.lookup(row, name) is prompts.ABSENT for row in rows):
                raise InputError(
                    f"{where}: {{{{{name}}}}} is not a field of {batch.file} (its rows have: "
                    f"{', '.join(batch.field_names())})"
                )
        return


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    preflight.check_gpus(gpus_needed(args))
    if args.system_prompt_file and args.system_prompt:
        raise InputError("--system-prompt and --system-prompt-file: give one")
    general = args.parse is not None
    template = prompts.load(args.prompt_file, DEFAULT_PROMPT, set() if general else {"question"})
    system = Path(args.system_prompt_file).read_text(encoding="utf-8") if args.system_prompt_file else None
    spec, shard = cli.input_spec(args), cli.shard_of(args)
    sampling = sampling_of(args)
    chat = ChatOptions(args.system_prompt, args.enable_thinking)
    prompt_id = {"prompt_file": args.prompt_file, "prompt_sha256": prompts.sha256(template)}
    if system is not None:
        prompt_id |= {"system_prompt_file": args.system_prompt_file, "system_prompt_sha256": prompts.sha256(system)}
    if general:
        parse = parse_spec(args.parse)
        names = sorted(prompts.placeholders(template) | prompts.placeholders(system or ""))
        step_settings: dict[str, Any] = {
            "spec": parse,
            "carry": _pairs(args.carry, "--carry", ":"),
            "rules": ItemRules(copy_of={n: f"input field '{n}'" for n in names}),
        }
    else:
        step_settings = preset(template, args.question_field, args.answer_field, args.id_field)
        parse = step_settings["spec"]
    keep_if = {
        k: frozenset(v.strip().casefold() for v in vals.split("|"))
        for k, vals in _pairs(args.keep_if, "--keep-if", "=").items()
    }
    step_settings["rules"] = ItemRules(
        copy_of=step_settings["rules"].copy_of,
        keywords=tuple(w.strip() for w in (args.reject_keywords or "").split(",") if w.strip()),
        min_words=args.min_words,
        max_words=args.max_words,
        keep_if=keep_if,
    )
    settings = {
        "input": spec.__dict__,
        "model": args.model,
        "sampling": sampling.to_json(),
        "chat": chat.__dict__,
        **prompt_id,
        "fields": [args.question_field, args.answer_field, args.id_field],
    }
    if general or args.system_prompt_file:
        settings |= {"parse": str(parse), "carry": args.carry}
    extras = {
        k: v
        for k, v in {
            "chunk": [args.chunk_field, args.chunk_tokens, args.chunk_overlap, args.tokenizer]
            if args.chunk_field
            else None,
            "novelty": [args.novelty_against, args.max_rouge_l] if args.novelty_against else None,
            "few_shot": [args.few_shot, args.few_shot_k, args.seed] if args.few_shot else None,
            "rules": [args.reject_keywords, args.min_words, args.max_words, args.keep_if],
            "keep_input": [True] if args.keep_input else None,
        }.items()
        if v is not None and any(x is not None for x in v)
    }
    settings |= extras
    source = open_source(spec)
    # the stage fills {{examples}} (--few-shot), and the preset its {{question}} and {{answer}} (field flags)
    filled = ({"examples"} if args.few_shot else set()) | (set() if general else {"question", "answer"})
    files = {"--prompt-file": (args.prompt_file, template), "--system-prompt-file": (args.system_prompt_file, system)}
    for flag, (path, text) in files.items():
        if text is not None:
            check_placeholders(source, shard, sorted(prompts.placeholders(text)), filled, f"{flag} {path}")
    if not general:
        needed = {args.question_field: "--question-field"}
        if "answer" in prompts.placeholders(template):
            needed[args.answer_field] = "--answer-field"
        check_fields(source, shard, needed)
    if args.chunk_field:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model)
        step_settings["chunker"] = Chunker(tokenizer, args.chunk_tokens, args.chunk_overlap)
        step_settings["chunk_field"] = args.chunk_field
        step_settings["fields"] = [*step_settings.get("fields", []), TextField(args.chunk_field)]
    if args.novelty_against:
        pool = load_pool(args.novelty_against, parse.main)
        step_settings["novelty"] = Novelty(args.max_rouge_l, pool)
        print(f"novelty: {len(pool):,} pool instructions, ROUGE-L < {args.max_rouge_l:g}", file=sys.stderr)
    if args.few_shot:
        examples = tuple(load_pool(args.few_shot, parse.main, "--few-shot"))
        step_settings["few_shot"] = FewShot(examples, args.few_shot_k, seed=args.seed)
    step_settings["keep_input"] = args.keep_input
    engine = make_engine(args, chat, seed=args.seed)
    provenance = {**engine.describe(), "sampling": sampling.to_json(), **prompt_id}
    step = Generator(
        engine,
        sampling,
        template,
        id_field=args.id_field,
        provenance=provenance,
        system_template=system,
        **step_settings,
    )
    run = run_stage(
        stage=STAGE,
        source=source,
        shard=shard,
        output=args.output,
        settings=settings,
        process=step,
        every=args.checkpoint_every,
        batch_size=args.checkpoint_every,
        on_bad_record=args.on_bad_record,
        overwrite=args.overwrite,
        on_resume=step.resume,
    )
    counts = run.marker["counts"]
    report.print_table(f"generation: {run.marker['shard']}", ["", "count"], sorted(counts.items()))
    print(generation_headline(counts), file=sys.stderr)
    if not run.merged:
        print(
            f"part written to {Path(str(args.output) + '.parts')}; merge with "
            f"python hpc/merge_shards.py --output {args.output}",
            file=sys.stderr,
        )
    return 0
