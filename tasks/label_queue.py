"""The labeling queue: of many unlabeled texts, the K a person should label first.

Worth a person's time = the model is least sure (params `<problem>.label_queue.by`: the margin between its
two best classes, its confidence, or the entropy; N2N: of its least certain syllable), and different from
what is already in the queue: texts equal after normalisation (case, width, spaces, punctuation, repeated
letters) are one, and so are texts whose cosine over character 1-3-grams reaches `near_duplicate`
(a review posted twice with an emoji added), so K rows are K different things.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Sequence

import numpy as np

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


def n2n_syllable_probabilities(predictor: Any, texts: list[str]) -> list[np.ndarray]:
    """Per text a [syllables, tags] softmax of the tagger's emission scores: how sure it is of each syllable
    (the CRF adds transition scores on top; the emissions carry the evidence from the text)."""
    import torch

    from tasks.n2n.evaluate import prepare_texts
    from tasks.n2n.train import TaggerInputs

    encoded = prepare_texts(texts, predictor.bundle)
    max_len = int(predictor.params["train"].get("max_len", 0)) or None
    inputs = TaggerInputs.for_model(encoded, predictor.model.config, max_len)
    out = []
    predictor.model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), predictor.batch_size):
            index = np.arange(start, min(start + predictor.batch_size, len(texts)))
            chars, lengths, feats = inputs.batch(index, predictor.device)
            probs = torch.softmax(predictor.model(chars, lengths, **feats).float(), dim=-1).cpu().numpy()
            out += [probs[k, : int(n)] for k, n in enumerate(lengths.tolist())]
    return out


def sentence_uncertainty(syllables: list[np.ndarray], by: str) -> np.ndarray:
    """Per sentence its least certain syllable's uncertainty (0 for an empty one)."""
    return np.array([float(uncertainty(p, by).max()) if len(p) else 0.0 for p in syllables])


def queue_rows(
    problem: str, predictor: Any, ids: list[str], texts: list[str], size: int, cfg: dict[str, Any]
) -> tuple[list[dict], dict]:
    """The queue: rows with id, text, the model's prediction, its score; and a report."""
    rows = predictor.predict(texts)
    usable = [k for k, row in enumerate(rows) if row.get("error") is None]
    if problem == "n21":
        names = [entry["name"] for entry in predictor.bundle["label_schema.json"]["labels"]]
        probs = np.array([[rows[k]["probabilities"][name] for name in names] for k in usable]).reshape(-1, len(names))
        scores = uncertainty(probs, cfg["by"])
    elif problem == "n2n":
        scores = sentence_uncertainty(n2n_syllable_probabilities(predictor, [texts[k] for k in usable]), cfg["by"])
    else:
        raise ValueError(f"hanflow label queue: {problem} is not supported (n21, n2n)")
    chosen, skipped = pick([texts[k] for k in usable], scores, int(size), float(cfg["near_duplicate"]))
    out = []
    for rank, c in enumerate(chosen, 1):
        k = usable[c]
        row = {"rank": rank, "id": ids[k], "text": texts[k], "score": round(float(scores[c]), 4)}
        if problem == "n21":
            row.update(
                label=rows[k]["label"],
                name=rows[k]["name"],
                confidence=rows[k]["confidence"],
                probabilities=rows[k]["probabilities"],
            )
        else:
            row["entities"] = [{key: e[key] for key in ("start", "end", "type")} for e in rows[k]["entities"]]
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
