"""Label review: rows whose label is probably wrong, ranked, for a person to look at. It never changes a label.

Confident learning (cleanlab): every train and dev row gets class probabilities from a model that never saw
it (k-fold, seeded), and rows whose given label the model finds least likely, in a way the per-class noise
estimates single out, are flagged and ranked. This module holds what every problem type's review shares:
the folds, the ranking, the method line and the review's Markdown section for the class design review. The
models, and the words the section uses for them, are each problem type's own (tasks/<problem>/label_review.py),
and fast, so the stage reruns with the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa


def folds_for(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) index pairs: stratified when every class has a row per fold, else plain k-fold."""
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = max(2, min(int(folds), len(labels)))
    counts = np.bincount(labels)
    smallest = counts[counts > 0].min() if counts.any() else 0
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if smallest >= folds
        else KFold(folds, shuffle=True, random_state=seed)
    )
    return list(splitter.split(np.zeros(len(labels)), labels))


def one_thread():
    """BLAS on one thread: on a busy 2-core machine a multi-threaded lbfgs fit ran ~15x slower."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _compact(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Only the classes the rows hold (cleanlab needs each class it is given to occur): labels renumbered,
    probabilities renormalised over those classes, and the kept class ids."""
    present = np.unique(labels)
    remap = np.full(probs.shape[1], -1)
    remap[present] = np.arange(len(present))
    kept = probs[:, present]
    kept = kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-12)
    return remap[labels], kept, present


def rank_issues(
    labels: np.ndarray, probs: np.ndarray, rank_by: str = "self_confidence"
) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the flagged rows, most likely errors first; every row's label quality score) via cleanlab."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    compact, kept, _ = _compact(labels, probs)
    if kept.shape[1] < 2:
        return np.zeros(0, np.int64), np.ones(len(labels))
    quality = get_label_quality_scores(compact, kept, method=rank_by)
    flagged = find_label_issues(compact, kept, return_indices_ranked_by=rank_by, n_jobs=1)
    return np.asarray(flagged, np.int64), quality


def method_line(model: str, cfg: dict[str, Any]) -> str:
    """The summary's `method`: `model` is the problem type's own description of its out-of-fold model."""
    return (
        f"out-of-fold probabilities from {model}, {cfg['folds']} folds (seed {cfg['seed']}), ranked by "
        f"cleanlab ({cfg['rank_by']})"
    )


# ---------------------------------------------------------------- the class review's section


def review_section(summary: dict, table: pa.Table, top: int, corrections: list[str]) -> str:
    """Markdown for the class design review: what was checked, per-class counts, the top suspects, corrections.

    What differs by problem type comes with the summary its review wrote: `method` (method_line) and `section`:
    `items` (what `rows` counts), `unit` (what a class's count counts) and `columns`, the top suspects' table as
    [header, column] or [header, column, characters shown] (numbers right-aligned, floats to 3 places)."""
    from tasks.class_review import _table

    words = summary["section"]
    lines = ["## Suspected label errors", ""]
    if summary.get("skipped"):
        lines += [
            f"Not computed: {summary['rows']} train+dev {words['items']}, under "
            f"label_review.min_rows = {summary['min_rows']}."
        ]
    else:
        lines += [
            f"{summary['suspected']} suspected among {summary['rows']} train+dev {words['items']}: "
            f"{summary['method']}. No label was changed; a person decides (`hanflow label export`, then "
            "`hanflow label import`). All of them: `label_review.parquet`.",
            "",
        ]
        lines += _table(
            ["class", words["unit"], "suspected", "share"],
            [
                [
                    c["name"] if c["name"] == c["class"] else f"{c['name']} (`{c['class']}`)",
                    c["rows"],
                    c["suspected"],
                    f"{c['share']:.1%}",
                ]
                for c in summary["per_class"]
            ],
            right=(1, 2, 3),
        )
        shown = table.slice(0, top).to_pylist()
        if shown:
            columns = [(spec[0], spec[1], spec[2] if len(spec) > 2 else None) for spec in words["columns"]]
            numeric = [
                i
                for i, (_, column, _) in enumerate(columns)
                if pa.types.is_integer(table.schema.field(column).type)
                or pa.types.is_floating(table.schema.field(column).type)
            ]
            lines += ["", f"Top {len(shown)}:", ""]
            lines += _table(
                [header for header, _, _ in columns],
                [[_shown(r[column], chars) for _, column, chars in columns] for r in shown],
                right=numeric,
            )
    lines += ["", "## Label corrections in this data version", "", *corrections]
    return "\n".join(lines) + "\n"


def _shown(value: Any, chars: int | None) -> Any:
    if isinstance(value, float):
        return f"{value:.3f}"
    return value[:chars] if chars is not None else value
