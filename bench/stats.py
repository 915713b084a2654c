"""The benchmark's statistics: mean ± sd over seeds, and paired bootstrap intervals of a model's gain over its
baseline on the same test set.

A system's outputs on a test set are a matrix of per-unit sufficient statistics, one row per test unit (a
row's correct flag and per-class counts, a block's chrF n-gram counts, a sentence's entity tp/fp/fn or head
hits). A resampled test set is then a count-weighted sum of those rows, and every metric is a function of
summed statistics: corpus-level metrics (macro-F1, chrF, entity F1) are recomputed exactly per replicate,
never approximated by averaging per-unit scores. Pure functions on numpy arrays.
"""

from __future__ import annotations

import statistics
from typing import Callable, Hashable, Sequence

import numpy as np

REPLICATES = 1000
BOOTSTRAP_SEED = 12345  # fixed: the same results give the same interval on every run
CHRF_BETA = 2.0  # sacrebleu's default chrF (character 6-grams, beta 2), the product's chrF


# ---------------------------------------------------------------- per-unit statistics


def classification_stats(gold: Sequence[int], pred: Sequence[int], classes: int) -> np.ndarray:
    """[n, 1 + 3K] per row: correct, then per class the true positive, gold and predicted indicators."""
    gold, pred = np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    eye = np.eye(classes)
    g, p = eye[gold], eye[pred]
    return np.hstack([(gold == pred)[:, None].astype(float), g * p, g, p])


def entity_stats(gold: Sequence[Sequence[tuple]], pred: Sequence[Sequence[tuple]]) -> np.ndarray:
    """[n, 3] per sentence: true positive, false positive and false negative entity spans (exact span and type)."""
    rows = []
    for g, p in zip(gold, pred):
        g, p = set(map(tuple, g)), set(map(tuple, p))
        rows.append((len(g & p), len(p - g), len(g - p)))
    return np.asarray(rows, dtype=float).reshape(-1, 3)


def attachment_stats(
    gold_heads: Sequence[Sequence[int]],
    pred_heads: Sequence[Sequence[int]],
    gold_rels: Sequence[Sequence[str]] | None = None,
    pred_rels: Sequence[Sequence[str]] | None = None,
) -> np.ndarray:
    """[n, 3] per sentence: words, words with the right head, words with the right head and relation (0 when
    no relations are given: a baseline that predicts heads only)."""
    rows = []
    for k, (gh, ph) in enumerate(zip(gold_heads, pred_heads)):
        hits = [int(a) == int(b) for a, b in zip(gh, ph)]
        labelled = (
            0
            if gold_rels is None or pred_rels is None
            else sum(h and a == b for h, a, b in zip(hits, gold_rels[k], pred_rels[k]))
        )
        rows.append((len(gh), sum(hits), labelled))
    return np.asarray(rows, dtype=float).reshape(-1, 3)


def chrf_stats(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """[n, 3 x 6] per sentence: sacrebleu's chrF statistics (hypothesis, reference and matched character
    n-grams for n = 1..6) on whitespace-normalized text, as the product scores it. sacrebleu extracts
    them for its own paired significance tests."""
    from sacrebleu.metrics import CHRF

    hyps = [" ".join(h.split()) for h in hypotheses]
    refs = [" ".join(r.split()) for r in references]
    return np.asarray(CHRF()._extract_corpus_statistics(hyps, [refs]), dtype=float).reshape(len(hyps), -1)


# ---------------------------------------------------------------- metrics of summed statistics [..., d] -> [...]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def accuracy(sums: np.ndarray) -> np.ndarray:
    k = (sums.shape[-1] - 1) // 3
    return _ratio(sums[..., 0], sums[..., 1 + k : 1 + 2 * k].sum(-1))


def macro_f1(sums: np.ndarray) -> np.ndarray:
    """Mean F1 over every class (one absent from the sample and never predicted counts 0, as sklearn's
    zero_division=0 over all the schema's labels)."""
    k = (sums.shape[-1] - 1) // 3
    tp, gold, pred = sums[..., 1 : 1 + k], sums[..., 1 + k : 1 + 2 * k], sums[..., 1 + 2 * k :]
    return _ratio(2 * tp, gold + pred).mean(-1)


def entity_f1(sums: np.ndarray) -> np.ndarray:
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    return _ratio(2 * tp, 2 * tp + fp + fn)


def uas(sums: np.ndarray) -> np.ndarray:
    return _ratio(sums[..., 1], sums[..., 0])


def las(sums: np.ndarray) -> np.ndarray:
    return _ratio(sums[..., 2], sums[..., 0])


def chrf(sums: np.ndarray, beta: float = CHRF_BETA) -> np.ndarray:
    """chrF (0-100) from summed n-gram statistics, as sacrebleu computes it: precision and recall averaged
    over the orders both sides have, then their F-beta."""
    s = sums.reshape(*sums.shape[:-1], -1, 3)
    hyp, ref, match = s[..., 0], s[..., 1], s[..., 2]
    both = (hyp > 0) & (ref > 0)
    orders = both.sum(-1)
    precision = _ratio(np.where(both, _ratio(match, hyp), 0).sum(-1), orders)
    recall = _ratio(np.where(both, _ratio(match, ref), 0).sum(-1), orders)
    factor = beta**2
    return 100 * _ratio((1 + factor) * precision * recall, factor * precision + recall)


METRICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "accuracy": accuracy,
    "macro_f1": macro_f1,
    "f1": entity_f1,
    "chrf": chrf,
    "uas": uas,
    "las": las,
}


