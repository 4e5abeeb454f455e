"""The layers of the code, lowest last: nothing imports upward, no two packages import each other, and no
module imports itself back (through the modules it imports) when it runs.

    entry scripts -> commands, pipeline and reference -> stage packages -> cli -> runner -> engines -> data -> leaf

Imports inside functions count too: a lazy import upward is still an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.unit

# layer number by module prefix (longest prefix wins); a module under no prefix fails the test
LAYERS = {
    "leaf": (
        "sftkit",
        "sftkit.registry",
        "sftkit.errors",
        "sftkit.stopping",
        "sftkit.report",
        "sftkit.sortkeys",
        "sftkit.secrets",
        "sftkit.answers",
        "sftkit.prompts",
        "sftkit.preflight",
        "sftkit.text",
        "sftkit.scripts",
    ),
    "data": ("sftkit.data",),
    "engines": ("sftkit.engines",),
    "runner": ("sftkit.runner",),
    "cli": ("sftkit.cli",),
    "stages": (
        "sftkit.clean",
        "sftkit.select",
        "sftkit.dedup",
        "sftkit.semdedup",
        "sftkit.decontaminate",
        "sftkit.generate",
        "sftkit.filter",
        "sftkit.score",
        "sftkit.difficulty",
        "sftkit.export",
        "sftkit.upload",
    ),
    "commands": (
        "sftkit.commands",
        "sftkit.pipeline",
        "sftkit.orchestrate",
        "sftkit.reference",
        "sftkit.models",
        "sftkit.synthetic",
        "sftkit.__main__",
    ),
    "entry": ("entry",),
}
ORDER = list(LAYERS)
ENTRY_DIRS = ("hpc", "selectors", "upload")


def layer_of(module: str) -> int:
    """A prefix covers its submodules, except ``sftkit`` itself (its __init__), which would cover everything."""
    best = max(
        (p for ps in LAYERS.values() for p in ps if module == p or (p != "sftkit" and module.startswith(p + "."))),
        key=len,
        default=None,
    )
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return next(i for i, (_, prefixes) in enumerate(LAYERS.items()) if best in prefixes)


def package_of(module: str) -> str:
    """The unit a cycle is checked between: sftkit.X (a package or a top-level module)."""
    return ".".join(module.split(".")[:2])


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[0] in ENTRY_DIRS:
        return "entry." + ".".join(parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str, *, typing_only: bool = True) -> set[str]:
    """The sftkit modules ``path`` imports (``from sftkit import cli`` counts as sftkit.cli); without
    ``typing_only``, less those under ``if TYPE_CHECKING:``, which never run."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    skipped = set() if typing_only else {id(n) for block in _type_checking_blocks(tree) for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "sftkit"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] != "sftkit":
                continue
            for alias in node.names:  # a submodule imported by name, or a name from the module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _is_module(candidate) else base)
    return found


def _type_checking_blocks(tree: ast.AST) -> list[ast.stmt]:
    """The statements under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    return [
        stmt
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and "TYPE_CHECKING" in {getattr(node.test, "id", None), getattr(node.test, "attr", None)}
        for stmt in node.body
    ]


def _is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_graph(root: Path, *, typing_only: bool = True) -> dict[str, set[str]]:
    files = sorted((root / "sftkit").rglob("*.py")) + [p for d in ENTRY_DIRS for p in sorted((root / d).glob("*.py"))]
    return {module_name(p, root): imports(p, module_name(p, root), typing_only=typing_only) for p in files}


def violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, deps in graph.items():
        for dep in sorted(deps):
            if layer_of(dep) > layer_of(module):
                bad.append(f"{module} ({ORDER[layer_of(module)]}) imports {dep} ({ORDER[layer_of(dep)]})")
    return bad


def package_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between sftkit.X units (a module importing its own package's siblings is no cycle)."""
    edges: dict[str, set[str]] = {}
    for module, deps in graph.items():
        src = package_of(module)
        edges.setdefault(src, set()).update(package_of(d) for d in deps if package_of(d) not in (src, "sftkit"))
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def module_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Modules that import themselves back through others (within a package too), each cycle sorted."""
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(node: str) -> None:  # Tarjan: each strongly connected group of more than one module is a cycle
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_nothing_imports_upward() -> None:
    assert violations(import_graph(REPO)) == []


def test_no_two_packages_import_each_other() -> None:
    assert package_cycles(import_graph(REPO)) == []


def test_a_planted_upward_import_fails(tmp_path: Path) -> None:
    graph = import_graph(REPO)
    graph["sftkit.data.batch"] = graph["sftkit.data.batch"] | {"sftkit.commands.filter"}
    assert violations(graph) == ["sftkit.data.batch (data) imports sftkit.commands.filter (commands)"]


def test_a_planted_cycle_fails() -> None:
    graph = import_graph(REPO)
    graph["sftkit.export.build"] = graph["sftkit.export.build"] | {"sftkit.upload.card"}
    assert ["sftkit.export", "sftkit.upload", "sftkit.export"] in package_cycles(graph)


def test_no_module_imports_itself_back_when_it_runs() -> None:
    """Within a package too (sftkit.data.hub and sftkit.data.sources name each other only for type hints)."""
    assert module_cycles(import_graph(REPO, typing_only=False)) == []


def test_a_planted_module_cycle_fails() -> None:
    graph = import_graph(REPO, typing_only=False)
    graph["sftkit.data.batch"] = graph["sftkit.data.batch"] | {"sftkit.data.sources"}
    assert any({"sftkit.data.batch", "sftkit.data.sources"} <= set(cycle) for cycle in module_cycles(graph))


def test_every_module_is_in_a_layer() -> None:
    for module in import_graph(REPO):
        layer_of(module)


def test_entry_scripts_only_call_a_command() -> None:
    """A thin script imports run_main and its command's main, nothing else of the project."""
    for module, deps in import_graph(REPO).items():
        if module.startswith("entry."):
            assert deps <= {"sftkit.cli"} | {d for d in deps if d.startswith("sftkit.commands.")}, module


def test_a_new_top_level_module_is_in_no_layer_until_listed() -> None:
    """``sftkit`` (the package's __init__) is a leaf, but not everything under it: a new module must be placed."""
    assert ORDER[layer_of("sftkit")] == "leaf"
    with pytest.raises(AssertionError, match=r"sftkit\.newcomer is in no layer"):
        layer_of("sftkit.newcomer")
