"""Pretrained morpheme vectors from Kiwi's CoNg language model (the `kiwipiepy-model` package ships it).

Kiwi exposes no embedding matrix, only cosine similarities between morphemes (`morpheme_similarity`). The
similarities of a morpheme to L landmark morphemes are a linear image of its (unit) vector, so with the
landmarks' own Gram matrix G the Nyström map x = G^(-1/2) s recovers vectors whose inner products are exactly the
model's cosines (up to a rotation) once the landmarks span its space (~256 dimensions). PCA then brings them to
the network's embedding size. Nothing is downloaded: the model is inside the installed package.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ORIGINS = ("none", "kiwi")


def _kiwi() -> Any:
    try:
        from kiwipiepy import Kiwi
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "vectors.source: kiwi needs kiwipiepy and kiwipiepy-model: pip install kiwipiepy (or make install), or "
            "set <problem>.vectors.source to none"
        ) from e
    return Kiwi(model_type="cong")


def _embedded_ids(kiwi: Any) -> tuple[dict[str, int], int]:
    """(form -> the lowest id (Kiwi numbers its morphemes by frequency) of a morpheme the LM has a vector for,
    with "form/TAG" keys too, for tokens written with their part of speech; how many ids have a vector). The
    LM's morphemes come first (ids 0..70,487 of 660,288 in kiwipiepy-model 0.24), so the walk ends at the first
    id without a vector and every id below the count has one."""
    first: dict[str, int] = {}
    i = 0
    while True:
        try:
            token = kiwi.morpheme(i)
        except Exception:  # past the last id
            break
        if math.isnan(kiwi.morpheme_similarity(i, i)):  # a dictionary entry without an LM vector, and none after
            break
        if token.form:
            for key in (token.form.lower(), f"{token.form.lower()}/{token.tag.split('-')[0]}"):
                first.setdefault(key, i)
        i += 1
    return first, i


def kiwi_ids(itos: list[str], kiwi: Any) -> tuple[list[list[int]], int]:
    """(Kiwi's morpheme ids for each vocabulary entry, how many ids have a vector). An entry's ids: the form's
    own id where the LM has one, else the ids of Kiwi's analysis of it (a tagger's fused form such as
    봤 -> 보 + 었, punctuation -> its tag class), whose vectors are averaged; [] for specials and forms with
    nothing the LM knows."""
    known, with_vector = _embedded_ids(kiwi)
    out: list[list[int]] = []
    for token in itos:
        if token.startswith("<") and token.endswith(">"):  # <pad>, <unk>, ...
            out.append([])
        elif token.lower() in known:
            out.append([known[token.lower()]])
        else:
            form = token.rsplit("/", 1)[0] if "/" in token[1:] else token
            out.append([t.id for t in kiwi.tokenize(form) if t.id < with_vector])
    return out, with_vector


def nystrom_vectors(similarity: Any, ids: list[int], landmarks: list[int]) -> np.ndarray:
    """Vectors whose inner products equal similarity(i, j), from similarities to the landmarks only."""
    gram = np.array([[similarity(a, b) for b in landmarks] for a in landmarks], dtype=np.float64)
    values, basis = np.linalg.eigh((gram + gram.T) / 2)
    keep = values > values.max() * 1e-6  # the landmarks span more directions than the model has
    project = basis[:, keep] / np.sqrt(values[keep])
    sims = np.array([[similarity(i, b) for b in landmarks] for i in ids], dtype=np.float64)
    return sims @ project


def reduce(vectors: np.ndarray, dim: int, fit_on: np.ndarray | None = None) -> np.ndarray:
    """Centre (the cosines share one large common direction), keep the top `dim` principal components of
    `fit_on` (default: the vectors themselves) and scale each to standard deviation 1 there, the size
    nn.Embedding's own N(0, 1) start has."""
    fit_on = vectors if fit_on is None else fit_on
    mean = fit_on.mean(axis=0)
    _, _, components = np.linalg.svd(fit_on - mean, full_matrices=False)
    components = components[:dim]
    scale = np.maximum(((fit_on - mean) @ components.T).std(axis=0), 1e-8)
    out = (vectors - mean) @ components.T / scale
    if out.shape[1] < dim:  # fewer components than the embedding has: the rest start at zero
        out = np.pad(out, ((0, 0), (0, dim - out.shape[1])))
    return out.astype(np.float32)


def pretrained_rows(itos: list[str], dim: int, landmarks: int = 384, kiwi: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(vocabulary rows that have a vector, their [n, dim] vectors). The landmarks are the vocabulary's own
    most frequent known morphemes (then Kiwi's), so the recovered space is the one this data lives in."""
    kiwi = kiwi if kiwi is not None else _kiwi()
    ids, with_vector = kiwi_ids(itos, kiwi)
    rows = np.array([r for r, parts in enumerate(ids) if parts], dtype=np.int64)
    if len(rows) == 0:
        return rows, np.zeros((0, dim), dtype=np.float32)
    used = list(dict.fromkeys(i for r in rows for i in ids[r]))
    chosen = used[:landmarks]
    taken = set(chosen)
    chosen += [i for i in range(1000, with_vector) if i not in taken][: landmarks - len(chosen)]
    # The principal directions come from the vocabulary's morphemes and the landmarks together, so a small
    # vocabulary (a sample of a few hundred tokens) still gets the LM's main directions, not its own noise.
    known = list(dict.fromkeys(used + chosen))
    vectors = nystrom_vectors(kiwi.morpheme_similarity, known, chosen)
    position = {i: n for n, i in enumerate(known)}
    averaged = np.stack([vectors[[position[i] for i in ids[r]]].mean(axis=0) for r in rows])
    return rows, reduce(averaged, dim, fit_on=vectors)


def build_vectors(itos: list[str], cfg: dict[str, Any], dim: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The vectors stage: (rows, [n, dim] vectors, report) for the params' `vectors` section."""
    source = cfg["source"]
    if source not in ORIGINS:
        raise ValueError(f"vectors.source {source!r}: choose one of {list(ORIGINS)}")
    if source == "none":
        rows, vectors = np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        versions: dict[str, str] = {}
    else:
        from importlib.metadata import version

        rows, vectors = pretrained_rows(itos, dim, int(cfg["landmarks"]))
        # The vectors are the model's: another kiwipiepy-model gives other vectors.
        versions = {p: version(p) for p in ("kiwipiepy", "kiwipiepy_model")}
    report = {
        "source": source,
        "vocab": len(itos),
        "with_vector": int(len(rows)),
        "coverage": round(len(rows) / max(1, len(itos)), 4),
        "dim": dim,
        **versions,
    }
    return rows, vectors, report


def save_vectors(path: Any, rows: np.ndarray, vectors: np.ndarray) -> None:
    from tasks.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, rows=rows, vectors=vectors)


def load_vectors(path: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, vectors), or None when the stage wrote none (vectors.source: none)."""
    with np.load(path) as data:
        rows, vectors = data["rows"], data["vectors"]
    return (rows, vectors) if len(rows) else None
