"""Label review: rows whose label is probably wrong, ranked, for a person to look at. It never changes a label.

Confident learning (cleanlab): every train and dev row gets class probabilities from a model that never saw
it (k-fold, seeded), and rows whose given label the model finds least likely, in a way the per-class noise
estimates single out, are flagged and ranked. Fast models, so the stage reruns with the data:

- N21: the N21 linear model (tasks/n21/linear.py: TF-IDF over hashed n-grams + logistic regression)
  over two views averaged, the text as words (character n-grams within words + morpheme n-grams) and the
  text with its spaces removed (Korean reviews space words freely: "너무재밌게봤어요"). On NSMC with 10% of
  the labels flipped the average of the two views, 10 folds, finds more flips than either view or 5 folds
  (bench/label_noise.py).
- N2N: a logistic regression per syllable over its neighbourhood (syllables, morpheme, POS, word
  boundaries), then cleanlab.token_classification; consecutive flagged syllables are one suspected span.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

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
N2N_COLUMNS = (
    "rank",
    "id",
    "text",
    "split",
    "start",
    "end",
    "span",
    "given_tags",
    "suggested_tags",
    "self_confidence",
    "sentence_quality",
)


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


def n21_review(table: pa.Table, classes: list[dict], cfg: dict[str, Any]) -> tuple[pa.Table, dict]:
    """The train and dev rows of an encoded N21 table -> (suspected errors ranked, summary)."""
    import pyarrow.compute as pc

    rows = table.filter(pc.is_in(table.column("split"), pa.array(["train", "dev"])))
    labels = rows.column("label_id").to_numpy().astype(np.int64)
    values = [c["value"] for c in classes]
    summary = {"rows": rows.num_rows, "method": method_line(cfg, "n21"), "min_rows": int(cfg["min_rows"])}
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
_N2N_TYPES = {
    "rank": pa.int32(),
    "id": pa.string(),
    "text": pa.string(),
    "split": pa.string(),
    "start": pa.int32(),
    "end": pa.int32(),
    "span": pa.string(),
    "given_tags": pa.string(),
    "suggested_tags": pa.string(),
    "self_confidence": pa.float64(),
    "sentence_quality": pa.float64(),
}


def method_line(cfg: dict[str, Any], problem: str) -> str:
    model = (
        f"the N21 linear model (views {' + '.join(cfg['views'])}, C {cfg['C']})"
        if problem == "n21"
        else f"a per-syllable logistic regression (window ±{cfg['window']}, C {cfg['C']})"
    )
    return (
        f"out-of-fold probabilities from {model}, {cfg['folds']} folds (seed {cfg['seed']}), ranked by "
        f"cleanlab ({cfg['rank_by']})"
    )


# ---------------------------------------------------------------- N2N: syllables


def syllable_features(
    chars: list[str], morphs: list[str], pos: list[str], boundary: list[int], window: int
) -> list[list[str]]:
    """String features of each syllable: itself and its neighbours, bigrams, its morpheme, POS and boundary."""
    n = len(chars)

    def at(seq: list, i: int, pad: str) -> str:
        return str(seq[i]) if 0 <= i < n else pad

    out = []
    for i in range(n):
        feats = [
            f"c={chars[i]}",
            f"m={morphs[i]}",
            f"p={pos[i]}",
            f"b={boundary[i]}",
            f"p-1={at(pos, i - 1, '<s>')}",
            f"p+1={at(pos, i + 1, '</s>')}",
            f"b+1={at(boundary, i + 1, 0)}",
            f"cc={at(chars, i - 1, '<s>')}{chars[i]}",
            f"cc+={chars[i]}{at(chars, i + 1, '</s>')}",
        ]
        feats += [f"c{d:+d}={at(chars, i + d, '_')}" for d in range(-window, window + 1) if d]
        out.append(feats)
    return out


def n2n_out_of_fold(rows: pa.Table, num_tags: int, cfg: dict[str, Any]) -> list[np.ndarray]:
    """Per sentence a [syllables, tags] array of out-of-fold tag probabilities."""
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.linear_model import LogisticRegression

    window = int(cfg["window"])
    features = [
        syllable_features(c, m, p, b, window)
        for c, m, p, b in zip(
            rows.column("chars").to_pylist(),
            rows.column("char_morph").to_pylist(),
            rows.column("char_pos").to_pylist(),
            rows.column("boundary").to_pylist(),
        )
    ]
    tags = [np.asarray(t, np.int64) for t in rows.column("tag_ids").to_pylist()]
    lengths = np.array([len(t) for t in tags])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    hasher = FeatureHasher(n_features=1 << 18, input_type="string", alternate_sign=False)
    matrix = hasher.transform(f for sentence in features for f in sentence).tocsr()
    matrix = matrix[:, np.unique(matrix.indices)]  # only the hashed features that occur: lbfgs works on fewer
    flat = np.concatenate(tags) if tags else np.zeros(0, np.int64)
    probs = np.zeros((len(flat), num_tags))
    # Folds over sentences, stratified by whether a sentence has an entity at all.
    has_entity = np.array([int((t > 0).any()) for t in tags])
    for train, held in folds_for(has_entity, cfg["folds"], cfg["seed"]):
        train_tok = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in train])
        held_tok = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in held])
        seen = np.unique(flat[train_tok])
        if len(seen) < 2:
            probs[np.ix_(held_tok, seen)] = 1.0
            continue
        with one_thread():
            model = LogisticRegression(C=float(cfg["C"]), max_iter=500).fit(matrix[train_tok], flat[train_tok])
        probs[np.ix_(held_tok, model.classes_)] = model.predict_proba(matrix[held_tok])
    return [probs[offsets[i] : offsets[i + 1]] for i in range(len(tags))]


def n2n_review(table: pa.Table, tag_names: list[str], cfg: dict[str, Any]) -> tuple[pa.Table, dict]:
    """The train and dev sentences of an encoded N2N table -> (suspected spans ranked, summary)."""
    import pyarrow.compute as pc
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    rows = table.filter(pc.is_in(table.column("split"), pa.array(["train", "dev"])))
    rows = rows.filter(pc.greater(pc.list_value_length(rows.column("tag_ids")), 0))
    summary = {"rows": rows.num_rows, "method": method_line(cfg, "n2n"), "min_rows": int(cfg["min_rows"])}
    empty = pa.table({c: pa.array([], _N2N_TYPES[c]) for c in N2N_COLUMNS})
    if rows.num_rows < int(cfg["min_rows"]):
        return empty, {**summary, "suspected": 0, "skipped": True, "per_class": []}
    probs = n2n_out_of_fold(rows, len(tag_names), cfg)
    tags = [np.asarray(t, np.int64) for t in rows.column("tag_ids").to_pylist()]
    present = np.unique(np.concatenate(tags))
    remap = np.full(len(tag_names), -1)
    remap[present] = np.arange(len(present))
    compact = [remap[t] for t in tags]
    kept = [p[:, present] / np.maximum(p[:, present].sum(axis=1, keepdims=True), 1e-12) for p in probs]
    if len(present) < 2:
        return empty, {**summary, "suspected": 0, "skipped": False, "per_class": []}
    issues = find_label_issues([list(t) for t in compact], kept, return_indices_ranked_by=cfg["rank_by"], n_jobs=1)
    sentence_quality, _ = get_label_quality_scores([list(t) for t in compact], kept)
    ids, texts, splits = (rows.column(c).to_pylist() for c in ("id", "text", "split"))
    # A space inside an entity is tagged I-: flagged alone it says nothing a person could fix.
    spans = _merge_spans([(i, j) for i, j in issues if not texts[i][j].isspace()])
    records = []
    for i, start, end in spans:
        given = [tag_names[t] for t in tags[i][start:end]]
        suggested = [tag_names[present[k]] for k in kept[i][start:end].argmax(axis=1)]
        confidence = float(min(kept[i][j, compact[i][j]] for j in range(start, end)))
        records.append(
            {
                "id": ids[i],
                "text": texts[i],
                "split": splits[i],
                "start": start,
                "end": end,
                "span": texts[i][start:end],
                "given_tags": " ".join(given),
                "suggested_tags": " ".join(suggested),
                "self_confidence": round(confidence, 4),
                "sentence_quality": round(float(sentence_quality[i]), 4),
            }
        )
    records.sort(key=lambda r: (r["self_confidence"], r["sentence_quality"]))
    for rank, record in enumerate(records, 1):
        record["rank"] = rank
    out = (
        pa.Table.from_pylist(records, schema=pa.schema([(c, _N2N_TYPES[c]) for c in N2N_COLUMNS])) if records else empty
    )
    return out, {
        **summary,
        "suspected": len(records),
        "skipped": False,
        "per_class": _n2n_per_class(records, tags, tag_names),
    }


def _merge_spans(issues: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Flagged (sentence, syllable) pairs -> (sentence, start, end) runs of consecutive syllables."""
    by_sentence: dict[int, list[int]] = {}
    for i, j in issues:
        by_sentence.setdefault(int(i), []).append(int(j))
    out = []
    for i, positions in by_sentence.items():
        positions.sort()
        start = prev = positions[0]
        for j in positions[1:] + [None]:
            if j is not None and j == prev + 1:
                prev = j
                continue
            out.append((i, start, prev + 1))
            if j is not None:
                start = prev = j
    return out


