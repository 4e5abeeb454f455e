"""Item response theory over all items at once: Rasch (1PL) by default, 2PL optional.

Responses are binomial: model m answered item i correctly k[m, i] times out of n[m, i]. The
probability of a correct answer is sigmoid(a_i * (theta_m - beta_i)); a_i = 1 for Rasch. The fit is
a MAP estimate with normal priors (theta ~ N(0, 1), beta ~ N(0, prior_sd^2), log a ~ N(0, 0.5^2)),
so items every model solved, or none did, still get a finite beta, and the theta prior pins the
scale's origin. The standard error of each beta is the inverse square root of its posterior
curvature. Accuracy is used once, through the likelihood: no logit of accuracy on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit


@dataclass
class IRTFit:
    beta: np.ndarray  # item difficulty
    beta_se: np.ndarray
    theta: np.ndarray  # model ability
    discrimination: np.ndarray  # a_i (all ones for Rasch)
    converged: bool


def fit_irt(
    correct: np.ndarray, total: np.ndarray, model: str = "rasch", prior_sd: float = 2.0, max_iter: int = 500
) -> IRTFit:
    """Fit ``correct``/``total`` arrays of shape (models, items); a zero total means no response."""
    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(total, dtype=np.float64)
    if k.shape != n.shape or k.ndim != 2:
        raise ValueError("correct and total must both be (models, items) arrays")
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= correct <= total")
    n_models, n_items = k.shape
    two_pl = model == "2pl"

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        theta, beta = x[:n_models], x[n_models : n_models + n_items]
        log_a = x[n_models + n_items :] if two_pl else np.zeros(n_items)
        return theta, beta, log_a

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta, beta, log_a = unpack(x)
        a = np.exp(log_a)
        z = a * (theta[:, None] - beta[None, :])
        loglik = k * log_expit(z) + (n - k) * log_expit(-z)
        resid = k - n * expit(z)  # d loglik / d z
        value = -loglik.sum() + 0.5 * (theta @ theta) + 0.5 * (beta @ beta) / prior_sd**2
        g_theta = -(resid * a).sum(axis=1) + theta
        g_beta = (resid * a).sum(axis=0) + beta / prior_sd**2
        grads = [g_theta, g_beta]
        if two_pl:
            value += 0.5 * (log_a @ log_a) / 0.25
            grads.append(-(resid * z).sum(axis=0) + log_a / 0.25)
        return value, np.concatenate(grads)

    start = np.zeros(n_models + n_items + (n_items if two_pl else 0))
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    theta, beta, log_a = unpack(result.x)
    a = np.exp(log_a)
    p = expit(a * (theta[:, None] - beta[None, :]))
    info = (n * p * (1 - p) * a**2).sum(axis=0) + 1 / prior_sd**2
    return IRTFit(beta, 1 / np.sqrt(info), theta, a, bool(result.success))
