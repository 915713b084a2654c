"""N2N's label review: out-of-fold tag probabilities per syllable, then cleanlab's token classification.

A logistic regression per syllable over its neighbourhood (syllables, morpheme, POS, word boundaries), fast
enough to refit per fold; cleanlab.token_classification flags the syllables whose given tag it finds least
likely, and consecutive flagged syllables are one suspected span, which is what a person can fix. The folds
and the review's section are tasks/label_review.py's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tasks.label_review import folds_for, method_line, one_thread

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
# What the review section (tasks/label_review.py review_section) says about N2N's sentences and spans.
N2N_SECTION = {
    "items": "sentences",
    "unit": "syllables",
    "columns": (
        ("rank", "rank"),
        ("id", "id"),
        ("span", "span"),
        ("given", "given_tags"),
        ("suggested", "suggested_tags"),
        ("self-confidence", "self_confidence"),
        ("sentence", "text", 100),
    ),
}


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
    model = f"a per-syllable logistic regression (window ±{cfg['window']}, C {cfg['C']})"
    summary = {
        "rows": rows.num_rows,
        "method": method_line(model, cfg),
        "min_rows": int(cfg["min_rows"]),
        "section": N2N_SECTION,
    }
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
