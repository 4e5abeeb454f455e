"""Generate new problems with solutions from seed problems (the predecessor's generateFromSeed.py).

For each seed, --n generations. The default prompt asks for the new problem between <question> and
</question> and its final answer between <answer> and </answer>: nothing in them is escaped, so LaTeX
comes through as written (the last complete block of each counts; drafts before it are ignored).
A JSON object {"question", "answer"} is still accepted (a fenced block, bare JSON or a trailing
object); its LaTeX keeps its backslashes (\\frac, \\sqrt), while \\n before a word is a newline.
Tabs become spaces and \\r newlines. Rejected, to <output>.rejects.jsonl with a reason and counted: a
generation with neither format, an empty or seed-copying problem, another control character, a
sample cut at --max_tokens or inside an unclosed <think>, and a seed whose prompt the engine refused
(over the context). Seed rows without a usable question (or answer, when the prompt uses
{{answer}}) are bad input, handled by --on-bad-record. Whole chunks of --save-per-iteration seeds
go to the engine at once (vLLM batches them continuously) and are checkpointed, so a killed shard
resumes. The default prompt uses {{question}} and {{answer}}; --prompt-file replaces it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sftkit import cli, preflight, prompts, report
from sftkit.cli.engines import add_engine_args, add_sampling_args, engine_gpus, make_engine, sampling_of
from sftkit.data.sources import open_source
from sftkit.engines.base import ChatOptions
from sftkit.generate.seed import DEFAULT_PROMPT, SeedGenerator
from sftkit.runner.stage import check_fields, run_stage

SERVER_ENGINES = ("",)  # engine flag prefixes slurm/submit.sh --server can serve
STAGE = "generate"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, aliases=("--input-file",))
    cli.add_field_args(p)
    add_engine_args(p)
    add_sampling_args(p, max_tokens=4096, temperature=0.3)
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
        help="seeds per engine call and checkpoint",
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
    why = "; ".join(f"{n:,} {reason}" for n, reason in reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    line = f"generated {made:,}, kept {kept:,}" + (f" ({made - kept:,} rejected: {why})" if made > kept else "")
    return f"warning: {line}: nothing kept" if made and not kept else line


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    preflight.check_gpus(gpus_needed(args))
    template = prompts.load(args.prompt_file, DEFAULT_PROMPT, {"question"})
    spec, shard = cli.input_spec(args), cli.shard_of(args)
    sampling = sampling_of(args)
    chat = ChatOptions(args.system_prompt, args.enable_thinking)
    prompt_id = {"prompt_file": args.prompt_file, "prompt_sha256": prompts.sha256(template)}
    settings = {
        "input": spec.__dict__,
        "model": args.model,
        "sampling": sampling.to_json(),
        "chat": chat.__dict__,
        **prompt_id,
        "fields": [args.question_field, args.answer_field, args.id_field],
    }
    source = open_source(spec)
    needed = {args.question_field: "--question-field"}
    if "answer" in prompts.placeholders(template):
        needed[args.answer_field] = "--answer-field"
    check_fields(source, shard, needed)
    engine = make_engine(args, chat, seed=args.seed)
    provenance = {**engine.describe(), "sampling": sampling.to_json(), **prompt_id}
    step = SeedGenerator(engine, sampling, template, args.question_field, args.answer_field, args.id_field, provenance)
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
