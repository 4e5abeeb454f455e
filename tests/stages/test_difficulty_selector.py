"""selectors/difficulty_selector.py on real scorer output: bands, top-k, quantiles, target bins, the join; and
the scorer's refit from a responses file (--from-responses), loading no model."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_command, simulate_irt
from scipy.stats import spearmanr

pytestmark = pytest.mark.stages

SELECTOR = "selectors/difficulty_selector.py"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """300 synthetic rows, simulated responses of 5 models, scored by the real --from-responses fit."""
    from sftkit.synthetic import write_dataset

    folder = tmp_path_factory.mktemp("select")
    data = write_dataset(folder / "seeds.jsonl", 300, seed=3)
    rng = np.random.default_rng(0)
    theta, beta = np.linspace(-1.5, 1.5, 5), rng.normal(0, 1.5, 300)
    correct = rng.binomial(4, 1 / (1 + np.exp(-(theta[:, None] - beta[None, :]))))
    with open(folder / "responses.jsonl", "w") as fh:
        for i in range(300):
            fh.write(
                json.dumps(
                    {
                        "id": f"seeds-{i}",
                        "avg_logprob": float(-1 - beta[i] + rng.normal(0, 0.5)),
                        "responses": {f"m{m}": [int(correct[m, i]), 4] for m in range(5)},
                    }
                )
                + "\n"
            )
    run_command(
        "hpc/difficulty_scorer.py",
        "--from-responses",
        str(folder / "responses.jsonl"),
        "--output",
        str(folder / "scores.jsonl"),
    )
    return data, folder / "scores.jsonl"


def select(scored: tuple[Path, Path], out: Path, *flags: str) -> list[dict]:
    data, scores = scored
    run_command(SELECTOR, "--scores", str(scores), "--input", str(data), *flags, "--output", str(out))
    return [json.loads(line) for line in out.read_text().splitlines()]


def scores_by_id(scored: tuple[Path, Path]) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, scored[1].read_text().splitlines())}


def test_accuracy_band_keeps_every_original_field(scored: tuple[Path, Path], tmp_path: Path) -> None:
    picked = select(scored, tmp_path / "band.jsonl", "--min-acc", "0.1", "--max-acc", "0.9")
    scores = scores_by_id(scored)
    expected = [i for i, s in scores.items() if 0.1 <= s["ensemble_acc"] <= 0.9]
    assert [r["id"] for r in picked] == expected and 0 < len(picked) < 300
    originals = [json.loads(line) for line in scored[0].read_text().splitlines()]
    for rec in picked:
        row = originals[int(rec["id"].split("-")[1])]
        assert {k: rec[k] for k in row} == row  # problem, solution, answer, pass rate ... all kept
        assert rec["difficulty_z"] == scores[rec["id"]]["difficulty_z"] and "responses" in rec


def test_top_k_and_quantile_range_follow_difficulty_z(scored: tuple[Path, Path], tmp_path: Path) -> None:
    z = {i: s["difficulty_z"] for i, s in scores_by_id(scored).items()}
    top = select(scored, tmp_path / "top.jsonl", "--top-k", "25")
    assert {r["id"] for r in top} == set(sorted(z, key=z.get, reverse=True)[:25])
    harder_half = select(scored, tmp_path / "half.jsonl", "--quantile-range", "0.5", "1")
    median = float(np.median(list(z.values())))
    assert len(harder_half) == 150 and all(r["difficulty_z"] >= median for r in harder_half)


def test_target_distribution_sums_exactly_and_leans_hard(scored: tuple[Path, Path], tmp_path: Path) -> None:
    flags = ("--total-samples", "60", "--num-bins", "4", "--target", "hard", "--min-acc", "0.05")
    picked = select(scored, tmp_path / "hard.jsonl", *flags)
    bins = json.loads((tmp_path / "hard.jsonl.stats.json").read_text())["bins"]
    assert len(picked) == 60 == sum(b["quota"] for b in bins) == sum(b["selected"] for b in bins)
    assert [b["selected"] for b in bins] == sorted(b["selected"] for b in bins) and bins[0]["selected"] < 10
    assert all(r["ensemble_acc"] >= 0.05 for r in picked)
    again = select(scored, tmp_path / "again.jsonl", *flags)
    other = select(scored, tmp_path / "other.jsonl", *flags, "--seed", "7")
    assert again == picked and other != picked
    assert (tmp_path / "hard.difficulty.png").stat().st_size > 1000


def test_scores_from_another_dataset_are_a_named_error(scored: tuple[Path, Path], tmp_path: Path) -> None:
    data, scores = scored
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(scores.read_text().replace('"id":"seeds-5"', '"id":"elsewhere-5"'))
    proc = run_command(
        SELECTOR, "--scores", str(foreign), "--input", str(data), "--output", str(tmp_path / "x.jsonl"), check=False
    )
    assert proc.returncode == 2 and "1 chosen ids are not in --input" in proc.stderr and "elsewhere-5" in proc.stderr
    alone = tmp_path / "alone.jsonl"
    run_command(SELECTOR, "--scores", str(scores), "--top-k", "3", "--output", str(alone))
    assert [set(json.loads(line)) >= {"id", "difficulty_z"} for line in alone.read_text().splitlines()] == [True] * 3


def write_responses(
    path: Path,
    items: int,
    seed: int,
    unanswered: set[int] = frozenset(),
    no_logprob: set[int] = frozenset(),
    partial: set[int] = frozenset(),
) -> np.ndarray:
    """Simulated responses of 5 models (4 samples each); ``unanswered`` items have every total 0 (their
    prompt fit no model), ``partial`` ones only from the first two models. Returns the true betas."""
    rng = np.random.default_rng(seed)
    theta, beta = np.linspace(-1.5, 1.5, 5), rng.normal(0, 1.5, items)
    correct = rng.binomial(4, 1 / (1 + np.exp(-(theta[:, None] - beta[None, :]))))
    with open(path, "w") as fh:
        for i in range(items):
            pairs = {
                f"m{m}": [0, 0] if i in unanswered or (i in partial and m >= 2) else [int(correct[m, i]), 4]
                for m in range(5)
            }
            lp = None if i in no_logprob else float(-1 - beta[i] + rng.normal(0, 0.5))
            fh.write(json.dumps({"id": f"seeds-{i}", "avg_logprob": lp, "responses": pairs}) + "\n")
    return beta


def test_items_no_model_answered_are_null_left_out_of_the_fit_and_never_selected(tmp_path: Path) -> None:
    unanswered, partial = {3, 50, 120}, {7, 8}
    write_responses(tmp_path / "r.jsonl", 200, seed=4, unanswered=unanswered | {199}, partial=partial, no_logprob={199})
    proc = run_command(
        "hpc/difficulty_scorer.py", "--from-responses", str(tmp_path / "r.jsonl"), "--output", str(tmp_path / "s.jsonl")
    )
    scored = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    for i in unanswered | {199}:
        assert scored[i]["ensemble_acc"] is scored[i]["irt_beta"] is scored[i]["irt_beta_se"] is None
    assert all(isinstance(scored[i]["difficulty_z"], float) for i in unanswered)  # from the log-probability
    assert scored[199]["difficulty_z"] is None  # no log-probability either
    for i in partial:  # a cell with total 0 only carries no information; the other models' answers count
        pairs = scored[i]["responses"]
        assert scored[i]["ensemble_acc"] == (pairs["m0"][0] + pairs["m1"][0]) / 8 and scored[i]["irt_beta"] is not None
    # left out of the fit: the answered items' betas are those of a fit without the unanswered lines
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    (tmp_path / "answered.jsonl").write_text(
        "".join(f"{line}\n" for i, line in enumerate(lines) if i not in unanswered | {199})
    )
    run_command(
        "hpc/difficulty_scorer.py",
        "--from-responses",
        str(tmp_path / "answered.jsonl"),
        "--output",
        str(tmp_path / "a.jsonl"),
    )
    alone = [json.loads(line)["irt_beta"] for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["irt_beta"] for r in scored if r["irt_beta"] is not None] == pytest.approx(alone, abs=1e-6)
    stats = json.loads((tmp_path / "s.jsonl.stats.json").read_text())
    answered_acc = [r["ensemble_acc"] for r in scored if r["ensemble_acc"] is not None]
    assert stats["unanswered"] == 4 and stats["no_difficulty_z"] == 1
    assert stats["ensemble_acc_mean"] == pytest.approx(np.mean(answered_acc))
    assert stats["irt_beta_range"] == [min(alone), max(alone)]
    assert "unanswered items" in proc.stdout and "per model" in proc.stdout

    hard = tmp_path / "hard.jsonl"
    out = run_command(SELECTOR, "--scores", str(tmp_path / "s.jsonl"), "--max-acc", "0.1", "--output", str(hard))
    picked = {json.loads(line)["id"] for line in hard.read_text().splitlines()}
    assert picked == {r["id"] for r in scored if r["ensemble_acc"] is not None and r["ensemble_acc"] <= 0.1}
    assert picked and not picked & {f"seeds-{i}" for i in unanswered | {199}}
    selected = json.loads((tmp_path / "hard.jsonl.stats.json").read_text())
    assert selected["unanswered"] == 4 and selected["no_difficulty_z"] == 0
    assert "unanswered (accuracy unknown)" in out.stdout

    # an answered item without a difficulty_z is skipped too, and counted on its own
    scored[10]["difficulty_z"] = None
    (tmp_path / "holes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in scored))
    run_command(
        SELECTOR,
        "--scores",
        str(tmp_path / "holes.jsonl"),
        "--quantile-range",
        "0",
        "1",
        "--output",
        str(tmp_path / "all.jsonl"),
    )
    kept = {json.loads(line)["id"] for line in (tmp_path / "all.jsonl").read_text().splitlines()}
    assert len(kept) == 195 and "seeds-10" not in kept
    assert json.loads((tmp_path / "all.jsonl.stats.json").read_text())["no_difficulty_z"] == 1


def test_items_without_a_logprob_keep_the_spread_of_beta(tmp_path: Path) -> None:
    """Half the items lack avg_logprob; their difficulty_z must not be squeezed toward 0."""
    beta = write_responses(tmp_path / "r.jsonl", 400, seed=6, no_logprob=set(range(0, 400, 2)))
    run_command(
        "hpc/difficulty_scorer.py", "--from-responses", str(tmp_path / "r.jsonl"), "--output", str(tmp_path / "s.jsonl")
    )
    z = np.array([json.loads(line)["difficulty_z"] for line in (tmp_path / "s.jsonl").read_text().splitlines()])
    beta_only, full = z[0::2], z[1::2]
    print(f"\nsd of difficulty_z: beta-only {beta_only.std():.3f}, full {full.std():.3f}")
    assert 0.85 < beta_only.std() / full.std() < 1.15
    assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0)
    assert np.corrcoef(beta_only, beta[0::2])[0, 1] > 0.8 and np.corrcoef(full, beta[1::2])[0, 1] > 0.8


def test_negative_weights_are_refused(tmp_path: Path) -> None:
    write_responses(tmp_path / "r.jsonl", 20, seed=1)
    proc = run_command(
        "hpc/difficulty_scorer.py",
        "--from-responses",
        str(tmp_path / "r.jsonl"),
        "--irt-weight",
        "-1",
        "--output",
        str(tmp_path / "s.jsonl"),
        check=False,
    )
    assert proc.returncode == 2 and "must be >= 0" in proc.stderr and not (tmp_path / "s.jsonl").exists()


def test_refit_from_responses_carries_fields_and_scores_every_item(tmp_path: Path) -> None:
    correct, total, beta = simulate_irt(models=4, samples=4, items=300, seed=5)
    path = tmp_path / "responses.jsonl"
    with open(path, "w") as fh:
        for i in range(300):
            responses = {f"m{m}": [int(correct[m, i]), int(total[m, i])] for m in range(4)}
            lp = None if i % 10 == 0 else float(-beta[i] + np.random.default_rng(i).normal(0, 0.3))
            fh.write(json.dumps({"id": f"q{i}", "question": f"Q{i}", "responses": responses, "avg_logprob": lp}) + "\n")
    run_command("hpc/difficulty_scorer.py", "--from-responses", str(path), "--output", str(tmp_path / "s.jsonl"))
    scored = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["id"] for r in scored] == [f"q{i}" for i in range(300)] and scored[0]["question"] == "Q0"
    z = np.array([r["difficulty_z"] for r in scored])
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9  # standardized over the whole dataset
    assert spearmanr(z, beta).statistic > 0.9
    assert all(0 <= r["ensemble_acc"] <= 1 and r["irt_beta_se"] > 0 for r in scored)
    assert (tmp_path / "s.difficulty.png").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "responses": {"m": [5, 4]}}\n')
    proc = run_command(
        "hpc/difficulty_scorer.py", "--from-responses", str(bad), "--output", str(tmp_path / "b.jsonl"), check=False
    )
    assert proc.returncode == 2 and "must be [correct, total]" in proc.stderr
