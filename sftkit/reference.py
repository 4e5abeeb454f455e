"""The generated parts of the docs: the CLI reference (docs/reference/) and the stage maps.

Both come from the code, each command's parser and ``sftkit/registry.py``, so they cannot drift from it:
``make docs`` (``python -m sftkit.reference``) writes them, and tests/unit/test_docs.py fails when the
committed files differ. The reference reads the parsers' actions, never their help output, so it does not
depend on how a ``HelpFormatter`` lays help out.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sftkit.registry import STAGES, TOOLS, Stage, Tool

REPO = Path(__file__).resolve().parent.parent
COMMANDS: dict[str, Stage | Tool] = {**STAGES, **TOOLS}
REFERENCE = "docs/reference"
# the stage map sits between these lines in each file named in STAGE_MAPS
BEGIN = "<!-- stage map: generated from sftkit/registry.py by `make docs`; do not edit by hand -->"
END = "<!-- end of the stage map -->"
STAGE_MAPS = {"README.md": "docs/", "docs/index.md": ""}  # file -> its links' prefix into docs/


@contextmanager
def _no_sftkit_env() -> Iterator[None]:
    """Parsers take some defaults from ``SFTKIT_<DEST>`` variables: the reference shows the code's own."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("SFTKIT_")}
    try:
        yield
    finally:
        os.environ.update(saved)


def parser_of(name: str) -> argparse.ArgumentParser:
    """The parser of a stage or tool, as the code builds it with no ``SFTKIT_*`` variable set."""
    with _no_sftkit_env():
        return importlib.import_module(COMMANDS[name].command).build_parser()


