"""What tests share (fixtures stay in conftest.py; no test imports another test file):

- paths of the repo and its demo data;
- ``run_command``: a command's ``main`` in this process, as ``sftkit.cli.run_main`` would end it (fast: no new
  Python per call), and ``run_script``: an entry script as a user runs it (a fresh Python, for tests about
  signals, exit codes, locks and stdout/stderr of the real process, and the real scripts);
- the tiers (``tier_error``) and the on-disk cache of tiny models (``cached_tiny_model``);
- test data shared by several files: simulated IRT answers, a slowed scripted model for the stop and server tests,
  the realistic corpus replayed by a scripted server, near-duplicate texts for dedup.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "data" / "demo" / "openmath_demo.jsonl"


def run_script(
    script: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run an entry script (e.g. 'selectors/length_selector.py') the way a user or sbatch would."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@dataclass(frozen=True)
class Result:
    """What an in-process command ended with; the names of ``subprocess.CompletedProcess``, so a test's
    assertions read the same whichever runner it uses."""

    returncode: int
    stdout: str
    stderr: str


def _command_module(command: str) -> str:
    """The command module of a stage or tool name, an alias, an entry script path, or a module name."""
    from sftkit.registry import ALIASES, STAGES, TOOLS

    entries = [*STAGES.values(), *TOOLS.values()]
    by_script = {e.script: e.command for e in entries}
    by_name = {e.name: e.command for e in entries} | {a: STAGES[n].command for a, n in ALIASES.items()}
    return by_script.get(command) or by_name.get(command) or command


@contextlib.contextmanager
def _environment(env: dict[str, str] | None, cwd: Path | None) -> Iterator[None]:
    """Set variables and the working folder for one call, then put back what was there."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(env or {})
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_command(
    command: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True
) -> Result:
    """Run a command's ``main(args)`` here, ended as ``sftkit.cli.run_main`` ends it: InputError is exit 2 and
    one ``error: ...`` line, a saved stop its exit code and a ``stopped: ...`` line, SystemExit keeps its code.

    ``command`` is what ``run_script`` takes (an entry script), a stage or tool name, or a module name. Output
    written through ``sys.stdout``/``sys.stderr`` is captured (not what child processes write to the real
    descriptors). The stop signals are not installed here; a stop requested during the call is forgotten after
    it, as it would be with the process.
    """
    from sftkit import stopping
    from sftkit.errors import InputError, Interrupted

    main = importlib.import_module(_command_module(command)).main
    out, err = io.StringIO(), io.StringIO()
    received = list(stopping._received)
    with _environment(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args)) or 0
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            rc = 2
        except Interrupted as exc:
            print(f"stopped: {exc}", file=sys.stderr)
            rc = exc.exit_code
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        finally:
            stopping._received[:] = received
    result = Result(rc, out.getvalue(), err.getvalue())
    if check and rc != 0:
        raise AssertionError(f"{command} exited {rc}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


# The tiers, one folder each under tests/ (docs/install.md, "Test tiers"), and the fixtures each may use: a test of a
# lower tier that reaches a model or the cluster, even through another fixture, is a collection error.
TIERS = ("unit", "stages", "models", "cluster")
MODEL_FIXTURES = frozenset({"tiny_model", "tiny_ensemble", "vllm_engine"})
ALLOWED = {
    "unit": frozenset(),
    "stages": frozenset(),
    "models": MODEL_FIXTURES,
    "cluster": MODEL_FIXTURES | {"slurm"},
}
GUARDED = MODEL_FIXTURES | {"slurm"}


def tier_of(path: Path) -> str | None:
    """The tier folder a test file lives in (the nearest enclosing one), or None."""
    return next((part for part in reversed(path.parent.parts) if part in TIERS), None)


def tier_error(path: Path, fixtures: Iterable[str], markers: Iterable[str]) -> str | None:
    """Why a test at ``path`` using ``fixtures`` (transitive ones too) and marked ``markers`` is in the wrong
    tier, or None."""
    tier = tier_of(path)
    if tier is None:
        return f"not in a tier folder (tests/{{{','.join(TIERS)}}}/)"
    if tier not in markers:
        return f"in tests/{tier}/ but not marked: add `pytestmark = pytest.mark.{tier}`"
    reached = sorted((set(fixtures) & GUARDED) - ALLOWED[tier])
    if reached:
        where = "tests/cluster" if reached == ["slurm"] else "tests/models or tests/cluster"
        return f"uses {', '.join(reached)}, which belong in {where}, not tests/{tier}"
    return None


def cache_root() -> Path:
    return Path(os.environ.get("SFTKIT_TEST_CACHE") or Path.home() / ".cache" / "sftkit-tests")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


MANIFEST = "sftkit-test-cache.json"


def _intact(folder: Path) -> bool:
    """A finished cache entry: its manifest lists every file with its hash, and each one matches."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return bool(manifest) and all(_digest(folder / name) == sha for name, sha in manifest.items())
    except (OSError, ValueError, AttributeError):
        return False


def cached_tiny_model(spec: Any = None) -> Path:
    """``build_tiny_model(spec)``, trained once per machine: kept under ``$SFTKIT_TEST_CACHE`` (else
    ``~/.cache/sftkit-tests``) by a hash of the spec, of the builder's source and of the torch and
    transformers versions. Built in a temporary folder and renamed into place, so a killed build leaves no
    entry; an entry whose files do not match its manifest is built again. Tests must not write into it."""
    import torch
    import transformers

    from sftkit.models import tiny

    spec = spec or tiny.TinySpec()
    key = hashlib.sha256(
        "\n".join([repr(spec), inspect.getsource(tiny), torch.__version__, transformers.__version__]).encode()
    ).hexdigest()[:16]
    root = cache_root() / "tiny-models"
    final = root / key
    if _intact(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        tiny.build_tiny_model(building, spec)
        files = sorted(p for p in building.rglob("*") if p.is_file())
        manifest = {str(p.relative_to(building)): _digest(p) for p in files}
        (building / MANIFEST).write_text(json.dumps(manifest, indent=1))
        building.chmod(0o755)  # mkdtemp's 0700 would keep it from Slurm jobs run as another user
        if final.exists() and not _intact(final):  # a broken entry: move it aside, then out
            broken = Path(tempfile.mkdtemp(prefix=f".{key}-broken-", dir=root))
            os.replace(final, broken / "entry")
            shutil.rmtree(broken, ignore_errors=True)
        try:
            os.rename(building, final)
        except OSError:  # another process put an entry there first
            if not _intact(final):
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def simulate_irt(models: int, samples: int, items: int, seed: int) -> tuple[Any, Any, Any]:
    """Rasch answers of ``models`` models of spread ability, ``samples`` each, to ``items`` items: (correct,
    total, beta), the first two models x items."""
    import numpy as np

    rng = np.random.default_rng(seed)
    theta = np.linspace(-2, 2, models)
    beta = rng.normal(0, 1.5, items)
    p = 1 / (1 + np.exp(-(theta[:, None] - beta[None, :])))
    return rng.binomial(samples, p), np.full((models, items), samples), beta


# The stop and server tests: a scripted model answering generation seeds slowly enough to be stopped mid-chunk
GENERATE = "hpc/generate.py"
SEEDS = 12
DELAY = 0.6  # seconds per request: the whole chunk takes SEEDS * DELAY / 2 (two at once)


def slow_script(seeds: int = SEEDS, delay: float = DELAY) -> list[dict]:
    """A scripted model that answers seed i with a new problem after ``delay`` seconds."""
    return [
        {
            "match": [f"What is {i} + {i + 3}?"],
            "delay": delay,
            "choices": [
                {"content": f"<question>What is {i} + {i + 4}?</question><answer>{2 * i + 4}</answer>"},
                {"content": f"<question>What is {i} + {i + 5}?</question><answer>{2 * i + 5}</answer>"},
            ],
        }
        for i in range(seeds)
    ]


def write_seeds(path: Path, seeds: int = SEEDS) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"s{i}", "problem": f"What is {i} + {i + 3}?", "expected_answer": str(2 * i + 3)}) + "\n"
            for i in range(seeds)
        )
    )
    return path


def generate_args(seeds: Path, url: str, out: Path) -> list[str]:
    """One chunk spanning the whole input, two requests in flight."""
    return [
        "--input",
        str(seeds),
        "--engine",
        "openai",
        "--base-url",
        url,
        "--model",
        "scripted",
        "--concurrency",
        "2",
        "--n",
        "2",
        "--temperature",
        "0.7",
        "--save-per-iteration",
        "100",
        "--output",
        str(out),
    ]


def log_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def client_args(seeds: Path, out: Path, *where: str) -> list[str]:
    """The arguments of ``generate_args`` (one chunk, two requests in flight), reaching a server by ``where``."""
    return [
        "--input",
        str(seeds),
        "--model",
        "scripted",
        *where,
        "--concurrency",
        "2",
        "--n",
        "2",
        "--temperature",
        "0.7",
        "--save-per-iteration",
        "100",
        "--output",
        str(out),
    ]


# Realistic completions (tests/corpus/realistic.yaml), replayed by a scripted server
REALISTIC = yaml.safe_load((REPO / "tests" / "corpus" / "realistic.yaml").read_text())


def realistic_script() -> list[dict[str, Any]]:
    """Scripted-server entries replaying the corpus: judges are matched by the candidate's words, solvers and
    generators by the problem's."""
    entries = [
        {
            "match": ["You are checking whether", j["match"]],
            "choices": [{"content": j["content"], "finish_reason": j["finish_reason"]}],
        }
        for j in REALISTIC["judge"]
    ]
    for s in REALISTIC["solve"]:
        entry = {"match": ["Solve the problem", s["problem"]]}
        entries.append(
            entry | ({"status": s["status"], "error": s["error"]} if "status" in s else {"choices": s["choices"]})
        )
    entries += [
        {"match": [g["seed"]], "choices": [{"content": g["content"], "finish_reason": g["finish_reason"]}]}
        for g in REALISTIC["generate"]
    ]
    return entries


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def remote(url: str, prefix: str = "") -> list[str]:
    return [f"--{prefix}engine", "openai", f"--{prefix}base-url", url, f"--{prefix}model", "scripted"]


# Near-duplicate texts for the dedup tests
WORDS = [f"w{i}" for i in range(20_000)]


def random_text(rng: random.Random, n: int = 80) -> str:
    """``n`` words drawn from 20,000: two such texts share almost no 3-gram."""
    return " ".join(rng.choice(WORDS) for _ in range(n))


def swap_words(rng: random.Random, text: str, k: int) -> str:
    """``text`` with its words at k spread-out positions replaced by fresh ones."""
    import numpy as np

    ws = text.split()
    for pos in np.linspace(2, len(ws) - 3, k).astype(int).tolist():
        ws[pos] = f"new{rng.randrange(10**9)}"
    return " ".join(ws)


def jaccard3(a: str, b: str, n: int = 3) -> float:
    """The Jaccard similarity of two texts' word n-grams, as dedup measures it."""
    from sftkit.dedup.text import jaccard, ngram_set, normalize, words

    return jaccard(ngram_set(words(normalize(a)), n), ngram_set(words(normalize(b)), n))


# Real chat templates (Qwen3, Llama 3.1, Gemma 3, gpt-oss, DeepSeek-R1-Distill), their Jinja text as shipped
CHAT_TEMPLATES = REPO / "tests" / "corpus" / "chat_templates"


def template_tokenizer(folder: Path, name: str) -> str:
    """A tokenizer folder with the real chat template ``name`` (tests/corpus/chat_templates/NAME.jinja), built offline
    in milliseconds: a word-level vocabulary, since a template check renders text and the tokens do not matter."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        chat_template=(CHAT_TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8"),
    )
    tok.save_pretrained(folder / name)
    return str(folder / name)


RECIPE_SERVER = "http://127.0.0.1:8000/v1"  # the server of several models a recipe names (judges): the scripted one


def static_embedder(folder: Path, texts: Iterable[str]) -> Path:
    """A model2vec static model whose vocabulary is the words of ``texts`` (each CJK character a word), a random
    32-d vector each: texts with the same words embed alike, others far apart; built offline in a second."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    words = {w for t in texts for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(t))}
    vocab = {w: k for k, w in enumerate(["[UNK]", "[PAD]", *sorted(words)])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, splitter
    vectors = random.Random(0)
    table = [[vectors.gauss(0, 1) for _ in range(32)] for _ in vocab]
    import numpy as np

    StaticModel(vectors=np.array(table, dtype=np.float32), tokenizer=tokenizer, normalize=True).save_pretrained(folder)
    return folder


def run_recipe(
    name: str,
    tmp_path: Path,
    script: list[dict[str, Any]] | None = None,
    words: Iterable[str] = (),
    edits: dict[str, str] | None = None,
) -> Path:
    """recipes/NAME.yaml with --local, its workdir under tmp_path and the repository's data, prompts and rubrics,
    while (given ``script``) the scripted server answers at the recipe's rendezvous file and at ``RECIPE_SERVER``
    (a server of several models, the recipe's judges); returns the workdir.
    A recipe's ``results/NAME/tokenizer`` is the tiny model's tokenizer and ``results/NAME/embedder`` a static
    embedder of ``words``' vocabulary, built here. ``edits``: text replaced in the recipe (a size the sample
    is too small for)."""
    from servers import scripted

    from sftkit.models.tiny import tiny_tokenizer

    text = (REPO / "recipes" / f"{name}.yaml").read_text()
    work = tmp_path / "work"
    work.mkdir()
    text = text.replace(f"results/{name}", str(work))
    for old, new in (edits or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    for folder in ("data/", "prompts/", "rubrics/"):
        text = text.replace(f" {folder}", f" {REPO}/{folder}").replace(f"[{folder}", f"[{REPO}/{folder}")
    if f"{work}/tokenizer" in text:
        tiny_tokenizer(work / "tokenizer")
    if f"{work}/embedder" in text:
        static_embedder(work / "embedder", words)
    recipe = tmp_path / f"{name}.yaml"
    command = [str(REPO / "slurm" / "submit.sh"), "pipeline", str(recipe), "--local"]
    env = {**os.environ, "SFTKIT_MERGE_POLL": "1"}
    with scripted(script, tmp_path, rendezvous=work / ".server.json") if script else contextlib.nullcontext() as s:
        recipe.write_text(text.replace(RECIPE_SERVER, s[0]) if s else text)
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work


def reject_reasons(path: Path) -> dict[str, int]:
    """Reason -> count in ``<path>.rejects.jsonl`` (empty when there is none)."""
    rejects = Path(f"{path}.rejects.jsonl")
    rows = read_jsonl(rejects) if rejects.exists() else []
    found: dict[str, int] = {}
    for r in rows:
        found[r["reason"]] = found.get(r["reason"], 0) + 1
    return found


def dataset_rows(work: Path, config: str) -> dict[str, list[dict[str, Any]]]:
    """Split -> rows of an upload dry-run's dataset folder (``<work>/dataset``)."""
    import pyarrow.parquet as pq

    files = sorted((work / "dataset" / "data" / config).glob("*.parquet"))
    return {f.stem: pq.read_table(f).to_pylist() for f in files}
