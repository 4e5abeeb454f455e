"""IRT: parameter recovery on simulated data, agreement with girth, finite estimates at the extremes."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from sftkit.difficulty.irt import fit_irt


def simulate(models: int, samples: int, items: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = np.linspace(-2, 2, models)
    beta = rng.normal(0, 1.5, items)
    p = 1 / (1 + np.exp(-(theta[:, None] - beta[None, :])))
    return rng.binomial(samples, p), np.full((models, items), samples), beta


def test_rasch_recovers_item_difficulty() -> None:
    correct, total, beta = simulate(models=8, samples=4, items=2000, seed=0)
    fit = fit_irt(correct, total)
    rho = spearmanr(fit.beta, beta).statistic
    print(f"\nRasch recovery, 8 models x 4 samples x 2000 items: Spearman {rho:.3f}")
    assert fit.converged and rho >= 0.95
    assert np.all(np.diff(fit.theta) > 0)  # abilities come back in order
    assert np.all(np.isfinite(fit.beta)) and np.all(fit.beta_se > 0)


def test_two_pl_also_recovers_difficulty() -> None:
    correct, total, beta = simulate(models=8, samples=4, items=1000, seed=1)
    fit = fit_irt(correct, total, model="2pl")
    assert spearmanr(fit.beta, beta).statistic >= 0.93 and fit.discrimination.std() > 0


def test_all_right_and_all_wrong_items_stay_finite_and_ordered() -> None:
    correct = np.array([[4, 0, 2], [4, 0, 3], [4, 0, 1]])
    fit = fit_irt(correct, np.full((3, 3), 4))
    assert np.all(np.isfinite(fit.beta)) and fit.beta[0] < fit.beta[2] < fit.beta[1]
    assert fit.beta_se[0] > fit.beta_se[2]  # extreme items are the least certain


def test_agrees_with_girth_rasch_on_binary_data() -> None:
    girth = pytest.importorskip("girth", reason="girth is the reference Rasch implementation (test extra)")
    rng = np.random.default_rng(3)
    theta, beta = rng.normal(0, 1, 300), rng.normal(0, 1, 200)
    responses = rng.random((300, 200)) < 1 / (1 + np.exp(-(theta[:, None] - beta[None, :])))
    ours = fit_irt(responses.astype(int), np.ones_like(responses, dtype=int), prior_sd=10.0)
    theirs = girth.rasch_mml(responses.T.astype(int))
    theirs = theirs["Difficulty"] if isinstance(theirs, dict) else theirs
    r = pearsonr(ours.beta, theirs).statistic
    print(f"\nagreement with girth.rasch_mml on 300 x 200 binary responses: Pearson {r:.4f}")
    assert r >= 0.98


def test_refit_from_responses_carries_fields_and_scores_every_item(tmp_path) -> None:
    import json

    from conftest import run_script

    correct, total, beta = simulate(models=4, samples=4, items=300, seed=5)
    path = tmp_path / "responses.jsonl"
    with open(path, "w") as fh:
        for i in range(300):
            responses = {f"m{m}": [int(correct[m, i]), int(total[m, i])] for m in range(4)}
            lp = None if i % 10 == 0 else float(-beta[i] + np.random.default_rng(i).normal(0, 0.3))
            fh.write(json.dumps({"id": f"q{i}", "question": f"Q{i}", "responses": responses, "avg_logprob": lp})
                     + "\n")
    run_script("hpc/difficulty_scorer.py", "--from-responses", str(path), "--output", str(tmp_path / "s.jsonl"))
    scored = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["id"] for r in scored] == [f"q{i}" for i in range(300)] and scored[0]["question"] == "Q0"
    z = np.array([r["difficulty_z"] for r in scored])
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9  # standardized over the whole dataset
    assert spearmanr(z, beta).statistic > 0.9
    assert all(0 <= r["ensemble_acc"] <= 1 and r["irt_beta_se"] > 0 for r in scored)
    assert (tmp_path / "s.difficulty.png").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "responses": {"m": [5, 4]}}\n')
    proc = run_script("hpc/difficulty_scorer.py", "--from-responses", str(bad), "--output",
                      str(tmp_path / "b.jsonl"), check=False)
    assert proc.returncode == 2 and "must be [correct, total]" in proc.stderr
