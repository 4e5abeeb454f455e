"""Solve each problem --samples times and keep rows whose pass rate is in [--min-pass-rate, --max-pass-rate]
(the predecessor's OpenMathReasoningFiltering.py).

Each candidate's final answer (the text after any <think> block) is checked with math-verify
against --answer-field (the gold expected_answer). A candidate cut at --max-tokens, or whose <think>
never closed, has no final answer: it counts as incorrect, is recorded as truncated (counted per
model in the summary) and goes to no judge. Candidates math-verify cannot parse go to the judges
(--judge fallback, the default), every candidate does with --judge always, none with --judge never.
Judges run at temperature 0 with thinking off and must end with "VERDICT: yes|no"; other endings
are recorded as unparseable, truncated or refused, and are neither yes nor no. With several
--judgement-model flags a candidate is correct once --min-votes say yes (default: a majority),
incorrect once that many yes votes can no longer be reached even if every unusable vote were a yes,
and undecided otherwise. pass_rate = correct / decided candidates; a row with no decided candidate
gets pass_rate null, is never kept, and is counted as undecided.
Rows with a missing, null, empty or non-text question, gold answer (a number is taken as its text)
or candidate are bad input (--on-bad-record); a solve prompt over the model's context is never
sent, and its row goes to <output>.rejects.jsonl with the prompt's length.
--judge-only judges the existing answers in --candidate-field (a string or a list) without solving.
Kept rows go to --output; every row, with its samples and verdicts, to --full-output.
One model at a time: the solver answers every row of the shard and is released before the first judge
loads; each pass is checkpointed under <output>.passes/ and a finished one is never redone.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sftkit import cli, preflight, prompts, report
from sftkit.cli.engines import (
    add_engine_args,
    add_sampling_args,
    engine_gpus,
    engine_kind,
    engine_settings,
    sampling_of,
)
from sftkit.data.sources import open_source
from sftkit.engines import build_engine
from sftkit.engines.base import ChatOptions, Engine, Sampling, with_chat
from sftkit.engines.hub import require_model
from sftkit.errors import InputError
from sftkit.filter.passes import CandidatesPass, Fields, FilterJoin, JudgePass
from sftkit.filter.verdicts import JUDGE_PROMPT, SOLVE_PROMPT
from sftkit.runner.passes import Loaded, Pass, PassRecords, model_slug, print_pass_counts, run_passes
from sftkit.runner.stage import check_fields, run_stage

SERVER_ENGINES = ("inference-", "judgement-")  # engine flag prefixes slurm/submit.sh --server can serve
STAGE = "filter"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(
        p, default_input="nvidia/OpenMathReasoning", default_split="cot"
    )  # as OpenMathReasoningFiltering.py
    cli.add_field_args(p)
    add_engine_args(p, prefix="inference-")
    add_engine_args(p, prefix="judgement-", many=True)
    add_sampling_args(p, max_tokens=4096, temperature=0.7, n_flag=False)
    g = p.add_argument_group("filter")
    cli.add(g, "--samples", type=int, default=4, help="solutions per problem (k)")
    cli.add(g, "--judge", choices=("fallback", "always", "never"), default="fallback")
    cli.add(g, "--min-votes", type=int, help="yes votes that make a candidate correct (default: majority)")
    cli.add(g, "--judge-max-tokens", type=int, default=1024)
    cli.add(g, "--judge-thinking", action="store_true", help="let judges think (default: off)")
    cli.add(g, "--judge-prompt-file", help="judge template using {{question}}, {{gold}}, {{candidate}}")
    cli.add(g, "--min-pass-rate", type=float, default=0.0)
    cli.add(g, "--max-pass-rate", type=float, default=1.0)
    cli.add(g, "--judge-only", action="store_true", help="judge --candidate-field instead of solving")
    cli.add(g, "--candidate-field", help="existing answers to judge with --judge-only")
    o = p.add_argument_group("output")
    cli.add(o, "--output", env=True, default="results/llm_filtered.jsonl", help="kept rows")
    cli.add(o, "--full-output", help="every row with samples and verdicts (default: <output stem>.full.jsonl)")
    cli.add(
        o,
        "--save-per-iteration",
        "--vllm-batch-size",
        type=int,
        default=256,
        dest="checkpoint_every",
        help="problems per engine call and checkpoint",
    )
    cli.add_shard_args(p)
    return p


def full_output(args: argparse.Namespace) -> str:
    out = Path(args.output)
    return args.full_output or str(out.with_name(out.stem + ".full" + out.suffix))


def gpus_needed(args: argparse.Namespace) -> int:
    """GPUs one worker needs: solver and judges are loaded one at a time on the same GPUs, so the largest."""
    solver = 0 if args.judge_only else engine_gpus(args, "inference-")
    judges = engine_gpus(args, "judgement-") if args.judge != "never" and args.judgement_model else 0
    return max(solver, judges)


def judge_settings(args: argparse.Namespace, model: str, solver: dict[str, Any] | None) -> dict[str, Any]:
    """The engine a judge runs on: the solver's own when it is the same model on a local engine, or the
    same server (one copy of the weights per GPU, one client per server); else its own flags."""
    judge, solver_kind = engine_kind(args, "judgement-"), engine_kind(args, "inference-")
    same_weights = judge == solver_kind != "openai"
    same_server = judge == solver_kind == "openai" and (args.judgement_base_url, args.judgement_server_file) == (
        args.inference_base_url,
        args.inference_server_file,
    )
    if solver is not None and model == args.inference_model and (same_weights or same_server):
        return solver
    one = copy.copy(args)
    one.judgement_model = model
    return engine_settings(one, "judgement-", seed=args.seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    preflight.check_gpus(gpus_needed(args))
    if args.judge_only and not args.candidate_field:
        raise InputError("--judge-only needs --candidate-field")
    if not args.judge_only and not args.inference_model:
        raise InputError("--inference-model is required (or --judge-only with --candidate-field)")
    judges_wanted = args.judge != "never"
    if judges_wanted and not args.judgement_model:
        raise InputError("--judge fallback/always needs --judgement-model (or --judge never)")
    spec, shard = cli.input_spec(args), cli.shard_of(args)
    solve_prompt = prompts.load(args.prompt_file, SOLVE_PROMPT, {"question"})
    judge_prompt = prompts.load(args.judge_prompt_file, JUDGE_PROMPT, {"question", "gold", "candidate"})
    solve_sampling = sampling_of(args, n=args.samples)
    judge_sampling = Sampling(max_tokens=args.judge_max_tokens, temperature=0.0, seed=args.seed)
    solver_chat = ChatOptions(args.system_prompt, args.enable_thinking)
    judge_chat = ChatOptions(None, bool(args.judge_thinking))
    solver = None if args.judge_only else engine_settings(args, "inference-", seed=args.seed)
    judges = [judge_settings(args, model, solver) for model in (args.judgement_model or []) if judges_wanted]
    for model in dict.fromkeys(e["model"] for e in [solver, *judges] if e and e["engine"] != "openai"):
        require_model(model)  # every model, before hours with the first
    min_votes = args.min_votes or len(judges) // 2 + 1
    if judges and not 1 <= min_votes <= len(judges):
        raise InputError(f"--min-votes {min_votes} with {len(judges)} judge(s): give 1 to {len(judges)}")
    provenance = {
        "solver": {**solver, **solver_chat.__dict__} if solver else None,
        "judges": [{**j, **judge_chat.__dict__} for j in judges],
        "solve_sampling": solve_sampling.to_json(),
        "judge_sampling": judge_sampling.to_json(),
        "judge_mode": args.judge,
        "min_votes": min_votes,
    }
    loaded = Loaded()

    def engine(settings: dict[str, Any], chat: ChatOptions) -> Callable[[], Engine]:
        """Loads on first use; a judge on the solver's engine finds it still loaded (passes run in that order)."""
        key = (orjson.dumps(settings, option=orjson.OPT_SORT_KEYS).decode(), settings["model"])
        return lambda: with_chat(loaded.get(key, lambda: build_engine(settings, chat)), chat)

    fields = Fields(args.id_field, args.question_field, args.answer_field, args.candidate_field)
    source = open_source(spec)
    needed = {args.question_field: "--question-field", args.answer_field: "--answer-field"}
    check_fields(source, shard, needed | ({args.candidate_field: "--candidate-field"} if args.candidate_field else {}))
    first = Pass(
        "candidates" if solver is None else "solve",
        {
            "input": spec.__dict__,
            "fields": fields.__dict__,
            "solver": provenance["solver"],
            "sampling": solve_sampling.to_json(),
            "prompt": solve_prompt,
        },
        CandidatesPass(fields, engine(solver, solver_chat) if solver else None, solve_sampling, solve_prompt),
    )
    judge_passes = [
        Pass(
            f"judge-{k}-{model_slug(j['model'])}",
            {
                "candidates": first.settings,
                "judge": provenance["judges"][k],
                "sampling": judge_sampling.to_json(),
                "prompt": judge_prompt,
                "mode": args.judge,
            },
            JudgePass(
                fields,
                engine(j, judge_chat),
                j["model"],
                PassRecords(args.output, first.name, shard),
                judge_sampling,
                args.judge,
                judge_prompt,
            ),
        )
        for k, j in enumerate(judges)
    ]
    engines = list(dict.fromkeys(repr(e) for e in [solver, *judges]))  # the solver's engine first, then each other once
    by_engine = sorted(range(len(judges)), key=lambda k: engines.index(repr(judges[k])))
    markers = run_passes(
        STAGE,
        [first, *(judge_passes[k] for k in by_engine)],
        loaded,
        source=source,
        shard=shard,
        output=args.output,
        every=args.checkpoint_every,
        batch_size=args.checkpoint_every,
        on_bad_record=args.on_bad_record,
        overwrite=args.overwrite,
    )
    join = FilterJoin(
        fields,
        PassRecords(args.output, first.name, shard),
        [PassRecords(args.output, p.name, shard) for p in judge_passes],
        min_votes,
        args.min_pass_rate,
        args.max_pass_rate,
        solver["model"] if solver else args.candidate_field,
        provenance,
    )
    settings = {
        "input": spec.__dict__,
        "provenance": provenance,
        "prompts": [solve_prompt, judge_prompt],
        "band": [args.min_pass_rate, args.max_pass_rate],
        "candidate_field": args.candidate_field,
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
        subset={"field": "kept", "all_to": full_output(args)},
        id_field=args.id_field,
        pass_rates={
            "field": "pass_rate (correct / decided candidates)",
            "band": [args.min_pass_rate, args.max_pass_rate],
            "without": {
                "undecided (no decided candidate)": "undecided (pass_rate null)",
                "rows refused by the solver (prompt over the context)": "refused by the solver",
            },
        },
    )
    print_pass_counts(f"llm filter passes: {shard.name}", markers)
    counts, _ = report.split_pass_rate_bins(run.marker["counts"])
    report.print_table(f"llm filter: {run.marker['shard']}", ["", "count"], sorted(counts.items()))
    if run.merged:
        report.print_summary(
            "output",
            {
                "kept rows": run.merged["kept"],
                "file": args.output,
                "every row": full_output(args),
                "pass rates plot": run.merged.get("pass_rate_png", "none (parts from an older version)"),
            },
        )
    else:
        print(f"part written; merge with python hpc/merge_shards.py --output {args.output}", file=sys.stderr)
    return 0
