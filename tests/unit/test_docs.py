"""The docs: generated parts current, every flag they name real, the site builds with --strict.

A flag is checked against the command it is written for: on docs/stages/<name>.md, that stage; on a
line of code (or an inline code span) that runs a command, the command (a script path, ``submit.sh
STAGE ... -- FLAGS``, ``sbatch``, ``vllm serve``, ``hf download``...); anywhere else, any command's flags.
Flags are matched as whole tokens: ``--judge-max`` is no flag because ``--judge-max-tokens`` is one.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from helpers import REPO

from sftkit import reference
from sftkit.registry import ALIASES, STAGES, TOOLS

pytestmark = pytest.mark.unit

FLAG = re.compile(r"(?<![\w-])--[A-Za-z][A-Za-z0-9_-]*")
# commands that are not ours, with the flags the docs may give them
SBATCH = {
    "--gres",
    "--mem",
    "--time",
    "--cpus-per-task",
    "--partition",
    "--nodes",
    "--signal",
    "--array",
    "--dependency",
    "--kill-on-invalid-dep",
    "--export",
    "--requeue",
    "--output",
    "--open-mode",
    "--job-name",
    "--ntasks-per-node",
    "--gpus",
    "--account",
    "--qos",
}
FOREIGN = {
    "vllm": {
        "--reasoning-parser",
        "--served-model-name",
        "--max-model-len",
        "--chat-template",
        "--tensor-parallel-size",
        "--pipeline-parallel-size",
        "--distributed-executor-backend",
        "--port",
        "--model",
    },
    "hf": {"--repo-type", "--local-dir"},
    "pip": {"--no-deps", "--extra-index-url", "--torch-backend"},
    "ray": {"--head", "--node-ip-address", "--port", "--block", "--address"},
    "srun": {"--nodes", "--ntasks", "--overlap"},
    "ldd": {"--version"},
    "ruff": {"--check"},
    "mkdocs": {"--strict"},
    "pytest": {"--collect-only"},
}
FOREIGN_WORDS = {"huggingface-cli": "hf", "vllm.entrypoints.openai.api_server": "vllm"}
# a word that starts a foreign command only before its subcommand: `hf download`, not `--engine hf`
SUBCOMMANDS = {"vllm": "serve", "hf": "download", "pip": "install", "uv": "pip", "ray": "start"}
# the predecessor's scripts, whose flags the stage that replaced them still takes
PREDECESSOR = {
    "OpenMathReasoningFiltering.py": "filter",
    "OpenMathReasoningFiltering_bylabel.py": "label_filter",
    "generateFromSeed.py": "generate",
    "llm_filter.py": "filter",
    "generate_from_seed.py": "generate",
}


@cache
def flags(command: str) -> frozenset[str]:
    """The flags of one of our commands, a foreign one, or a script that builds its own parser."""
    if command in reference.COMMANDS:
        return frozenset(reference.flags_of(command))
    if command == "submit.sh":  # the options of its `case` loop
        text = (REPO / "slurm/submit.sh").read_text()
        return frozenset(f for arms in re.findall(r"^ {4}((?:-[\w-]+\|?)+)\)", text, re.M) for f in arms.split("|"))
    if command == "pipeline":  # its subcommands' flags
        from sftkit.pipeline.__main__ import build_parser

        subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
        return frozenset(s for p in subcommands.choices.values() for a in p._actions for s in a.option_strings)
    if command == "sbatch":
        return frozenset(SBATCH)
    if command in FOREIGN:
        return frozenset(FOREIGN[command])
    return frozenset(re.findall(r"add_argument\(\s*\"(--[\w-]+)\"", (REPO / command).read_text())) | {"--help"}


@cache
def any_flag() -> frozenset[str]:
    bench = [p.relative_to(REPO).as_posix() for p in sorted((REPO / "bench").glob("*.py"))]
    names = [*reference.COMMANDS, "submit.sh", "pipeline", "sbatch", *FOREIGN, *bench]
    return frozenset().union(*(flags(n) for n in names))


@cache
def scripts() -> dict[str, str]:
    """File name of an entry or sbatch script -> the command whose flags it takes."""
    found = {Path(c.script).name: n for n, c in reference.COMMANDS.items()}
    found |= {Path(c.sbatch).name: n for n, c in reference.COMMANDS.items() if c.sbatch and n != "merge_shards"}
    return found | PREDECESSOR


def command_at(token: str, following: str) -> str | None:
    """The command a word starts, if it starts one."""
    word = token.strip("`'\"(),;")
    name = word.rsplit("/", 1)[-1]
    if word.startswith("bench/") and word.endswith(".py"):
        return word
    if word in ("sftkit.synthetic", "sftkit.models.tiny"):
        return word.replace(".", "/") + ".py"
    if word == "sftkit.reference":
        return "sftkit/reference.py"
    if word == "sftkit.pipeline":
        return "pipeline"
    if name in ("submit.sh", "sbatch", "universal_length_selector.sh") or name in scripts():
        return {"universal_length_selector.sh": "length_selector"}.get(name, scripts().get(name, name))
    if word in SUBCOMMANDS:
        return {"uv": "pip"}.get(word, word) if following == SUBCOMMANDS[word] else None
    return FOREIGN_WORDS.get(word, word if word in FOREIGN else None)


def tokens(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:  # an apostrophe in a comment
        return text.split()


def attribute(text: str, default: frozenset[str]) -> Iterator[tuple[str, frozenset[str]]]:
    """Each flag in one line of code (or code span), with the flags its command takes."""
    owner, mode, stage = default, None, None
    words = tokens(text)
    i = 0
    while i < len(words):
        word = words[i]
        command = command_at(word, words[i + 1] if i + 1 < len(words) else "")
        if word == "--" and mode == "submit.sh":
            owner, mode = (flags(stage) if stage else any_flag()), None
        elif word == "--" and mode == "model_server":
            owner, mode = flags("vllm"), None
        elif command == "submit.sh":
            owner, mode, stage = flags("submit.sh") | flags("sbatch"), "submit.sh", None
        elif command:
            owner, mode = flags(command), command
            if command == "length_selector" and word.endswith(".sh"):
                owner = owner | flags("sbatch")
        elif mode == "submit.sh" and stage is None and word in ("pipeline", "status"):
            owner, mode = flags("pipeline"), None
        elif mode == "submit.sh" and stage is None and (word in STAGES or word in ALIASES):
            stage = ALIASES.get(word, word)
        elif mode == "submit.sh" and word in ("--server-args", "--server-sbatch") and i + 1 < len(words):
            yield word, owner
            inner = flags("model_server") if word == "--server-args" else flags("sbatch")
            yield from attribute(("model_server.py " if word == "--server-args" else "") + words[i + 1], inner)
            i += 2
            continue
        for flag in FLAG.findall(word):
            yield flag, owner
        i += 1


def code_lines(text: str) -> tuple[str, list[str]]:
    """The prose (fenced blocks removed) and each line of code: in blocks, continuation lines joined,
    a shell comment its own line; in prose, each code span."""
    lines, prose = [], []
    for i, part in enumerate(re.split(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)):
        if i % 2:
            for line in re.sub(r"\\\n\s*", " ", part).splitlines():
                lines += re.split(r"(?:^|\s)#\s", line, maxsplit=1)
        else:
            prose.append(part)
    text = "\n".join(prose)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text)]  # a span may wrap
    return re.sub(r"`[^`]+`", " ", text), lines + spans


def wrong_flags(page: str, text: str) -> list[str]:
    """``page`` (a path from the repo root) names flags its commands do not take: one line each."""
    stage = re.fullmatch(r"docs/stages/(\w+)\.md", page)
    default = flags(stage.group(1)) if stage else any_flag()
    prose, lines = code_lines(text)
    found = [(f, default) for f in FLAG.findall(prose)]
    for line in lines:
        found += attribute(line, default)
    bad = []
    for flag, allowed in found:
        ok = any(f.startswith(flag) for f in allowed) if flag.endswith("-") else flag in allowed
        if not ok:
            bad.append(f"{page}: {flag} is no flag of the command it is written for")
    return bad


def doc_pages() -> list[str]:
    """README.md and every docs page but the generated reference (its flags are the parsers' own)."""
    pages = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").rglob("*.md"))
    return ["README.md", *(p for p in pages if not p.startswith(reference.REFERENCE))]


def test_generated_docs_are_current() -> None:
    stale = reference.stale(REPO)
    assert not stale, f"out of date: {', '.join(stale)}; run make docs"


def test_every_flag_written_in_the_docs_exists() -> None:
    bad = [line for page in doc_pages() for line in wrong_flags(page, (REPO / page).read_text())]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("page", "text", "flag"),
    [
        ("docs/stages/filter.md", "Judges stop at `--judge-max`.", "--judge-max"),  # --judge-max-tokens exists
        ("docs/stages/generate.md", "Give `--judge-only` to skip solving.", "--judge-only"),  # the filter's
        ("docs/stages/dedup.md", "```bash\npython selectors/dedup.py \\\n    --verif --output x\n```", "--verif"),
        ("docs/slurm.md", "```bash\npython hpc/filter.py --input a --verify\n```", "--verify"),  # dedup's
        ("docs/slurm.md", "`slurm/submit.sh dedup --shards 2 -- --judge-only`", "--judge-only"),
        ("docs/slurm.md", "`slurm/submit.sh --shardz 2 dedup -- --verify`", "--shardz"),
        ("docs/server.md", '```\nslurm/submit.sh filter --server M --server-args "--tp 8 -- --tp 2" -- x\n```', "--tp"),
        ("README.md", "Pass `--no-such-flag` to any stage.", "--no-such-flag"),
    ],
)
def test_a_planted_wrong_flag_fails(page: str, text: str, flag: str) -> None:
    assert wrong_flags(page, text) == [f"{page}: {flag} is no flag of the command it is written for"]


