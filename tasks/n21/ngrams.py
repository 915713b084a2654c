"""Hashed n-gram features: the bag-of-n-grams half of the N21 model.

A recurrent encoder over morphemes misses what character n-grams catch in noisy
Korean reviews (spelling variants, ㅋㅋ/ㅠㅠ runs, words the tagger splits oddly), and
a bag of n-grams misses word order and negation: together they beat either alone
(README, Benchmark). Ids are hashes, so they need no vocabulary file and are identical
in every process and on every machine.

Two hash functions, named by `ngrams.hash` and stored with every model:
- `poly64` (default): a 64-bit polynomial hash over code points with a splitmix64 finish, computed
  with numpy over a whole batch at once. It runs ~20x faster than murmur3 below, which took 1.8x the
  tagger's own time on 126k NSMC sentences (README, Performance).
- `murmur3`: scikit-learn's HashingVectorizer over Python strings, what models trained before
  `hash` existed used (a model directory without the key gets it, so its ids stay the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import blake2b

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULTS = {"buckets": 0, "char_n": [2, 4], "token_n": [1, 2], "hash": "murmur3"}
HASHES = ("poly64", "murmur3")

_P = np.uint64(0x100000001B3)  # FNV's 64-bit prime: odd, so multiplying by it loses no bits
_CHAR_SPACE, _TOKEN_SPACE = np.uint64(0x5C), np.uint64(0xA7)  # char and token n-grams never share a hash
_WORD_START, _WORD_END = ord("<"), ord(">")  # marks around each word, as char_wb does


def hashed_ngrams(texts: list[str] | pa.Array, token_lists: list[list[str]] | pa.Array, cfg: dict) -> pa.Array:
    """list<int32> of distinct n-gram ids per row, sorted, in 1..buckets (0 stays free for padding)."""
    cfg = {**DEFAULTS, **cfg}
    buckets = int(cfg["buckets"])
    if buckets <= 0:
        raise ValueError("ngrams.buckets must be > 0 to compute n-gram features")
    char_n, token_n = [int(x) for x in cfg["char_n"]], [int(x) for x in cfg["token_n"]]
    if cfg["hash"] == "murmur3":
        return _murmur3(_as_list(texts), _as_list(token_lists), buckets, char_n, token_n)
    if cfg["hash"] != "poly64":
        raise ValueError(f"ngrams.hash is {cfg['hash']!r}; choose one of {', '.join(HASHES)}")
    texts = pc.fill_null(_as_array(texts, pa.string()), "")
    tokens = _as_array(token_lists, pa.list_(pa.string()))
    char_rows, char_hashes = _char_ngrams(texts, char_n)
    token_rows, token_hashes = _token_ngrams(tokens, token_n)
    ids = _finish(np.concatenate([char_hashes, token_hashes]))
    ids %= np.uint64(buckets)
    # One sort makes each row's ids distinct and ordered: key = row * (buckets + 1) + id + 1.
    keys = np.concatenate([char_rows, token_rows]).astype(np.int64)
    keys *= buckets + 1
    keys += ids.view(np.int64)  # < buckets, so the signed view is the same number
    keys += 1
    keys.sort()
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys  # np.unique hashes: 10x slower here
    counts = np.bincount(keys // (buckets + 1), minlength=len(texts))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array((keys % (buckets + 1)).astype(np.int32)))


def _as_array(values, type_: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type_)
    if not isinstance(values, pa.Array):
        values = pa.array(values, type_)
    return values.cast(type_) if values.type != type_ else values


def _as_list(values) -> list:
    return values.to_pylist() if isinstance(values, (pa.Array, pa.ChunkedArray)) else list(values)


def _code_points(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """All strings' code points in one uint64 array, and each string's length in code points."""
    strings = pa.concat_arrays([strings])  # a fresh, unsliced copy whose buffers start at its first value
    offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1)
    data = strings.buffers()[2]
    text = (data.to_pybytes()[: offsets[-1]] if data is not None else b"").decode("utf-8")
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32).astype(np.uint64)
    return points, pc.utf8_length(strings).to_numpy(zero_copy_only=False).astype(np.int64)


def _char_ngrams(texts: pa.Array, char_n: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and raw hashes of the character n-grams of every "<word>" of every text."""
    words_per_row = pc.utf8_split_whitespace(texts)
    words = pc.list_flatten(words_per_row)
    word_rows = pc.list_parent_indices(words_per_row).to_numpy()
    real = pc.greater(pc.utf8_length(words), 0)  # Arrow keeps "" around leading/trailing spaces; str.split drops it
    words, word_rows = words.filter(real), word_rows[real.to_numpy(zero_copy_only=False)]
    points, lengths = _code_points(words)
    # Room for the two marks: word w's characters shift right by 2w + 1.
    padded_lengths = lengths + 2
    starts = np.concatenate([[0], np.cumsum(padded_lengths)[:-1]]).astype(np.int64)
    marked = np.empty(int(padded_lengths.sum()), np.uint64)
    marked[starts] = _WORD_START
    marked[starts + padded_lengths - 1] = _WORD_END
    word_of_char = np.repeat(np.arange(len(lengths)), lengths)
    marked[np.arange(len(points)) + 2 * word_of_char + 1] = points
    word_end = np.repeat(starts + padded_lengths, padded_lengths)  # per position: where its word stops
    row = np.repeat(word_rows, padded_lengths)
    return _windows(marked, word_end, row, char_n, _CHAR_SPACE)