def _type_of(tags: str) -> str:
    kinds = [t[2:] for t in tags.split() if t != "O"]
    return kinds[0] if kinds else "(none)"


def _n2n_per_class(records: list[dict], tags: list[np.ndarray], tag_names: list[str]) -> list[dict]:
    """Suspected spans per entity type of the given tags ((none): the data says no entity there)."""
    from collections import Counter

    syllables = Counter(tag_names[t][2:] if tag_names[t] != "O" else "(none)" for row in tags for t in row)
    suspected = Counter(_type_of(r["given_tags"]) for r in records)
    return [
        {
            "class": kind,
            "name": kind,
            "rows": syllables[kind],
            "suspected": suspected[kind],
            "share": round(suspected[kind] / syllables[kind], 4) if syllables[kind] else 0.0,
        }
        for kind in sorted(set(syllables) | set(suspected))
    ]


# ---------------------------------------------------------------- the class review's section


def review_section(summary: dict, table: pa.Table, problem: str, top: int, corrections: list[str]) -> str:
    """Markdown for the class design review: what was checked, per-class counts, the top suspects, corrections."""
    from tasks.class_review import _table

    unit = "syllables" if problem == "n2n" else "rows"
    lines = ["## Suspected label errors", ""]
    if summary.get("skipped"):
        lines += [
            f"Not computed: {summary['rows']} train+dev {unit if problem == 'n21' else 'sentences'}, under "
            f"label_review.min_rows = {summary['min_rows']}."
        ]
    else:
        lines += [
            f"{summary['suspected']} suspected among {summary['rows']} train+dev "
            f"{'rows' if problem == 'n21' else 'sentences'}: {summary['method']}. No label was changed; a "
            "person decides (`hanflow label export`, then `hanflow label import`). All of them: "
            "`label_review.parquet`.",
            "",
        ]
        lines += _table(
            ["class", unit, "suspected", "share"],
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
            lines += ["", f"Top {len(shown)}:", ""]
            if problem == "n21":
                lines += _table(
                    ["rank", "id", "text", "given", "suggested", "self-confidence"],
                    [
                        [
                            r["rank"],
                            r["id"],
                            r["text"][:120],
                            r["given_label"],
                            r["suggested_label"],
                            f"{r['self_confidence']:.3f}",
                        ]
                        for r in shown
                    ],
                    right=(0, 5),
                )
            else:
                lines += _table(
                    ["rank", "id", "span", "given", "suggested", "self-confidence", "sentence"],
                    [
                        [
                            r["rank"],
                            r["id"],
                            r["span"],
                            r["given_tags"],
                            r["suggested_tags"],
                            f"{r['self_confidence']:.3f}",
                            r["text"][:100],
                        ]
                        for r in shown
                    ],
                    right=(0, 5),
                )
    lines += ["", "## Label corrections in this data version", "", *corrections]
    return "\n".join(lines) + "\n"