def test_flags_of_other_commands_are_recognised() -> None:
    text = """```bash
slurm/submit.sh filter --shards 4 --gres=gpu:8 -c 24 --mem=128G --server M --server-sbatch "-p gpu --time=1:00:00" \\
    --server-args "--tp 8 -- --max-model-len 32768" -- --judge-only --inference-tp 2
sbatch --nodes=2 slurm/run_server.sh --model M --server-file f -- --served-model-name r1
hf download nvidia/OpenMathReasoning --repo-type dataset --local-dir data/omr   # then --input data/omr
slurm/submit.sh pipeline recipes/full.yaml --dry-run
python bench/dedup.py --repeat 5
```
Start `vllm serve` with `--reasoning-parser`; `ray start --head --block`; `srun --overlap`."""
    assert wrong_flags("docs/slurm.md", text) == []


def test_every_flag_of_every_command_is_in_its_reference_page() -> None:
    """What the README once listed by hand: each command's every spelling, now on its generated page."""
    for name in reference.COMMANDS:
        page = (REPO / reference.REFERENCE / f"{name}.md").read_text()
        written = set(FLAG.findall(page))
        missing = sorted(f for f in reference.flags_of(name) - {"--help"} if f.startswith("--") and f not in written)
        assert not missing, f"{name}: {missing} not in its reference page; run make docs"


def test_every_stage_has_a_guide_and_a_reference_page() -> None:
    for stage in STAGES.values():
        assert (REPO / stage.docs).is_file(), f"{stage.docs} is missing: every stage has a guide"
        headings = re.findall(r"^## (.+)$", (REPO / stage.docs).read_text(), re.M)
        for part in ("Example", "Rules", "Outputs", "ejected"):  # purpose: the text under its title
            assert any(part in h for h in headings), f"{stage.docs} has no section on {part.lower()}"
    for name in [*STAGES, *TOOLS]:
        assert (REPO / reference.REFERENCE / f"{name}.md").is_file(), name


def test_a_stage_map_without_its_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="markers"):
        reference.with_stage_map("# no map here\n", "docs/", "README.md")


def test_the_readme_is_a_front_door_whose_links_resolve() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) < 15_000, "README.md is the front door: detail goes to docs/"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert (REPO / target).is_file(), f"README.md links to {target}, which does not exist"


def test_the_site_builds_strict(tmp_path: Path) -> None:
    """mkdocs --strict fails on a broken link or anchor and on a page left out of the nav (never run it
    with -q: it then ignores the warnings --strict counts)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
