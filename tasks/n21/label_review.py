"""N21's label review: out-of-fold class probabilities per row, then the shared cleanlab ranking.

The model is N21's linear model (tasks/n21/linear.py: TF-IDF over hashed n-grams + logistic regression),
fast enough to refit per fold, over two views averaged: the text as words (character n-grams within
words + morpheme n-grams) and the text with its spaces removed (Korean reviews space words freely:
"너무재밌게봤어요"). On NSMC with 10% of the labels flipped the average of the two views, 10 folds, finds
more flips than either view or 5 folds (bench/label_noise.py). The folds, the ranking and the review's
section are tasks/label_review.py's.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from tasks.label_review import folds_for, method_line, one_thread, rank_issues

N21_COLUMNS = (
    "rank",
    "id",
    "text",
    "split",
    "given_label",
    "suggested_label",
    "self_confidence",
    "suggested_confidence",
    "label_quality",
)
# What the review section (tasks/label_review.py review_section) says about N21's rows.
N21_SECTION = {
    "items": "rows",
    "unit": "rows",
    "columns": (
        ("rank", "rank"),
        ("id", "id"),
        ("text", "text", 120),
        ("given", "given_label"),
        ("suggested", "suggested_label"),
        ("self-confidence", "self_confidence"),
    ),
}


def _view(name: str, texts: Sequence[str], tokens: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    if name == "words":
        return list(texts), [list(t) for t in tokens]
    if name == "nospace":
        return ["".join(t.split()) for t in texts], [[] for _ in texts]
    raise ValueError(f"label_review.views: unknown view {name!r}; choose from words, nospace")


def n21_out_of_fold(
    texts: Sequence[str], tokens: Sequence[Sequence[str]], labels: np.ndarray, num_classes: int, cfg: dict[str, Any]
) -> np.ndarray:
    """[N, classes] probabilities, each row's from the linear models trained on the other folds, views averaged."""
    from tasks.n21.linear import fit_linear, linear_probabilities

    labels = np.asarray(labels, np.int64)
    out = np.zeros((len(texts), num_classes))
    linear = {
        "char_n": list(cfg["char_n"]),
        "token_n": list(cfg["token_n"]),
        "min_df": int(cfg["min_df"]),
        "C": float(cfg["C"]),
        "class_weight": "none",
    }
    views = [_view(name, texts, tokens) for name in cfg["views"]]
    for train, held in folds_for(labels, cfg["folds"], cfg["seed"]):
        for view_texts, view_tokens in views:
            with one_thread():
                model = fit_linear(
                    [view_texts[i] for i in train], [view_tokens[i] for i in train], labels[train], num_classes, linear
                )
            out[held] += linear_probabilities(model, [view_texts[i] for i in held], [view_tokens[i] for i in held])
    return out / len(views)


def n21_method(cfg: dict[str, Any]) -> str:
    return method_line(f"the N21 linear model (views {' + '.join(cfg['views'])}, C {cfg['C']})", cfg)


def n21_review(table: pa.Table, classes: list[dict], cfg: dict[str, Any]) -> tuple[pa.Table, dict]:
    """The train and dev rows of an encoded N21 table -> (suspected errors ranked, summary)."""
    import pyarrow.compute as pc

    rows = table.filter(pc.is_in(table.column("split"), pa.array(["train", "dev"])))
    labels = rows.column("label_id").to_numpy().astype(np.int64)
    values = [c["value"] for c in classes]
    summary = {
        "rows": rows.num_rows,
        "method": n21_method(cfg),
        "min_rows": int(cfg["min_rows"]),
        "section": N21_SECTION,
    }
    if rows.num_rows < int(cfg["min_rows"]):
        return pa.table({c: pa.array([], _N21_TYPES[c]) for c in N21_COLUMNS}), {
            **summary,
            "suspected": 0,
            "skipped": True,
            "per_class": [],
        }
    texts = rows.column("text").to_pylist()
    probs = n21_out_of_fold(texts, rows.column("tokens").to_pylist(), labels, len(values), cfg)
    flagged, quality = rank_issues(labels, probs, cfg["rank_by"])
    suggested = probs[flagged].argmax(axis=1)
    out = pa.table(
        {
            "rank": pa.array(np.arange(1, len(flagged) + 1), pa.int32()),
            "id": pc.take(rows.column("id"), pa.array(flagged)),
            "text": pa.array([texts[i] for i in flagged], pa.string()),
            "split": pc.take(rows.column("split"), pa.array(flagged)),
            "given_label": pa.array([values[labels[i]] for i in flagged], pa.string()),
            "suggested_label": pa.array([values[k] for k in suggested], pa.string()),
            "self_confidence": pa.array(probs[flagged, labels[flagged]].round(4), pa.float64()),
            "suggested_confidence": pa.array(probs[flagged, suggested].round(4), pa.float64()),
            "label_quality": pa.array(quality[flagged].round(4), pa.float64()),
        }
    )
    counts = np.bincount(labels, minlength=len(values))
    suspected = np.bincount(labels[flagged], minlength=len(values))
    per_class = [
        {
            "class": c["value"],
            "name": c["name"],
            "rows": int(counts[k]),
            "suspected": int(suspected[k]),
            "share": round(float(suspected[k] / counts[k]), 4) if counts[k] else 0.0,
        }
        for k, c in enumerate(classes)
    ]
    return out, {
        **summary,
        "suspected": len(flagged),
        "skipped": False,
        "per_class": per_class,
        "oof_accuracy": round(float((probs.argmax(axis=1) == labels).mean()), 4),
    }


_N21_TYPES = {
    "rank": pa.int32(),
    "id": pa.string(),
    "text": pa.string(),
    "split": pa.string(),
    "given_label": pa.string(),
    "suggested_label": pa.string(),
    "self_confidence": pa.float64(),
    "suggested_confidence": pa.float64(),
    "label_quality": pa.float64(),
}
