"""Score how hard each question is, with several small models (<=8B): gold-answer log-probability,
ensemble accuracy, IRT difficulty, and a composite difficulty_z.

Per shard (GPU), one model at a time, each loaded once:
  1. avg_logprob: mean log-probability per token of --answer-field given the question, under
     --primary-model (chat template, thinking off; only answer tokens count; answers cut to
     --max-sequence-length are flagged truncated).
  2. every answering model (the primary unless --exclude-primary, plus --ensemble-models) answers
     each question --samples times; math-verify decides correctness against --answer-field, a
     normalized exact match where it cannot parse. Per item and model: [correct, total].
The merge (CPU) fits IRT over all items at once and writes --output. With z() over the whole dataset,
z_lp = z(-avg_logprob) and z_irt = z(irt_beta), an item's difficulty_z is z(d) over the items with a d:
    both terms      d = w_lp * z_lp + w_irt * z_irt, mean removed and divided by its sd over these items
    beta only       d = z_irt
    log-prob only   d = z_lp
    neither         null (a term whose weight is 0 counts as absent)
so an item without a log-probability keeps beta's full spread. Accuracy counts once, through irt_beta
(Rasch by default, --irt-model 2pl; MAP with normal priors, so all-right and all-wrong items stay
finite). An item no model answered (its prompt over --max-input-length, or refused, for every model)
gets ensemble_acc, irt_beta and irt_beta_se null and stays out of the fit; the difficulty selector
skips it. The merge also writes the responses file (<output stem>.responses.jsonl), from which
--from-responses refits without any model:
    hpc/difficulty_scorer.py --from-responses scores.responses.jsonl --output refit.jsonl --irt-model 2pl
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sftkit import cli, preflight, prompts, report
from sftkit.cli.engines import add_engine_args, add_sampling_args, engine_gpus, engine_kind, make_engine, sampling_of
from sftkit.data.atomic import dumps_line, write_json_atomic
from sftkit.data.merge import merge
from sftkit.data.shards import Shard
from sftkit.data.sources import open_source
from sftkit.data.writers import write_lines
from sftkit.difficulty.composite import Weights, score
from sftkit.difficulty.logprob import GoldLogprobScorer, VLLMGoldLogprob
from sftkit.difficulty.passes import EnsemblePass, Join, LogprobPass
from sftkit.engines.base import ChatOptions, Engine
from sftkit.engines.hub import require_model
from sftkit.errors import InputError, Reject, enforce_policy
from sftkit.filter.verdicts import SOLVE_PROMPT
from sftkit.runner.passes import Loaded, Pass, model_slug, print_pass_counts, run_passes
from sftkit.runner.stage import check_fields, run_stage

STAGE = "difficulty_scorer"
DEFAULT_PRIMARY = "microsoft/Phi-4-mini-reasoning"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, required=False)
    cli.add_field_args(p)
    add_engine_args(p, model_flags=("--primary-model",), default_model=DEFAULT_PRIMARY)
    add_sampling_args(p, max_tokens=1024, temperature=0.7, max_tokens_aliases=("--max-new-tokens",), n_flag=False)
    g = p.add_argument_group("difficulty")
    cli.add(g, "--ensemble-models", nargs="+", default=[], help="more answering models (space or comma separated)")
    cli.add(g, "--exclude-primary", action="store_true", help="the primary model scores log-probability only")
    cli.add(g, "--samples", type=int, default=4, help="answers per question and model")
    cli.add(
        g,
        "--max-sequence-length",
        type=int,
        default=2048,
        help="question + answer tokens for log-probability; longer answers are cut and flagged truncated",
    )
    cli.add(
        g,
        "--max-input-length",
        type=int,
        default=2048,
        help="prompt tokens an answering model may get; longer questions are not sent to it (counted)",
    )
    cli.add(g, "--use-float32", dest="dtype", action="store_const", const="fp32", help="same as --dtype fp32")
    cli.add(
        g,
        "--logprob-token-budget",
        type=int,
        default=16384,
        help="hf engine: padded tokens per log-probability batch (halved on out-of-memory)",
    )
    f = p.add_argument_group("global fit")
    cli.add(f, "--irt-model", choices=("rasch", "2pl"), default="rasch")
    cli.add(f, "--irt-prior-sd", type=float, default=2.0, help="sd of the normal prior on beta")
    cli.add(f, "--logprob-weight", type=float, default=1.0, help="w_lp in difficulty_z")
    cli.add(f, "--irt-weight", type=float, default=1.0, help="w_irt in difficulty_z")
    cli.add(f, "--from-responses", help="refit from a responses JSONL file, loading no model")
    cli.add(f, "--merge", action="store_true", help="merge the shards' parts of --output, then fit")
    cli.add(f, "--num-shards", type=int, help="with --merge: the expected shard count")
    o = p.add_argument_group("output")
    cli.add(o, "--output", env=True, default="results/difficulty_scores.json", help="scores: .jsonl, .json or .parquet")
    cli.add(o, "--responses-output", help="per-item responses (default: <output stem>.responses.jsonl)")
    cli.add(
        o,
        "--save-per-iteration",
        type=int,
        default=1024,
        dest="checkpoint_every",
        help="rows per engine call and checkpoint",
    )
    cli.add_shard_args(p)
    return p


def responses_path(args: argparse.Namespace) -> Path:
    out = Path(args.output)
    return Path(args.responses_output or out.with_name(out.stem + ".responses.jsonl"))


def rejects_path(args: argparse.Namespace) -> Path:
    """Where unusable responses-file lines are quarantined (the scoring passes keep their own rejects)."""
    return Path(f"{args.output}.responses.rejects.jsonl")


def answering_models(args: argparse.Namespace) -> list[str]:
    extra = [m for part in args.ensemble_models for m in part.split(",") if m]
    models = list(dict.fromkeys(([] if args.exclude_primary else [args.model]) + extra))
    if not models:
        raise InputError("no answering model: drop --exclude-primary or give --ensemble-models")
    slugs = [model_slug(m) for m in models]
    if len(set(slugs)) != len(slugs):
        raise InputError(f"models {models} need distinct file names; got {slugs}")
    return models


def load_engine(args: argparse.Namespace, chat: ChatOptions, model: str) -> Engine:
    """One model's engine, with a context just long enough for both passes unless --max-model-len says."""
    one = copy.copy(args)
    one.model = model
    # + 1: scoring a prompt's log-probabilities still asks vLLM for one new token
    one.max_model_len = args.max_model_len or max(args.max_sequence_length + 1, args.max_input_length + args.max_tokens)
    return make_engine(one, chat, seed=args.seed)


