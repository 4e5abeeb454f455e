"""A deterministic synthetic math dataset in OpenMathReasoning's schema, for the demo, tests and benches.

Columns: problem, generated_solution (ends in a \\boxed{} answer), expected_answer, problem_type,
pass_rate_72b_tir (strings such as "0.25", "1" or "n/a"), inference_mode, problem_source.
Solution lengths are log-normal and longer solutions get lower pass rates, as in real data.
Rows are generated in fixed blocks seeded by (seed, block), so the first N rows never depend
on how many rows are asked for. There is no id column: stages derive stable ids. About 5% of rows
repeat an earlier row of their block (problem, answer, solution, type and pass rate), half of them
word for word and half reworded (_REWORDINGS), as the same problem from several sources does in
real corpora.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sftkit.data.atomic import atomic_path, dumps_line
from sftkit.data.writers import write_lines

BLOCK = 50_000
PROBLEM_TYPES = np.array(["has_answer_extracted", "no_answer_extracted", "converted_proof"])
_STEPS = (
    "We expand the expression and collect like terms. ",
    "Checking the arithmetic again, each step holds. ",
    "Substituting the value back confirms the equation. ",
    "Consider the remainder modulo the divisor. ",
    "By symmetry the two cases give the same count. ",
    "Note that $2^{10} = 1024$, which simplifies the sum. ",
    "Thus the intermediate result is consistent with the bound. ",
)
_FILLER = "".join(_STEPS[(i * 5 + i // 7) % len(_STEPS)] for i in range(2000))
_STARTS = np.array([0, *(i + 2 for i in range(len(_FILLER) - 2) if _FILLER[i : i + 2] == ". ")])


_REWORDINGS = ("Please {}", "Now {}", "{} Answer:")
DUPLICATE_RATE = 0.05


def _plant_duplicates(seed: int, block: int, columns: dict[str, list[str]]) -> None:
    """Overwrite a few rows with an earlier row's problem and its labels (exact or reworded), from
    a random stream of its own, so every other column stays what it was without duplicates."""
    rng = np.random.default_rng([seed, block, 1])
    rows = len(columns["problem"])
    for i in np.flatnonzero(rng.random(rows) < DUPLICATE_RATE).tolist():
        if i == 0:
            continue
        j = int(rng.integers(0, i))
        for name in columns:
            columns[name][i] = columns[name][j]
        if rng.random() < 0.5:
            columns["problem"][i] = _REWORDINGS[int(rng.integers(0, len(_REWORDINGS)))].format(columns["problem"][j])


def _problem(t: int, a: int, b: int, c: int) -> tuple[str, int]:
    if t == 0:
        return f"Compute ${a} + {b} \\cdot {c}$.", a + b * c
    if t == 1:
        return f"Find the remainder when ${a}^2 + {b}$ is divided by ${c}$.", (a * a + b) % c
    if t == 2:
        return f"Solve for $x$: ${a}x + {b} = {a * c + b}$.", c
    return f"What is ${a}$ times the sum of the first ${c}$ positive integers?", a * c * (c + 1) // 2


def _block(seed: int, block: int, rows: int) -> pa.Table:
    rng = np.random.default_rng([seed, block])
    templates = rng.integers(0, 4, rows)
    a, b, c = rng.integers(2, 99, rows), rng.integers(1, 999, rows), rng.integers(2, 60, rows)
    lengths = np.clip(rng.lognormal(np.log(700), 0.9, rows), 60, 40_000).astype(np.int64)
    offsets = _STARTS[rng.integers(0, len(_STARTS) // 2, rows)]
    p_solve = 1 / (1 + np.exp(-(1.0 - 1.2 * np.log(lengths / 700))))
    solved = rng.binomial(32, p_solve)
    unlabeled = rng.random(rows) < 0.12
    kinds = PROBLEM_TYPES[rng.choice(3, rows, p=[0.7, 0.2, 0.1])]
    problems, answers, solutions, rates = [], [], [], []
    for i in range(rows):
        text, ans = _problem(int(templates[i]), int(a[i]), int(b[i]), int(c[i]))
        problems.append(text)
        answers.append(str(ans))
        body = _repeat(int(offsets[i]), int(lengths[i]))
        solutions.append(f"Let's solve this step by step. {body}Therefore, the answer is $\\boxed{{{ans}}}$.")
        rates.append("n/a" if unlabeled[i] else f"{solved[i] / 32:g}")
    kinds = kinds.tolist()
    _plant_duplicates(
        seed,
        block,
        {
            "problem": problems,
            "expected_answer": answers,
            "generated_solution": solutions,
            "problem_type": kinds,
            "pass_rate_72b_tir": rates,
        },
    )
    return pa.table(
        {
            "problem": problems,
            "generated_solution": solutions,
            "expected_answer": answers,
            "problem_type": kinds,
            "pass_rate_72b_tir": rates,
            "inference_mode": ["cot"] * rows,
            "problem_source": ["synthetic"] * rows,
        }
    )


def _repeat(offset: int, length: int) -> str:
    """About ``length`` characters of reasoning, starting and ending on a sentence boundary."""
    text = _FILLER[offset : offset + length]
    while len(text) < length:
        text += _FILLER[: length - len(text)]
    cut = text.rfind(". ")
    return text[: cut + 2] if cut > 0 else text


def generate(rows: int, seed: int = 0) -> Iterator[pa.Table]:
    """The first ``rows`` rows, as Arrow tables of at most BLOCK rows."""
    for block in range(0, (rows + BLOCK - 1) // BLOCK):
        yield _block(seed, block, min(BLOCK, rows - block * BLOCK))


def write_dataset(path: str | Path, rows: int, seed: int = 0, row_group: int = 100_000) -> Path:
    """Write the dataset as .parquet, .jsonl or .json (by extension), atomically."""
    path = Path(path)
    if path.suffix == ".parquet":
        with atomic_path(path) as tmp:
            writer = None
            for table in generate(rows, seed):
                writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=row_group)
            if writer:
                writer.close()
    else:
        write_lines(path, lambda: (dumps_line(r) for t in generate(rows, seed) for r in t.to_pylist()))
    return path


def main(argv: list[str] | None = None) -> None:
    from sftkit import cli

    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True, help=".parquet, .jsonl or .json")
    args = p.parse_args(argv)
    cli.check_writable(args.output)
    print(write_dataset(args.output, args.rows, args.seed))


if __name__ == "__main__":
    from sftkit.cli import run_main

    run_main(main)
