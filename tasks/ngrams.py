"""Hashed n-gram features: the bag-of-n-grams half of the N21 model.

A recurrent encoder over morphemes misses what character n-grams catch in noisy
Korean reviews (spelling variants, ㅋㅋ/ㅠㅠ runs, words the tagger splits oddly), and
a bag of n-grams misses word order and negation: together they beat either alone
(README, Benchmark). Ids come from scikit-learn's HashingVectorizer (signed 32-bit
MurmurHash3, fixed seed), so they need no vocabulary file and are identical in every
process and on every machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

DEFAULTS = {"buckets": 0, "char_n": [2, 4], "token_n": [1, 2]}


def _ngrams(items: list[str], low: int, high: int, prefix: str) -> Iterator[str]:
    for n in range(low, high + 1):
        for start in range(len(items) - n + 1):
            yield prefix + " ".join(items[start : start + n])


def _features(text: str, tokens: list[str], char_n: list[int], token_n: list[int]) -> list[str]:
    feats: list[str] = []
    for word in text.split():
        # Word-boundary marks make "영화 " and "영화가" different n-grams, as char_wb does.
        feats.extend(_ngrams(list(f"<{word}>"), char_n[0], char_n[1], "c:"))
    feats.extend(_ngrams(tokens, token_n[0], token_n[1], "t:"))
    return feats


def hashed_ngrams(texts: list[str], token_lists: list[list[str]], cfg: dict) -> pa.Array:
    """list<int32> of distinct n-gram ids per row, in 1..buckets (0 stays free for padding)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    cfg = {**DEFAULTS, **cfg}
    buckets = int(cfg["buckets"])
    if buckets <= 0:
        raise ValueError("ngrams.buckets must be > 0 to compute n-gram features")
    char_n, token_n = [int(x) for x in cfg["char_n"]], [int(x) for x in cfg["token_n"]]
    hasher = HashingVectorizer(analyzer=lambda pair: _features(pair[0], pair[1], char_n, token_n),
                               n_features=buckets, alternate_sign=False, norm=None, binary=True,
                               dtype=np.float32)
    matrix = hasher.transform(zip(texts, (list(t) for t in token_lists)))
    matrix.sort_indices()  # the same row always yields the same id order
    offsets = pa.array(matrix.indptr.astype(np.int32))
    values = pa.array((matrix.indices + 1).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, values)
