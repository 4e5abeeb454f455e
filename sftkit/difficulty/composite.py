"""The global fit over every item at once: ensemble accuracy, IRT beta, and a composite score.

Two terms, each standardized over the whole dataset (never per shard): z_lp = z(-avg_logprob), how
surprised the primary model is by the gold answer, and z_irt = z(beta), the IRT difficulty from every
ensemble model's correct/total counts. Accuracy enters once, through beta; ensemble_acc is reported
beside it, not added again. Each item gets the terms it has, on one scale:

    both terms      (w_lp * z_lp + w_irt * z_irt), mean removed and divided by its sd over these items
    beta only       z_irt
    log-prob only   z_lp
    neither         null
    difficulty_z = z(the above), over the items that have one

so an item without a log-probability keeps beta's full spread instead of being pulled toward 0. A
term whose weight is 0 counts as absent. An item no model answered (every total 0: its prompt was
too long for all of them) has ensemble_acc, irt_beta and irt_beta_se null and stays out of the IRT
fit: its beta would be the prior's 0, which reads as an ordinary, known difficulty. A (model, item)
cell with total 0 among answered ones carries no information in the fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sftkit.difficulty.irt import fit_irt
from sftkit.errors import InputError


@dataclass(frozen=True)
class Weights:
    logprob: float = 1.0
    irt: float = 1.0


def _z(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return np.where(finite, 0.0, np.nan)
    mean, std = values[finite].mean(), values[finite].std()
    return (values - mean) / (std if std > 0 else 1.0)


def combine(z_lp: np.ndarray, z_irt: np.ndarray, weights: Weights) -> np.ndarray:
    """difficulty_z from the standardized terms (NaN where absent); NaN where an item has neither."""
    lp = np.isfinite(z_lp) & (weights.logprob != 0)
    irt = np.isfinite(z_irt) & (weights.irt != 0)
    both = lp & irt
    mixed = np.full(len(z_lp), np.nan)
    mixed[both] = _z(weights.logprob * z_lp[both] + weights.irt * z_irt[both])
    mixed[irt & ~lp] = z_irt[irt & ~lp]
    mixed[lp & ~irt] = z_lp[lp & ~irt]
    return _z(mixed)


def response_matrix(items: list[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Model names and (models, items) correct/total arrays from each item's ``responses`` map."""
    models = sorted({m for item in items for m in item.get("responses", {})})
    if not models:
        raise InputError("no item has any 'responses': {\"<model>\": [correct, total]} is required for IRT")
    index = {m: k for k, m in enumerate(models)}
    correct = np.zeros((len(models), len(items)))
    total = np.zeros((len(models), len(items)))
    for i, item in enumerate(items):
        for model, pair in item.get("responses", {}).items():
            if not (isinstance(pair, list | tuple) and len(pair) == 2 and 0 <= pair[0] <= pair[1]):
                raise InputError(
                    f"item {item.get('id')!r}: responses[{model!r}] must be [correct, total], got {pair!r}"
                )
            correct[index[model], i], total[index[model], i] = pair
    return models, correct, total


def _value(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def score(
    items: list[dict[str, Any]], weights: Weights = Weights(), irt_model: str = "rasch", prior_sd: float = 2.0
) -> list[dict[str, Any]]:
    """Items with ensemble_acc, irt_beta, irt_beta_se and difficulty_z added (null where unknown);
    other fields kept."""
    _, correct, total = response_matrix(items)
    answered = total.sum(axis=0) > 0
    beta, beta_se, acc = (np.full(len(items), np.nan) for _ in range(3))
    if answered.any():
        fit = fit_irt(correct[:, answered], total[:, answered], irt_model, prior_sd)
        beta[answered], beta_se[answered] = fit.beta, fit.beta_se
        acc[answered] = correct[:, answered].sum(axis=0) / total[:, answered].sum(axis=0)
    logprob = np.array([np.nan if item.get("avg_logprob") is None else float(item["avg_logprob"]) for item in items])
    difficulty = combine(_z(-logprob), _z(beta), weights)
    return [
        {
            **item,
            "ensemble_acc": _value(acc[i]),
            "irt_beta": _value(beta[i]),
            "irt_beta_se": _value(beta_se[i]),
            "difficulty_z": _value(difficulty[i]),
        }
        for i, item in enumerate(items)
    ]
