"""The labeling queue: of many unlabeled texts, the K a person should label first.

Worth a person's time = the model is least sure (params `<problem>.label_queue.by`: the margin between its
two best classes, its confidence, or the entropy; of a text's least certain token where it tags tokens, as
the problem type's Labeling.scores says, tasks/<problem>/labeling.py), and different from
what is already in the queue: texts equal after normalisation (case, width, spaces, punctuation, repeated
letters) are one, and so are texts whose cosine over character 1-3-grams reaches `near_duplicate`
(a review posted twice with an emoji added), so K rows are K different things.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from tasks.labeling import Labeling

SCORES = ("margin", "confidence", "entropy")
_NOT_WORD = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"(.)\1{2,}")
POOL_PER_ROW = 20  # candidates looked at per queue row: bounds the similarity work on a large file


def uncertainty(probs: np.ndarray, by: str) -> np.ndarray:
    """Per row (of [N, classes] probabilities) how unsure the model is: higher = more worth labeling."""
    if by not in SCORES:
        raise ValueError(f"label_queue.by: {by!r}; choose from {', '.join(SCORES)}")
    probs = np.asarray(probs, np.float64)
    if probs.shape[0] == 0:
        return np.zeros(0)
    top = np.sort(probs, axis=1)[:, ::-1]
    if by == "margin":
        return 1.0 - (top[:, 0] - (top[:, 1] if probs.shape[1] > 1 else 0.0))
    if by == "confidence":
        return 1.0 - top[:, 0]
    return -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1)


def normalized(text: str) -> str:
    """The text as a duplicate check sees it: NFKC, lower case, no spaces or punctuation, runs of 3+ shortened."""
    text = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _REPEATS.sub(r"\1\1", text)


def pick(texts: Sequence[str], scores: np.ndarray, size: int, near_duplicate: float) -> tuple[list[int], dict]:
    """Indices of up to `size` rows, highest score first, skipping duplicates of a row already picked;
    and counts of what was skipped."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    seen, pool = set(), []
    exact = 0
    for i in order:
        key = normalized(texts[i]) or texts[i]
        if key in seen:
            exact += 1
            continue
        seen.add(key)
        pool.append(int(i))
        if len(pool) >= POOL_PER_ROW * size:
            break
    if not pool:
        return [], {"exact_duplicates": exact, "near_duplicates": 0}
    # Plain n-gram presence: idf from a small pool would weight a duplicate's one odd n-gram over all it shares.
    vectors = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), binary=True, use_idf=False).fit_transform(
        [texts[i] for i in pool]
    )
    chosen: list[int] = []
    near = 0
    for k in range(len(pool)):
        if len(chosen) >= size:
            break
        if chosen and (vectors[chosen] @ vectors[k].T).max() >= near_duplicate:
            near += 1
            continue
        chosen.append(k)
    return [pool[k] for k in chosen], {"exact_duplicates": exact, "near_duplicates": near}


def sentence_uncertainty(syllables: list[np.ndarray], by: str) -> np.ndarray:
    """Per sentence its least certain syllable's uncertainty (0 for an empty one)."""
    return np.array([float(uncertainty(p, by).max()) if len(p) else 0.0 for p in syllables])


def queue_rows(
    labeling: Labeling, predictor: Any, ids: list[str], texts: list[str], size: int, cfg: dict[str, Any]
) -> tuple[list[dict], dict]:
    """The queue: rows with id, text, the model's prediction, its score; and a report."""
    rows = predictor.predict(texts)
    usable = [k for k, row in enumerate(rows) if row.get("error") is None]
    scores = labeling.scores(predictor, [rows[k] for k in usable], [texts[k] for k in usable], cfg["by"])
    chosen, skipped = pick([texts[k] for k in usable], scores, int(size), float(cfg["near_duplicate"]))
    out = []
    for rank, c in enumerate(chosen, 1):
        k = usable[c]
        row = {"rank": rank, "id": ids[k], "text": texts[k], "score": round(float(scores[c]), 4)}
        row.update(labeling.queue_fields(rows[k]))
        out.append(row)
    report = {
        "rows_in": len(texts),
        "predicted": len(usable),
        "flagged": len(texts) - len(usable),
        "queued": len(out),
        "by": cfg["by"],
        **skipped,
    }
    return out, report
