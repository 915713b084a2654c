"""N21's linear model: TF-IDF over hashed character and morpheme n-grams, then logistic regression.

It is trained beside the network and the two class distributions are averaged. On review and comment
data a linear model over n-grams is as strong as the network (it is the baseline the network is
measured against) and it errs on other rows, so the average beats either one (README, Benchmark).

Features are the n-gram hashes of tasks/n21/ngrams.py (characters within words, morphemes from the
tokenize stage) with the linear model's own sizes (`train.linear`), present or not, weighted by
smoothed idf and L2-normalised per row, as scikit-learn's TfidfTransformer does. scikit-learn fits the
logistic regression; prediction is numpy only, so `hanflow predict` does not import scikit-learn, and
the model directory keeps plain arrays (`linear.npz`, read without pickle): the n-gram ids train kept
(those in at least `min_df` train rows), their idf and the class weights.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np

FILE = "linear.npz"
BUCKETS = 1 << 22  # hash space: collisions among the ~1M distinct n-grams of 30k reviews stay rare
_HASH = "poly64"


def _hashed(texts: Sequence[str], tokens: Sequence[Sequence[str]], char_n, token_n) -> tuple[np.ndarray, np.ndarray]:
    """(row index, n-gram id) of every distinct n-gram of every row."""
    from tasks.n21.ngrams import hashed_ngrams

    column = hashed_ngrams(
        list(texts),
        [list(t) for t in tokens],
        {"buckets": BUCKETS, "char_n": list(char_n), "token_n": list(token_n), "hash": _HASH},
    )
    offsets = column.offsets.to_numpy(zero_copy_only=False)
    ids = column.values.to_numpy(zero_copy_only=False).astype(np.int64)
    return np.repeat(np.arange(len(texts)), np.diff(offsets)), ids


def _weights(model: dict, rows: np.ndarray, ids: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column in the model, tf-idf weight) of the n-grams the model knows, each row L2-normalised."""
    known = model["ids"]
    column = np.searchsorted(known, ids)
    column[column == len(known)] = 0
    hit = known[column] == ids if len(known) else np.zeros(len(ids), bool)
    rows, column = rows[hit], column[hit]
    weight = model["idf"][column].astype(np.float64)
    norm = np.sqrt(np.bincount(rows, weights=weight * weight, minlength=n_rows))
    return rows, column, weight / np.maximum(norm[rows], 1e-12)


def fit_linear(
    texts: Sequence[str], tokens: Sequence[Sequence[str]], label_ids: np.ndarray, num_classes: int, cfg: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The model's arrays, from the train rows: ids, idf, coef [classes, ids], intercept [classes], and its sizes."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(label_ids, dtype=np.int64)
    n = len(texts)
    rows, ids = _hashed(texts, tokens, cfg["char_n"], cfg["token_n"])
    seen, df = np.unique(ids, return_counts=True)
    keep = df >= int(cfg["min_df"])
    model = {
        "ids": seen[keep],
        "idf": (np.log((1 + n) / (1 + df[keep])) + 1).astype(np.float32),
        "char_n": np.asarray(cfg["char_n"], np.int64),
        "token_n": np.asarray(cfg["token_n"], np.int64),
    }
    r, c, w = _weights(model, rows, ids, n)
    features = csr_matrix((w, (r, c)), shape=(n, len(model["ids"])))
    # balanced: each class weighs the same in the loss, so a rare class (hate, a rare intent) is not traded away
    # for the common ones; the dev macro-F1 of both corpora rose by 0.01-0.03 with it.
    class_weight = None if cfg["class_weight"] == "none" else cfg["class_weight"]
    classifier = LogisticRegression(C=float(cfg["C"]), max_iter=2000, class_weight=class_weight).fit(features, labels)
    coef = np.zeros((num_classes, len(model["ids"])), np.float32)
    # A class train never saw can never win: its intercept is far below any logit.
    intercept = np.full(num_classes, -1e4, np.float32)
    classes = classifier.classes_.astype(np.int64)
    if len(classes) == 2:  # one weight vector: logit(classes[1]) - logit(classes[0])
        coef[classes[1]], intercept[classes] = classifier.coef_[0], (0.0, classifier.intercept_[0])
    else:
        coef[classes], intercept[classes] = classifier.coef_, classifier.intercept_
    model.update(coef=coef, intercept=intercept)
    return model


def linear_probabilities(
    model: dict[str, np.ndarray], texts: Sequence[str], tokens: Sequence[Sequence[str]]
) -> np.ndarray:
    """[N, classes] class probabilities (float32)."""
    n, classes = len(texts), len(model["intercept"])
    if n == 0:
        return np.zeros((0, classes), np.float32)
    rows, column, weight = _weights(model, *_hashed(texts, tokens, model["char_n"], model["token_n"]), n)
    logits = (
        np.stack(
            [np.bincount(rows, weights=weight * model["coef"][k, column], minlength=n) for k in range(classes)], axis=1
        )
        + model["intercept"]
    )
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def blend(network: np.ndarray, linear: np.ndarray | None, weight: float) -> np.ndarray:
    """The averaged class distribution: (1 - weight) x network + weight x linear."""
    if linear is None or weight <= 0:
        return network
    return (1.0 - weight) * network + weight * linear


def choose_weight(
    network: np.ndarray, linear: np.ndarray, gold: np.ndarray, metric: str, grid: Sequence[float], prefer: float
) -> tuple[float, dict[str, float]]:
    """The linear model's share that scores best on the dev rows (metric: accuracy | macro_f1), and each share's
    score. Ties go to the share nearest `prefer`: a flat dev curve keeps the configured average."""
    from sklearn.metrics import f1_score

    scores = {}
    for weight in grid:
        pred = blend(network, linear, float(weight)).argmax(axis=1)
        scores[f"{float(weight):g}"] = (
            float((pred == gold).mean())
            if metric == "accuracy"
            else float(f1_score(gold, pred, average="macro", zero_division=0))
        )
    best = max(scores.values())
    chosen = min((float(w) for w, s in scores.items() if s == best), key=lambda w: (abs(w - prefer), w))
    return chosen, scores


def dumps(model: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **model)
    return buffer.getvalue()


def loads(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:  # plain arrays: nothing to unpickle
        return {name: arrays[name] for name in arrays.files}
