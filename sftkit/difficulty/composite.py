"""The global fit over every item at once: ensemble accuracy, IRT beta, and a composite score.

    difficulty_z = z( w_lp * z(-avg_logprob) + w_irt * z(beta) )

where z() standardizes over the whole dataset (never per shard). -avg_logprob is how surprised the
primary model is by the gold answer; beta is the IRT difficulty from every ensemble model's
correct/total counts. Accuracy enters once, through beta; ensemble_acc is reported beside it, not
added again. An item without a log-probability uses the beta term alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sftkit.data.errors import InputError
from sftkit.difficulty.irt import fit_irt


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
                raise InputError(f"item {item.get('id')!r}: responses[{model!r}] must be [correct, total], "
                                 f"got {pair!r}")
            correct[index[model], i], total[index[model], i] = pair
    return models, correct, total


def score(items: list[dict[str, Any]], weights: Weights = Weights(), irt_model: str = "rasch",
          prior_sd: float = 2.0) -> list[dict[str, Any]]:
    """Items with ensemble_acc, irt_beta, irt_beta_se and difficulty_z added; other fields kept."""
    _, correct, total = response_matrix(items)
    fit = fit_irt(correct, total, irt_model, prior_sd)
    acc = correct.sum(axis=0) / np.maximum(total.sum(axis=0), 1)
    logprob = np.array([np.nan if item.get("avg_logprob") is None else float(item["avg_logprob"]) for item in items])
    z_lp, z_irt = _z(-logprob), _z(fit.beta)
    mixed = np.where(np.isfinite(z_lp), weights.logprob * z_lp + weights.irt * z_irt, weights.irt * z_irt)
    difficulty = _z(mixed)
    return [{**item, "ensemble_acc": float(acc[i]), "irt_beta": float(fit.beta[i]),
             "irt_beta_se": float(fit.beta_se[i]), "difficulty_z": float(difficulty[i])}
            for i, item in enumerate(items)]
