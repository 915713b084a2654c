"""N2Path encode: vocabularies from the train split and id columns for the parser.

Vocabularies of words, morphemes, POS tags and syllables come from the train split only, so dev and test
see unknowns as new text would. Encode adds word_ids, morph_ids, tag_ids, char_ids (syllables, nested per
word as morphemes and tags are) and rel_ids (-1: a relation not in the schema) to the tokenized table.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tasks.vocab import UNK, Vocab, build_vocab

NESTED_IDS = pa.list_(pa.list_(pa.int32()))


def _flat_words(rows: list[list[list[str]]]) -> list[list[str]]:
    """Per sentence, every morpheme (or tag) of every word: what build_vocab counts."""
    return [[x for word in row for x in word] for row in rows]


def build_parse_vocabs(table: pa.Table, cfg: dict, relations: list[str]) -> dict:
    """Vocabularies from the train split only: words, morphemes, POS tags, syllables; plus the relations."""
    train = table.filter(pc.equal(table.column("split"), "train"))
    max_size = int(cfg["max_size"])
    words = train.column("words").to_pylist()
    return {
        "words": build_vocab(words, int(cfg["min_freq"]), max_size, lowercase=bool(cfg["lowercase"])).to_json(),
        "morphs": build_vocab(
            _flat_words(train.column("morphs").to_pylist()),
            int(cfg["morph_min_freq"]),
            max_size,
            lowercase=False,
        ).to_json(),
        "tags": build_vocab(_flat_words(train.column("tags").to_pylist()), 1, 1000, lowercase=False).to_json(),
        "chars": build_vocab(
            [[c for w in ws for c in w] for ws in words], int(cfg["char_min_freq"]), max_size, lowercase=False
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