def flags_of(name: str) -> set[str]:
    """Every spelling of every flag the command accepts."""
    return {s for a in parser_of(name)._actions for s in a.option_strings}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no line breaks, no pipes, no tags, no emphasis."""
    text = " ".join(text.split())
    for char, escaped in (("|", r"\|"), ("*", r"\*"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escaped)
    return text


def _code(text: str) -> str:
    return f"`{text.replace('|', chr(92) + '|')}`"


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.nargs == 0:
        return "(switch)"
    value = action.default
    if value is None or value == argparse.SUPPRESS:
        return ""
    if isinstance(value, list | tuple):
        return _code(" ".join(map(str, value))) if value else ""
    return _code(str(value))


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" in text:  # argparse's own expansion of %(default)s and the like
        params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        if params.get("choices") is not None:
            params["choices"] = ", ".join(map(str, params["choices"]))
        text = text % {**params, "prog": prog}
    if action.choices is not None:
        text = f"{text} (one of: {', '.join(map(str, action.choices))})".strip()
    return _cell(text)


def _command_line(cmd: Stage | Tool) -> str:
    lines = [f"Run: `python {cmd.script} [flags]`"]
    if isinstance(cmd, Stage) and cmd.sbatch:
        lines.append(f"on Slurm: `slurm/submit.sh {cmd.name} [--shards N] -- [flags]` (`{cmd.sbatch}`)")
    elif cmd.sbatch:
        lines.append(f"on Slurm: `{cmd.sbatch}`")
    if isinstance(cmd, Stage):
        lines.append(f"guide: [{cmd.name}](../stages/{cmd.name}.md)")
        if cmd.aliases:
            lines.append("older names, still accepted: " + ", ".join(f"`{a}`" for a in cmd.aliases))
    return " · ".join(lines)


def reference_page(name: str) -> str:
    """One command's flags, one table per argument group, in the parser's order."""
    cmd = COMMANDS[name]
    p = parser_of(name)
    out = [
        f"# {name}",
        "",
        f"{cmd.summary[0].upper()}{cmd.summary[1:]}.",
        "",
        _command_line(cmd),
        "",
        "Generated from the command's parser by `make docs` (`sftkit/reference.py`); do not edit by hand.",
        "",
    ]
    if p.description:
        out += ["```text", p.description.strip("\n"), "```", ""]
    for group in p._action_groups:
        actions = [a for a in group._group_actions if not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        out += [f"## {group.title}", "", "| flag | other spellings | default | help |", "| --- | --- | --- | --- |"]
        for a in actions:
            flag, *others = a.option_strings or [a.metavar or a.dest]
            spellings = ", ".join(_code(s) for s in others)
            out.append(f"| {_code(flag)} | {spellings} | {_default(a)} | {_help(a, p.prog)} |")
        out.append("")
    return "\n".join(out)


def reference_index() -> str:
    out = [
        "# CLI reference",
        "",
        "Every flag of every command, generated from its parser by `make docs` (`sftkit/reference.py`).",
        "Each flag has both spellings, `--total-samples` and `--total_samples`.",
        "",
        "| command | what it does | entry script |",
        "| --- | --- | --- |",
    ]
    out += [f"| [{n}]({n}.md) | {c.summary} | `{c.script}` |" for n, c in COMMANDS.items()]
    return "\n".join(out) + "\n"


def stage_map(prefix: str) -> str:
    """The stages in pipeline order, as a picture and one table line each; ``prefix`` leads to docs/."""
    names = list(STAGES)
    out = ["```mermaid", "flowchart LR", "  data[(dataset)] --> " + " --> ".join(names) + " --> hub[(Hub dataset)]"]
    gpu = [s.name for s in STAGES.values() if s.script.startswith("hpc/")]
    out += ["  classDef gpu fill:#fde2c8,stroke:#c2410c", f"  class {','.join(gpu)} gpu", "```", ""]
    out += ["| stage | what it does | entry script | on Slurm | docs |", "| --- | --- | --- | --- | --- |"]
    for s in STAGES.values():
        sbatch = f"`{s.sbatch}`" if s.sbatch else "runs where started"
        docs = f"[guide]({prefix}stages/{s.name}.md), [flags]({prefix}reference/{s.name}.md)"
        out.append(f"| `{s.name}` | {s.summary} | `{s.script}` | {sbatch} | {docs} |")
    return "\n".join(out)


def with_stage_map(text: str, prefix: str, where: str) -> str:
    """``text`` with the stage map between its markers replaced by the current one."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"{where}: needs the stage map's markers once:\n{BEGIN}\n{END}")
    return pattern.sub(lambda _: f"{BEGIN}\n{stage_map(prefix)}\n{END}", text)


def generated(root: Path = REPO) -> dict[str, str]:
    """Every generated file, path relative to ``root`` -> its text as it should be committed."""
    files = {f"{REFERENCE}/{n}.md": reference_page(n) for n in COMMANDS}
    files[f"{REFERENCE}/index.md"] = reference_index()
    for path, prefix in STAGE_MAPS.items():
        files[path] = with_stage_map((root / path).read_text(), prefix, path)
    return files


def stale(root: Path = REPO) -> list[str]:
    """The generated files whose committed text differs, and reference pages no command has."""
    files = generated(root)
    changed = [p for p, text in files.items() if not (root / p).is_file() or (root / p).read_text() != text]
    extra = [str(p.relative_to(root)) for p in sorted((root / REFERENCE).glob("*.md"))]
    return changed + [p for p in extra if p not in files]


def main(argv: list[str] | None = None) -> int:
    """Write what is out of date (``--check``: only say so, exit 1)."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    check = args.parse_args(argv).check
    out_of_date = stale()
    if check:
        for path in out_of_date:
            print(f"out of date: {path} (run make docs)", file=sys.stderr)
        return 1 if out_of_date else 0
    files = generated()
    (REPO / REFERENCE).mkdir(parents=True, exist_ok=True)
    for path in out_of_date:
        if path in files:
            (REPO / path).write_text(files[path])
        else:
            (REPO / path).unlink()
        print(f"wrote {path}" if path in files else f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
