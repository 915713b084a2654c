"""N2Path (tokens -> dependency tree): ingest treebanks, morphemes per eojeol, encode, relation schema.

Pure functions over Arrow tables; flows/n2path.py moves their results between files.

The unit is the treebank's word (an eojeol, or a piece UD split off it such as punctuation). Each word
carries its morphemes and their POS tags, from one of two places (params tokenize.morphemes):

- `treebank`: the treebank's own analysis, LEMMA and XPOS split on "+" ("가깝+ㄴ", "VA+ETM");
- `tagger`: the KoNLPy tagger (tokenize.tagger) run on each word on its own, the only analysis raw text
  has at prediction time. A tag that glues morphemes ("VV+EP" for Mecab's 했) is split the same way.

`tagger` is the default, by measurement on UD Korean GSD dev (same parser, 8 epochs): trained and scored
on treebank morphemes LAS 0.778; that model given Mecab's morphemes, as raw text at predict gives it,
0.722; trained and scored on Mecab's morphemes 0.763. Close to the treebank figure, and no gap between
what evaluation reports and what predict delivers.

Canonical table: id, text, words, lemmas, xpos, heads (1-based, 0 = root), deprels, split,
source_file, source_row. Tokenize adds `morphs` and `tags` (list<list<string>>, one inner list per word);
encode adds word_ids, morph_ids, tag_ids, char_ids (syllables) and rel_ids (-1: not in the schema).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tasks.splits import SPLITS, assign_splits, refuse_all_quarantined
from tasks.textfile import check_file
from tasks.vocab import UNK, Vocab, build_vocab

FORMATS = ("conllu", "klue_dp")
SUFFIXES = {"conllu": (".conllu",), "klue_dp": (".tsv",)}
MORPHEME_SOURCES = ("treebank", "tagger")
WORD_LISTS = ("words", "lemmas", "xpos", "deprels")
CANONICAL = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        *((name, pa.list_(pa.string())) for name in ("words", "lemmas", "xpos")),
        ("heads", pa.list_(pa.int32())),
        ("deprels", pa.list_(pa.string())),
        ("split", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
QUARANTINE = pa.schema(
    [("source_file", pa.string()), ("source_row", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)
NESTED = pa.list_(pa.list_(pa.string()))
NESTED_IDS = pa.list_(pa.list_(pa.int32()))


# ---------------------------------------------------------------- ingest


def _files(path: str | Path, fmt: str) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES[fmt])
        if not files:
            raise FileNotFoundError(f"{path}: no {'/'.join(SUFFIXES[fmt])} files in the folder (format {fmt})")
        return files
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (params key n2path.data.path)")
    check_file(path)  # a FIFO or a device: refused without opening it
    return [path]


def read_treebank(path: str | Path, fmt: str, encoding: str = "utf-8") -> tuple[list[dict], list[dict]]:
    """Sentences and quarantined rows of a file (or a folder of files) in `fmt`."""
    from tasks.treebank import read_conllu, read_klue_dp

    if fmt not in FORMATS:
        raise ValueError(f"unknown treebank format {fmt!r}; use one of {', '.join(FORMATS)} (params key data.format)")
    reader = read_conllu if fmt == "conllu" else read_klue_dp
    sentences, quarantined = [], []
    for file in _files(path, fmt):
        got, bad = reader(file, encoding)
        sentences += got
        quarantined += bad
    return sentences, quarantined


def reason_kind(reason: str) -> str:
    """A short category for counting quarantine reasons (the full reason stays in the quarantine file)."""
    if "fix the HEAD column" in reason or "DEPREL 'root'" in reason:
        return "not one tree"
    if reason.startswith("sentence at "):
        return "unreadable sentence"
    return reason.split(":")[0]


def sentences_table(sentences: list[dict]) -> pa.Table:
    """Canonical table from sentence dicts (the readers' form); missing lemmas/xpos become '_'."""

    def per_word(s: dict, key: str) -> list[str]:
        values = s.get(key)
        return [str(v) for v in values] if values is not None else ["_"] * len(s["words"])

    return pa.table(
        {
            "id": [str(s["id"]) for s in sentences],
            "text": [s.get("text") or " ".join(s["words"]) for s in sentences],
            "words": [list(s["words"]) for s in sentences],
            "lemmas": [per_word(s, "lemmas") for s in sentences],
            "xpos": [per_word(s, "xpos") for s in sentences],
            "heads": [[int(h) for h in s.get("heads") or [0] * len(s["words"])] for s in sentences],
            "deprels": [per_word(s, "deprels") for s in sentences],
            "split": [s.get("split") for s in sentences],
            "source_file": [str(s.get("source_file", "")) for s in sentences],
            "source_row": [int(s.get("source_row", 0)) for s in sentences],
        },
        schema=CANONICAL,
    )


def ingest_parse(data_cfg: dict) -> tuple[pa.Table, pa.Table, dict]:
    """Every source in params `data` -> (canonical table, quarantine table, report)."""
    sources = [
        {"path": data_cfg["path"], "format": data_cfg["format"], "split_as": data_cfg.get("split_as")},
        *(data_cfg.get("extra_sources") or []),
    ]
    encoding = data_cfg.get("encoding", "utf-8")
    records, quarantined, per_source = [], [], []
    for source in sources:
        got, bad = read_treebank(
            source["path"], source.get("format", data_cfg["format"]), source.get("encoding", encoding)
        )
        for rec in got:
            rec["split"] = source.get("split_as") or None
        records += got
        quarantined += bad
        per_source.append(
            {
                "path": str(source["path"]),
                "format": source.get("format", data_cfg["format"]),
                "split_as": source.get("split_as"),
                "sentences": len(got),
                "quarantined": len(bad),
            }
        )

    kept, seen = [], set()
    for rec in records:
        reason = ""
        if not rec["words"] or not all(w.strip() for w in rec["words"]):
            reason = "empty word: every word needs a form"
        elif rec["id"] in seen:
            reason = f"duplicate id {rec['id']!r}: sentence ids must be unique across all sources"
        elif rec["split"] not in (None, *SPLITS):
            reason = f"split {rec['split']!r} is not one of train/dev/test (data.split_as / extra_sources)"
        if reason:
            quarantined.append(
                {
                    "source_file": rec["source_file"],
                    "source_row": rec["source_row"],
                    "raw": " ".join(rec["words"])[:2000],
                    "reason": reason,
                }
            )
            continue
        seen.add(rec["id"])
        kept.append(rec)
    unsplit = [i for i, rec in enumerate(kept) if not rec["split"]]
    split_cfg = data_cfg["split"]
    for i, split in zip(
        unsplit,
        assign_splits(
            [kept[i]["text"] for i in unsplit],
            float(split_cfg["dev"]),
            float(split_cfg["test"]),
            int(split_cfg["seed"]),
        ),
    ):
        kept[i]["split"] = split

    table = sentences_table(kept)
    quarantine = pa.Table.from_pylist(quarantined, schema=QUARANTINE)
    splits = Counter(r["split"] for r in kept)
    report = {
        "rows_in": len(kept) + len(quarantined),
        "rows_kept": len(kept),
        "rows_quarantined": len(quarantined),
        "quarantine_reasons": dict(Counter(reason_kind(q["reason"]) for q in quarantined)),
        "splits": {s: splits.get(s, 0) for s in SPLITS},
        "words": sum(len(r["words"]) for r in kept),
        "sources": per_source,
    }
    refuse_all_quarantined(report, quarantine)
    if report["splits"]["train"] == 0:
        raise ValueError(
            f"{[str(s['path']) for s in sources]}: no training sentences; check data.split, "
            "data.split_as and the extra sources' split_as"
        )
    return table, quarantine, report


# ---------------------------------------------------------------- morphemes per word


def treebank_morphemes(word: str, lemma: str, xpos: str) -> tuple[list[str], list[str]]:
    """The treebank's analysis of one word: LEMMA and XPOS split on '+'; the form where LEMMA is missing."""
    tags = [t for t in xpos.split("+") if t] if xpos not in ("", "_") else []
    if lemma in ("", "_"):
        return [word], tags
    morphs = [m for m in lemma.split("+") if m]
    return morphs or [lemma], tags  # a lone "+" is the morpheme "+"


def tagger_morphemes(words: list[str], cfg: dict) -> dict[str, tuple[list[str], list[str]]]:
    """word -> (morphemes, tags) from the KoNLPy tagger, each distinct word tagged once on its own."""
    from tasks.tokenize import tokenize_texts

    unique = list(dict.fromkeys(words))
    tokens, pos = tokenize_texts(unique, {**cfg, "join_pos": False})
    out = {}
    for word, morphs, tags in zip(unique, tokens, pos):
        out[word] = (morphs or [word], [t for tag in tags for t in tag.split("+") if t])
    return out


def tokenize_parse(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """The tokenize stage: `morphs` and `tags` per word, from the treebank or the tagger (module docstring)."""
    mode = cfg.get("morphemes", "treebank")
    if mode not in MORPHEME_SOURCES:
        raise ValueError(f"tokenize.morphemes is {mode!r}; choose one of {', '.join(MORPHEME_SOURCES)}")
    words = table.column("words").to_pylist()
    lemmas = table.column("lemmas").to_pylist()
    xpos = table.column("xpos").to_pylist()
    morphs: list[list[list[str]]] = []
    tags: list[list[list[str]]] = []
    report: dict = {"rows_in": table.num_rows, "rows_kept": table.num_rows, "rows_quarantined": 0, "morphemes": mode}
    if mode == "treebank":
        missing = unequal = 0
        for ws, ls, xs in zip(words, lemmas, xpos):
            pairs = [treebank_morphemes(w, l, x) for w, l, x in zip(ws, ls, xs)]
            morphs.append([m for m, _ in pairs])
            tags.append([t for _, t in pairs])
            missing += sum(x in ("", "_") for x in xs)
            unequal += sum(len(m) != len(t) for m, t in pairs if t)
        report.update(words_without_xpos=missing, words_lemma_xpos_unequal=unequal)
        if missing and missing == sum(map(len, words)):
            raise ValueError(
                "tokenize.morphemes is 'treebank' but the data has no XPOS analysis (all '_'); "
                "set n2path.tokenize.morphemes=tagger"
            )
    else:
        analysis = tagger_morphemes([w for ws in words for w in ws], cfg)
        agree = compared = 0
        for ws, xs in zip(words, xpos):
            morphs.append([analysis[w][0] for w in ws])
            tags.append([analysis[w][1] for w in ws])
            for w, x in zip(ws, xs):
                if x not in ("", "_"):
                    compared += 1
                    agree += analysis[w][1] == [t for t in x.split("+") if t]
        report.update(tagger=cfg["tagger"], distinct_words_tagged=len(analysis))
        if compared:
            # How often the tagger's tag sequence for a word equals the treebank's XPOS: the gap predict has.
            report["tagger_xpos_agreement"] = round(agree / compared, 4)
    out = table.append_column("morphs", pa.array(morphs, NESTED)).append_column("tags", pa.array(tags, NESTED))
    report["words"] = sum(map(len, words))
    report["morphemes_total"] = sum(len(m) for row in morphs for m in row)
    return out, report


# ---------------------------------------------------------------- relations


def relation_values(configured: list | None) -> list[str]:
    """The relation names of a schema: plain names or {value, name, description, examples} (the schema file's)."""
    return [str(r["value"]) if isinstance(r, dict) else str(r) for r in configured or []]


def relation_names(table: pa.Table, configured: list | None) -> list[str]:
    """The relation schema: the params list, or every relation of the train split (sorted)."""
    values = relation_values(configured)
    if values:
        return values
    train = table.filter(pc.equal(table.column("split"), "train"))
    return sorted({r for rels in train.column("deprels").to_pylist() for r in rels})


def relation_schema(table: pa.Table, configured: list | None, min_count: int = 10) -> dict:
    """Relations with descriptions, arc counts per split, and warnings (rare, unseen in train, unknown)."""
    counts: Counter = Counter()
    for split, rels in zip(table.column("split").to_pylist(), table.column("deprels").to_pylist()):
        for r in rels:
            counts[(r, split)] += 1
    derived = not relation_values(configured)
    names = relation_names(table, configured)
    described = {str(r["value"]): r for r in configured or [] if isinstance(r, dict)}
    relations = []
    for value in names:
        entry = described.get(value, {})
        relations.append(
            {
                "value": value,
                "name": str(entry.get("name") or value),
                "description": str(entry.get("description") or ""),
                "examples": list(entry.get("examples") or []),
                "counts": {s: counts.get((value, s), 0) for s in SPLITS},
            }
        )
    known = set(names)
    unknown = sorted({r for r, _ in counts} - known)
    warnings = [
        f"relation {r['value']} has {r['counts']['train']} train arcs (under {min_count}): the parser will "
        "rarely predict it"
        for r in relations
        if 0 < r["counts"]["train"] < min_count
    ]
    warnings += [
        f"relation {r['value']} has no train arcs: the parser can never predict it"
        for r in relations
        if r["counts"]["train"] == 0
    ]
    if unknown:
        where = "the train split" if derived else "the schema file, n2path.class_design.schema"
        warnings.append(
            f"the data has relations outside the schema ({where}): {unknown}; list them in "
            "the schema file, or fix those sentences"
        )
    return {
        "relations": relations,
        "derived_from_train": derived,
        "unknown_relations": unknown,
        "arcs": {s: sum(c for (_, split), c in counts.items() if split == s) for s in SPLITS},
        "warnings": warnings,
    }


def n2path_review(schema: dict, cfg: dict, version: str) -> dict:
    """The class design review's data (tasks/class_review.py) for the dependency relations."""
    from tasks.class_review import design_review

    note = "Counts are arcs (one per word, punctuation included) per split." + (
        " The relations are derived from the train split (no schema file)." if schema["derived_from_train"] else ""
    )
    return design_review(
        "n2path",
        "tokens → dependency graph",
        "arcs",
        schema["relations"],
        schema["warnings"],
        cfg,
        version,
        notes=[note],
    )


# ---------------------------------------------------------------- encode


def _flat_words(rows: list[list[list[str]]]) -> list[list[str]]:
    """Per sentence, every morpheme (or tag) of every word: what build_vocab counts."""
    return [[x for word in row for x in word] for row in rows]


def build_parse_vocabs(table: pa.Table, cfg: dict, relations: list[str]) -> dict:
    """Vocabularies from the train split only: words, morphemes, POS tags, syllables; plus the relations."""
    train = table.filter(pc.equal(table.column("split"), "train"))
    max_size = int(cfg.get("max_size", 50000))
    words = train.column("words").to_pylist()
    return {
        "words": build_vocab(
            words, int(cfg.get("min_freq", 2)), max_size, lowercase=bool(cfg.get("lowercase", True))
        ).to_json(),
        "morphs": build_vocab(
            _flat_words(train.column("morphs").to_pylist()),
            int(cfg.get("morph_min_freq", 1)),
            max_size,
            lowercase=False,
        ).to_json(),
        "tags": build_vocab(_flat_words(train.column("tags").to_pylist()), 1, 1000, lowercase=False).to_json(),
        "chars": build_vocab(
            [[c for w in ws for c in w] for ws in words], int(cfg.get("char_min_freq", 1)), max_size, lowercase=False
        ).to_json(),
        "relations": list(relations),
    }


def encode_parse(table: pa.Table, vocabs: dict, partitions: dict | None = None) -> tuple[pa.Table, dict]:
    """Ids as list columns (nested per word for morphemes, tags, syllables); relations outside the schema -> -1.
    `partitions` (workers/chunk_size/runner, as encode.* in params): slices of rows on that runner."""
    from tasks import partition

    out, parts = partition.map_rows(table, _parse_ids, {"vocabs": vocabs}, partitions)

    def unk_share(column: pa.ChunkedArray | pa.Array, depth: int) -> float:
        flat = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        for _ in range(depth):
            flat = pc.list_flatten(flat)
        return round(pc.sum(pc.equal(flat, UNK)).as_py() / len(flat), 4) if len(flat) else 0.0

    rels = pc.list_flatten(out.column("rel_ids"))
    sizes = {f"{k[:-1]}_vocab": len(vocabs[k]["itos"]) for k in ("words", "morphs", "tags", "chars")}
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        **sizes,
        "relations": len(vocabs["relations"]),
        "word_unk_share": unk_share(out.column("word_ids"), 1),
        "morph_unk_share": unk_share(out.column("morph_ids"), 2),
        "arcs_outside_schema": int(pc.sum(pc.equal(rels, -1)).as_py() or 0),
        "partitions": parts,
    }
    return out, report


def _parse_ids(table: pa.Table, spec: dict) -> pa.Table:
    """One partition's id columns (a module-level function: process and Dask runners pickle it)."""
    vocabs = spec["vocabs"]
    words, morphs, tags, chars = (Vocab.from_json(vocabs[k]) for k in ("words", "morphs", "tags", "chars"))
    rel_index = {r: i for i, r in enumerate(vocabs["relations"])}
    word_rows = table.column("words").to_pylist()
    ids = {
        "word_ids": pa.array([words.ids(ws) for ws in word_rows], pa.list_(pa.int32())),
        "morph_ids": pa.array([[morphs.ids(m) for m in row] for row in table.column("morphs").to_pylist()], NESTED_IDS),
        "tag_ids": pa.array([[tags.ids(t) for t in row] for row in table.column("tags").to_pylist()], NESTED_IDS),
        "char_ids": pa.array([[chars.ids(list(w)) for w in ws] for ws in word_rows], NESTED_IDS),
        "rel_ids": pa.array(
            [[rel_index.get(r, -1) for r in rels] for rels in table.column("deprels").to_pylist()], pa.list_(pa.int32())
        ),
    }
    out = table
    for name, values in ids.items():
        out = out.append_column(name, values)
    return out