def gpus_needed(args: argparse.Namespace) -> int:
    """GPUs a scoring worker uses (one model at a time); a merge or a refit from responses loads no model."""
    return 0 if args.merge or args.from_responses else engine_gpus(args)


def score_shard(args: argparse.Namespace, shard: Shard) -> None:
    """Run this shard's passes, then join them into <output>.parts."""
    if engine_kind(args) == "openai":  # --server-file too
        raise InputError("the difficulty scorer needs local weights: --engine vllm or hf")
    preflight.check_gpus(gpus_needed(args))
    spec = cli.input_spec(args)
    models = answering_models(args)
    for model in dict.fromkeys([args.model, *models]):  # every model, before hours with the first
        require_model(model)
    source = open_source(spec)
    check_fields(source, shard, {args.question_field: "--question-field", args.answer_field: "--answer-field"})
    sampling = sampling_of(args, n=args.samples)
    chat = ChatOptions(args.system_prompt, args.enable_thinking)
    template = prompts.load(args.prompt_file, SOLVE_PROMPT, {"question"})
    loaded = Loaded()

    def engine(model: str) -> Engine:
        return loaded.get(("engine", model), lambda: load_engine(args, chat, model))

    def scorer() -> GoldLogprobScorer | VLLMGoldLogprob:
        if args.engine == "vllm":  # the primary's engine serves both its passes
            return VLLMGoldLogprob(engine(args.model).llm, args.max_sequence_length)
        return loaded.get(
            ("scorer", args.model),
            lambda: GoldLogprobScorer(
                args.model,
                args.max_sequence_length,
                args.logprob_token_budget,
                args.dtype,
                disable_flash_attention=args.disable_flash_attention,
            ),
        )

    common = {
        "input": spec.__dict__,
        "fields": [args.question_field, args.answer_field],
        "engine": args.engine,
        "dtype": args.dtype,
        "seed_mode": args.seed_mode,
    }
    passes = [
        Pass(
            "logprob",
            {**common, "model": args.model, "max_sequence_length": args.max_sequence_length},
            LogprobPass(scorer, args.id_field, args.question_field, args.answer_field),
        )
    ]
    for model in models:
        settings = {
            **common,
            "model": model,
            "sampling": sampling.to_json(),
            "chat": chat.__dict__,
            "prompt_sha256": prompts.sha256(template),
            "max_input_length": args.max_input_length,
        }
        passes.append(
            Pass(
                f"answers-{model_slug(model)}",
                settings,
                EnsemblePass(
                    lambda m=model: engine(m),
                    sampling,
                    template,
                    args.max_input_length,
                    args.id_field,
                    args.question_field,
                    args.answer_field,
                ),
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
    join = Join(
        args.output,
        shard,
        "logprob",
        {m: f"answers-{model_slug(m)}" for m in models},
        args.id_field,
        args.question_field,
        args.answer_field,
    )
    run_stage(
        stage=STAGE,
        source=source,
        shard=shard,
        output=args.output,
        settings={"id_field": args.id_field, "passes": {p.name: p.settings for p in passes}},
        process=join,
        every=max(args.checkpoint_every, 8192),
        batch_size=8192,
        on_bad_record=args.on_bad_record,
        overwrite=args.overwrite,
        merge_whole=False,
    )
    print_pass_counts(f"difficulty scorer: {shard.name}", markers)


def item_problem(item: Any) -> str | None:
    """Why a responses-file line cannot be scored, or None: the shape the fit relies on, checked per line."""
    if not isinstance(item, dict):
        return "not a JSON object"
    responses = item.get("responses", {})
    if not isinstance(responses, dict):
        return f"field 'responses' must be {{\"<model>\": [correct, total]}}, got {responses!r}"
    for model, pair in responses.items():
        counts = isinstance(pair, list) and len(pair) == 2 and all(type(x) is int for x in pair)
        if not (counts and 0 <= pair[0] <= pair[1]):
            return f"field 'responses'[{model!r}] must be [correct, total] with 0 <= correct <= total, got {pair!r}"
    logprob = item.get("avg_logprob")
    if logprob is not None and (type(logprob) not in (int, float) or not np.isfinite(logprob)):
        return f"field 'avg_logprob' must be a number or null, got {logprob!r}"
    return None


def read_items(path: Path, on_bad_record: str, rejects_to: Path) -> list[dict[str, Any]]:
    """The items of a responses file; a bad line stops the run naming it, or is quarantined under skip."""
    items, rejects = [], []
    if not path.is_file():
        raise InputError(f"{path}: no such responses file")
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                item, why = line.decode("utf-8", "replace").rstrip("\n"), f"malformed JSON ({exc})"
            else:
                why = item_problem(item)
            if why is None:
                items.append(item)
            else:
                rejects += enforce_policy([Reject(lineno - 1, f"{path}:{lineno}", why, item)], on_bad_record)
    rejects_to.unlink(missing_ok=True)  # an earlier run's quarantine must not look like this one's
    if rejects:
        write_lines(rejects_to, lambda: (dumps_line(r.to_json()) for r in rejects))
        print(f"warning: {len(rejects):,} lines of {path} quarantined to {rejects_to}", file=sys.stderr)
    if not items:
        raise InputError(f"{path}: no items" + (f" ({len(rejects):,} quarantined to {rejects_to})" if rejects else ""))
    return items


def fit_and_write(args: argparse.Namespace, items: list[dict[str, Any]], source: str) -> None:
    """The global fit over every item, the scores file, its histogram, stats and summary."""
    scored = score(items, Weights(args.logprob_weight, args.irt_weight), args.irt_model, args.irt_prior_sd)
    out = Path(args.output)
    write_lines(out, lambda: (dumps_line(r) for r in scored))
    z, beta, acc_of = (
        np.array([r[f] for r in scored if r[f] is not None], dtype=np.float64)
        for f in ("difficulty_z", "irt_beta", "ensemble_acc")
    )
    plot = report.histogram_png(
        out.with_name(out.stem + ".difficulty.png"),
        {"difficulty_z": z, "irt_beta": beta},
        f"difficulty of {len(scored):,} items",
        "score",
        log_x=False,
    )
    ids = Counter(r.get("id") for r in scored)
    duplicates = sum(c - 1 for c in ids.values() if c > 1)
    models = sorted({m for r in scored for m in r.get("responses", {})})
    stats = {
        "stage": STAGE,
        "source": source,
        "items": len(scored),
        "models": models,
        "irt_model": args.irt_model,
        "irt_prior_sd": args.irt_prior_sd,
        "weights": {"logprob": args.logprob_weight, "irt": args.irt_weight},
        "unanswered": len(scored) - len(acc_of),
        "no_difficulty_z": len(scored) - len(z),
        "ensemble_acc_mean": float(acc_of.mean()) if len(acc_of) else None,
        "irt_beta_range": [float(beta.min()), float(beta.max())] if len(beta) else None,
        "duplicate_ids": duplicates,
        "truncated": sum(bool(r.get("truncated")) for r in scored),
    }
    write_json_atomic(f"{out}.stats.json", stats)
    acc = {m: [0, 0] for m in models}
    for r in scored:
        for m, (c, t) in r.get("responses", {}).items():
            acc[m][0] += c
            acc[m][1] += t
    report.print_table(
        "accuracy per model",
        ["model", "correct", "answers", "accuracy"],
        [(m, c, t, c / t if t else float("nan")) for m, (c, t) in acc.items()],
    )
    if duplicates:
        print(
            f"warning: {duplicates} items share an id with another; joining scores back by id is ambiguous",
            file=sys.stderr,
        )
    report.print_summary(
        "difficulty",
        {
            "items": len(scored),
            "from": source,
            "IRT model": args.irt_model,
            "unanswered items (accuracy unknown)": stats["unanswered"],
            "mean ensemble accuracy (answered items)": stats["ensemble_acc_mean"] if len(acc_of) else "n/a",
            "answers truncated": stats["truncated"],
            "no difficulty_z": stats["no_difficulty_z"],
            "beta min / max": f"{beta.min():.2f} / {beta.max():.2f}" if len(beta) else "n/a",
            "output": str(out),
            "histogram": str(plot),
        },
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    if min(args.logprob_weight, args.irt_weight) < 0:
        raise InputError(
            "--logprob-weight and --irt-weight must be >= 0 (a negative weight would turn a term's "
            "sign in items that have both terms only)"
        )
    responses = responses_path(args)
    if args.from_responses:
        fit_and_write(
            args, read_items(Path(args.from_responses), args.on_bad_record, rejects_path(args)), args.from_responses
        )
        return 0
    if args.merge:
        merge(args.output, args.num_shards, into=responses)
    else:
        if not args.input:
            raise InputError("--input is required (or --from-responses FILE, or --merge after sharded runs)")
        shard = cli.shard_of(args)
        score_shard(args, shard)
        if not shard.is_whole:
            print(
                f"part written; after every shard: python hpc/difficulty_scorer.py --merge --output {args.output}",
                file=sys.stderr,
            )
            return 0
        merge(args.output, into=responses)
    fit_and_write(args, read_items(responses, args.on_bad_record, rejects_path(args)), str(responses))
    return 0