def _token_ngrams(tokens: pa.Array, token_n: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and raw hashes of the morpheme n-grams of every row; each distinct morpheme is hashed once."""
    flat = pc.list_flatten(tokens)
    row = pc.list_parent_indices(tokens).to_numpy().astype(np.int64)
    encoded = pc.dictionary_encode(pc.fill_null(flat, ""))
    distinct = encoded.dictionary.to_pylist()
    token_hash = np.fromiter(
        (int.from_bytes(blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in distinct),
        np.uint64,
        len(distinct),
    )
    values = token_hash[encoded.indices.to_numpy(zero_copy_only=False)]
    offsets = tokens.offsets.to_numpy()
    row_end = offsets[row + 1] - offsets[0]  # a window stays inside its row when it ends by the row's end
    return _windows(values, row_end, row, token_n, _TOKEN_SPACE)


def _windows(
    values: np.ndarray, stop: np.ndarray, row: np.ndarray, sizes: list[int], space: np.uint64
) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial hashes of every window of `sizes[0]..sizes[1]` values that ends before `stop`."""
    rows, hashes = [], []
    start = np.arange(len(values))
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps on purpose; in place, as memory bandwidth rules
        for n in range(sizes[0], sizes[1] + 1):
            count = len(values) - n + 1
            if count <= 0:
                continue
            keep = np.flatnonzero(start[:count] + n <= stop[:count])
            acc = values[keep]
            for j in range(1, n):
                acc *= _P
                acc += values[keep + j]
            acc *= _P
            acc += space
            acc *= _P
            acc += np.uint64(n)
            hashes.append(acc)
            rows.append(row[keep])
    if not hashes:
        return np.empty(0, np.int64), np.empty(0, np.uint64)
    return np.concatenate(rows), np.concatenate(hashes)


def _finish(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: every input bit reaches the low bits that `% buckets` keeps."""
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


# --- murmur3: the first hash, for models trained with it ---------------------------------------------


def _ngrams(items: list[str], low: int, high: int, prefix: str) -> Iterator[str]:
    for n in range(low, high + 1):
        for start in range(len(items) - n + 1):
            yield prefix + " ".join(items[start : start + n])


def _features(text: str, tokens: list[str], char_n: list[int], token_n: list[int]) -> list[str]:
    feats: list[str] = []
    for word in text.split():
        feats.extend(_ngrams(list(f"<{word}>"), char_n[0], char_n[1], "c:"))
    feats.extend(_ngrams(tokens, token_n[0], token_n[1], "t:"))
    return feats


def _murmur3(
    texts: list[str], token_lists: list[list[str]], buckets: int, char_n: list[int], token_n: list[int]
) -> pa.Array:
    from sklearn.feature_extraction.text import HashingVectorizer

    hasher = HashingVectorizer(
        analyzer=lambda pair: _features(pair[0] or "", pair[1], char_n, token_n),
        n_features=buckets,
        alternate_sign=False,
        norm=None,
        binary=True,
        dtype=np.float32,
    )
    matrix = hasher.transform(zip(texts, (list(t or []) for t in token_lists)))
    matrix.sort_indices()  # the same row always yields the same id order
    offsets = pa.array(matrix.indptr.astype(np.int32))
    values = pa.array((matrix.indices + 1).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, values)