def score(stats: np.ndarray, metric: str) -> float:
    return float(METRICS[metric](stats.sum(axis=0)))


# ---------------------------------------------------------------- test units and resampling


def unit_sums(stats: np.ndarray, units: Sequence[Hashable]) -> tuple[list, np.ndarray]:
    """Rows of `stats` summed per test unit (e.g. the 20-row block each row came from): (unit keys in sorted
    order, [units, d]). Resampling these rows keeps every unit's rows together."""
    keys = sorted(set(units), key=str)
    where = {key: i for i, key in enumerate(keys)}
    out = np.zeros((len(keys), stats.shape[1]))
    np.add.at(out, [where[u] for u in units], stats)
    return keys, out


def resample_counts(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """[replicates, n]: how often each of n units is drawn in each bootstrap replicate (n draws with
    replacement)."""
    draws = rng.integers(0, n, size=(replicates, n))
    offsets = (np.arange(replicates)[:, None] * n + draws).ravel()
    return np.bincount(offsets, minlength=replicates * n).reshape(replicates, n).astype(float)


def _gains(model: np.ndarray, baseline: np.ndarray, metric: str, weights: np.ndarray) -> np.ndarray:
    fn = METRICS[metric]
    return fn(weights @ model) - fn(weights @ baseline)


def _interval(point: float, gains: np.ndarray) -> dict:
    low, high = np.percentile(gains, [2.5, 97.5])
    return {"gain": point, "low": float(low), "high": float(high), "beats_baseline": bool(low > 0)}


def _check_paired(model: np.ndarray, baseline: np.ndarray) -> None:
    if model.shape[0] != baseline.shape[0] or model.shape[0] == 0:
        raise ValueError(
            f"paired bootstrap needs the same non-empty test units for both systems "
            f"({model.shape[0]} and {baseline.shape[0]} units)"
        )


def paired_bootstrap(
    model: np.ndarray, baseline: np.ndarray, metric: str, replicates: int = REPLICATES, seed: int = BOOTSTRAP_SEED
) -> dict:
    """The gain (model - baseline) on `metric` and its 95% percentile interval: both systems' unit statistics
    ([units, d], row k of each = the same test unit) are resampled with the same draws."""
    _check_paired(model, baseline)
    weights = resample_counts(model.shape[0], replicates, np.random.default_rng(seed))
    point = score(model, metric) - score(baseline, metric)
    return _interval(point, _gains(model, baseline, metric, weights))


def mean_gain_interval(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    metric: str,
    shared: bool = False,
    replicates: int = REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> dict:
    """The mean over seeds of the gain and its 95% interval: each replicate resamples every seed's test set
    and averages the seeds' gains. `shared`: the seeds were scored on the same test units (a fixed test
    file), which one set of draws then resamples for all of them; else each seed's carved test set is
    resampled on its own."""
    rng = np.random.default_rng(seed)
    total = np.zeros(replicates)
    weights = None
    for model, baseline in pairs:
        _check_paired(model, baseline)
        if weights is None or not shared:
            weights = resample_counts(model.shape[0], replicates, rng)
        elif weights.shape[1] != model.shape[0]:
            raise ValueError("shared test units: every seed must have the same units")
        total += _gains(model, baseline, metric, weights)
    point = statistics.fmean(score(m, metric) - score(b, metric) for m, b in pairs)
    return {**_interval(point, total / len(pairs)), "seeds": len(pairs)}


def mean_sd(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation (None for a single value) over seeds."""
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values),
    }
