"""Score each row with several LLM judges against a rubric, and keep rows by the judges' votes.

--rubric names the dimensions (each with a description, a scale [min, max] and a weight) and the judge
prompt, a template over the row's fields ({{field}}); the criteria and the answer format are appended
to it. Each --judgement-model scores every row once, at temperature 0 with thinking off (--judge-thinking
lets it think), and must answer with one "NAME: score" line per dimension or one JSON object; only the
text after any <think> block is read. An answer with a dimension missing, a score outside its scale or
no scores is undecided for that judge (never 0) and its reason is kept. A judge's total is the weighted
mean of its scores, each mapped onto [0, 1] by its scale. A row is kept when at least --min-votes judges
gave a total >= --min-score; the rest go to <output>.rejects.jsonl with the reason and their scores, and
a row no judge decided is never kept. Output fields: scores, score_totals, score_reasons,
score_decided, score_votes, score (the mean total over deciding judges).
--max-length-tokens N --tokenizer PATH first drops rows whose conversation (--question-field then
--answer-field, through the tokenizer's chat template) is over N tokens; they go to no judge.
One model at a time, each judge a checkpointed pass under <output>.passes/. The summary (also after
--merge of sharded runs): a table per judge and dimension, <output stem>.score_totals.png, and the
Spearman agreement between each pair of judges.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from typing import Any

import orjson

from sftkit import cli, preflight, prompts, report
from sftkit.cli.engines import add_engine_args, engine_gpus, engine_settings
from sftkit.data.atomic import write_json_atomic
from sftkit.data.merge import merge
from sftkit.data.sources import open_source
from sftkit.engines import build_engine
from sftkit.engines.base import ChatOptions, Engine, Sampling, with_chat
from sftkit.engines.hub import require_model
from sftkit.errors import InputError
from sftkit.runner.passes import Loaded, Pass, PassRecords, model_slug, print_pass_counts, run_passes
from sftkit.runner.stage import check_fields, run_stage
from sftkit.score.aggregate import Votes
from sftkit.score.passes import JudgePass, LengthPass, Rows, ScoreJoin
from sftkit.score.rubric import load_rubric
from sftkit.score.summary import print_summary, summarize

SERVER_ENGINES = ("judgement-",)  # engine flag prefixes slurm/submit.sh --server can serve
STAGE = "score"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, required=False)
    cli.add_field_args(p, question="question", answer="answer")
    add_engine_args(p, prefix="judgement-", many=True)
    g = p.add_argument_group("score")
    cli.add(g, "--rubric", help="rubric YAML: dimensions and judge prompt (see rubrics/)")
    cli.add(g, "--judge-max-tokens", type=int, default=1024)
    cli.add(g, "--judge-thinking", action="store_true", help="let judges think (default: off)")
    cli.add(g, "--min-score", type=float, default=0.0, help="a judge votes for a row when its total is >= this")
    cli.add(g, "--min-votes", type=int, default=1, help="votes that keep a row")
    cli.add(g, "--max-length-tokens", type=int, help="drop rows whose conversation is over N tokens")
    cli.add(g, "--tokenizer", help="with --max-length-tokens: the tokenizer (and chat template) that counts")
    o = p.add_argument_group("output")
    cli.add(o, "--output", env=True, required=True, help="kept rows: .jsonl, .json or .parquet")
    cli.add(
        o,
        "--save-per-iteration",
        type=int,
        default=256,
        dest="checkpoint_every",
        help="rows per engine call and checkpoint",
    )
    cli.add(o, "--merge", action="store_true", help="merge the shards' parts of --output and write the summary")
    cli.add(o, "--num-shards", type=int, help="with --merge: the expected shard count")
    cli.add_shard_args(p)
    return p


def gpus_needed(args: argparse.Namespace) -> int:
    """GPUs one worker uses: judges load one at a time on the same GPUs; a merge loads none."""
    return 0 if args.merge or not args.judgement_model else engine_gpus(args, "judgement-")


def judge_settings(args: argparse.Namespace, model: str) -> dict[str, Any]:
    one = copy.copy(args)
    one.judgement_model = model
    return engine_settings(one, "judgement-", seed=0)


def check_args(args: argparse.Namespace) -> None:
    if not args.input:
        raise InputError("--input is required (or --merge after sharded runs)")
    if not args.rubric:
        raise InputError("--rubric is required: a YAML file of dimensions and the judge prompt (see rubrics/)")
    judges = args.judgement_model or []
    if not judges:
        raise InputError("--judgement-model is required (repeat it for several judges)")
    if len(set(judges)) != len(judges):
        raise InputError(f"--judgement-model names a model twice ({judges}): at temperature 0 it would vote twice")
    if not 1 <= args.min_votes <= len(judges):
        raise InputError(f"--min-votes {args.min_votes} with {len(judges)} judge(s): give 1 to {len(judges)}")
    if not 0 <= args.min_score <= 1:
        raise InputError(f"--min-score {args.min_score:g}: totals are in [0, 1]")
    if (args.max_length_tokens is None) != (args.tokenizer is None):
        raise InputError("--max-length-tokens and --tokenizer go together")
    if args.max_length_tokens is not None and args.max_length_tokens < 1:
        raise InputError("--max-length-tokens must be >= 1")


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"--tokenizer {path}: cannot load a tokenizer ({exc})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"--tokenizer {path}: has no chat template")
    return tokenizer


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    if args.merge:
        finish(args.output, merge(args.output, args.num_shards))
        return 0
    check_args(args)
    preflight.check_gpus(gpus_needed(args))
    rubric = load_rubric(args.rubric)
    spec, shard = cli.input_spec(args), cli.shard_of(args)
    judges = {model: judge_settings(args, model) for model in args.judgement_model}
    for settings in judges.values():
        if settings["engine"] != "openai":
            require_model(settings["model"])  # every model, before hours with the first
    slugs = [model_slug(m) for m in judges]
    if len(set(slugs)) != len(slugs):
        raise InputError(f"judges {list(judges)} need distinct file names; got {slugs}")
    placeholders = sorted(prompts.placeholders(rubric.prompt))
    needed = {f.split(".")[0]: f"the placeholder {{{{{f}}}}} in --rubric {args.rubric}" for f in placeholders}
    length = args.max_length_tokens is not None
    if length:
        needed |= {args.question_field: "--question-field", args.answer_field: "--answer-field"}
    # a dotted placeholder reads inside its field, which need not be text itself
    texts = [f for f in placeholders if "." not in f] + ([args.question_field, args.answer_field] if length else [])
    rows = Rows(args.id_field, tuple(dict.fromkeys(texts)))
    source = open_source(spec)
    check_fields(source, shard, needed)
    sampling = Sampling(max_tokens=args.judge_max_tokens, temperature=0.0, seed=0)
    chat = ChatOptions(rubric.system, bool(args.judge_thinking))
    votes = Votes(args.min_score, args.min_votes)
    loaded = Loaded()

    def engine(settings: dict[str, Any]) -> Callable[[], Engine]:
        key = (orjson.dumps(settings, option=orjson.OPT_SORT_KEYS).decode(), settings["model"])
        return lambda: with_chat(loaded.get(key, lambda: build_engine(settings, chat)), chat)

    common = {"input": spec.__dict__, "fields": list(rows.fields), "rubric": rubric.to_json()}
    passes, lengths, measured = [], None, None
    if length:
        measured = {
            "tokenizer": args.tokenizer,
            "max_length_tokens": args.max_length_tokens,
            "question": args.question_field,
            "answer": args.answer_field,
        }
        lengths_pass = Pass(
            "length",
            {**common, **measured},
            LengthPass(
                rows,
                lambda: loaded.get(("tokenizer", args.tokenizer), lambda: load_tokenizer(args.tokenizer)),
                args.question_field,
                args.answer_field,
                args.max_length_tokens,
            ),
        )
        passes.append(lengths_pass)
        lengths = PassRecords(args.output, "length", shard)
    names = {}
    for k, (model, settings) in enumerate(judges.items()):
        names[model] = f"judge-{k}-{model_slug(model)}"
        passes.append(
            Pass(
                names[model],
                {
                    **common,
                    "judge": {**settings, **chat.__dict__},
                    "sampling": sampling.to_json(),
                    "length": measured,
                },
                JudgePass(rows, rubric, engine(settings), sampling, lengths, args.max_length_tokens),
            )
        )
    markers = run_passes(
        STAGE,
        passes,
        loaded,
        source=source,
        shard=shard,
        output=args.output,
        every=args.checkpoint_every,
        batch_size=args.checkpoint_every,
        on_bad_record=args.on_bad_record,
        overwrite=args.overwrite,
    )
    join = ScoreJoin(
        rows,
        {model: PassRecords(args.output, names[model], shard) for model in judges},
        votes,
        PassRecords(args.output, "length", shard) if length else None,
        args.max_length_tokens,
    )
    settings = {
        **common,
        "judges": list(judges),
        "passes": {p.name: p.settings for p in passes},
        "votes": {"min_score": args.min_score, "min_votes": args.min_votes},
        "max_length_tokens": args.max_length_tokens,
    }
    run = run_stage(
        stage=STAGE,
        source=source,
        shard=shard,
        output=args.output,
        settings=settings,
        process=join,
        every=args.checkpoint_every,
        batch_size=args.checkpoint_every,
        on_bad_record=args.on_bad_record,
        overwrite=args.overwrite,
        id_field=args.id_field,
    )
    print_pass_counts(f"score passes: {shard.name}", markers)
    report.print_table(f"score: {run.marker['shard']}", ["", "count"], sorted(run.marker["counts"].items()))
    if run.merged:
        finish(args.output, run.merged)
    else:
        print(
            f"part written; after every shard: python hpc/score.py --merge --output {args.output}",
            file=sys.stderr,
        )
    return 0


def finish(output: str, stats: dict[str, Any]) -> None:
    """The summary over every shard's rows, into the stats file and on screen."""
    stats["score_summary"] = summarize(output, stats["settings"])
    write_json_atomic(f"{output}.stats.json", stats)
    print_summary(stats["score_summary"])
    report.print_summary(
        "output",
        {
            "kept rows": stats["records"],
            "file": output,
            "rejected (with reasons and scores)": stats["rejects_file"] or "none",
            "totals plot": stats["score_summary"]["totals_png"],
            "stats": f"{output}.stats.json",
        },
    )
