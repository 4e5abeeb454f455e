"""IRT: parameter recovery on simulated data, agreement with girth, finite estimates at the extremes."""

import numpy as np
import pytest
from helpers import simulate_irt
from scipy.stats import pearsonr, spearmanr

from sftkit.difficulty.irt import fit_irt

pytestmark = pytest.mark.unit


def test_rasch_recovers_item_difficulty() -> None:
    correct, total, beta = simulate_irt(models=8, samples=4, items=2000, seed=0)
    fit = fit_irt(correct, total)
    rho = spearmanr(fit.beta, beta).statistic
    print(f"\nRasch recovery, 8 models x 4 samples x 2000 items: Spearman {rho:.3f}")
    assert fit.converged and rho >= 0.95
    assert np.all(np.diff(fit.theta) > 0)  # abilities come back in order
    assert np.all(np.isfinite(fit.beta)) and np.all(fit.beta_se > 0)


def test_two_pl_also_recovers_difficulty() -> None:
    correct, total, beta = simulate_irt(models=8, samples=4, items=1000, seed=1)
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


def test_a_cell_with_total_zero_carries_no_information() -> None:
    correct, total, _ = simulate_irt(models=4, samples=4, items=200, seed=7)
    base = fit_irt(correct, total)
    # a model that answered nothing changes no beta, and its ability stays at the prior's 0
    silent = fit_irt(np.vstack([correct, np.zeros(200)]), np.vstack([total, np.zeros(200)]))
    assert silent.beta == pytest.approx(base.beta, abs=1e-6) and silent.theta[-1] == 0
    # one item answered by only two models: a finite beta from their answers, a wider standard error
    total[2:, 0], correct[2:, 0] = 0, 0
    partial = fit_irt(correct, total)
    assert np.isfinite(partial.beta[0]) and partial.beta_se[0] > base.beta_se[0]
    # no model at all: the prior alone (beta 0, se = prior sd), which is why the composite leaves it out
    total[:, 0], correct[:, 0] = 0, 0
    none = fit_irt(correct, total, prior_sd=2.0)
    assert none.beta[0] == pytest.approx(0, abs=1e-6) and none.beta_se[0] == pytest.approx(2.0)


def test_each_availability_group_gets_its_own_terms_on_one_scale() -> None:
    from sftkit.difficulty.composite import Weights, combine

    rng = np.random.default_rng(8)
    z_lp, z_irt = rng.normal(0, 1, 8), rng.normal(0, 1, 8)
    z_lp[[4, 5]], z_irt[[6, 7]], z_lp[7] = np.nan, np.nan, np.nan  # 0-3 both, 4-5 beta only, 6 lp only, 7 none
    out = combine(z_lp, z_irt, Weights(1.0, 2.0))
    mixed = z_lp[:4] + 2 * z_irt[:4]
    d = np.concatenate([(mixed - mixed.mean()) / mixed.std(), z_irt[4:6], z_lp[6:7]])
    assert out[:7] == pytest.approx((d - d.mean()) / d.std()) and np.isnan(out[7])
    no_lp = combine(z_lp, z_irt, Weights(0.0, 1.0))  # a weight of 0 makes its term absent
    assert np.isnan(no_lp[6:]).all() and no_lp[:6] == pytest.approx(combine(np.full(8, np.nan), z_irt, Weights())[:6])
