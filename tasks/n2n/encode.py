"""N2N encode stage: syllables, morphemes, POS, source and BIO tags become id columns for the tagger.

The vocabularies are built from the train rows only, so dev and test meet unknown syllables as new text
will; the tags come from the entity types (the schema's, or train's), and a tag outside them becomes -1
for the validate stage to name.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tasks.vocab import Vocab, build_vocab

ID_COLUMNS = ("char_ids", "morph_ids", "pos_ids", "boundary", "tag_ids")


def tag_names(types: list[str]) -> list[str]:
    return ["O", *(f"{p}-{t}" for t in types for p in "BI")]


def entity_types(table: pa.Table, configured: list[str] | None) -> list[str]:
    if configured:
        return [str(t) for t in configured]
    train = table.filter(pc.equal(table.column("split"), "train"))
    return sorted({e["type"] for ents in train.column("entities").to_pylist() for e in ents})


def build_vocabs(table: pa.Table, cfg: dict, types: list[str]) -> dict:
    train = table.filter(pc.equal(table.column("split"), "train"))
    min_freq, max_size = int(cfg["min_freq"]), int(cfg["max_size"])
    return {
        "chars": build_vocab(train.column("chars").to_pylist(), min_freq, max_size, lowercase=False).to_json(),
        "morphs": build_vocab(
            train.column("char_morph").to_pylist(), int(cfg["morph_min_freq"]), max_size, lowercase=False
        ).to_json(),
        "pos": build_vocab(train.column("char_pos").to_pylist(), 1, 1000, lowercase=False).to_json(),
        "tags": tag_names(types),
        "domains": ["<pad>", "<unk>", *sorted(set(train.column("domain").to_pylist()))]
        if "domain" in train.column_names
        else ["<pad>", "<unk>"],
    }


def encode_ner(table: pa.Table, vocabs: dict, partitions: dict | None = None) -> tuple[pa.Table, dict]:
    """Syllables, morphemes, POS and BIO tags -> ids; tags outside the schema become -1 (validate names them).
    `partitions` (workers/chunk_size/runner, as encode.* in params): slices of rows on that runner."""
    from tasks import partition

    out, parts = partition.map_rows(table, _ner_ids, {"vocabs": vocabs}, partitions)
    chars, morphs, pos = (Vocab.from_json(vocabs[k]) for k in ("chars", "morphs", "pos"))
    flat = pc.list_flatten(out.column("char_ids"))
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        "char_vocab": len(chars),
        "morph_vocab": len(morphs),
        "pos_vocab": len(pos),
        "tags": len(vocabs["tags"]),
        "char_unk_share": round(pc.sum(pc.equal(flat, 1)).as_py() / max(1, len(flat)), 4),
        "partitions": parts,
    }
    return out, report


def _ner_ids(table: pa.Table, spec: dict) -> pa.Table:
    """One partition's id columns (a module-level function: process and Dask runners pickle it)."""
    vocabs = spec["vocabs"]
    chars, morphs, pos = (Vocab.from_json(vocabs[k]) for k in ("chars", "morphs", "pos"))
    tag_index = {t: i for i, t in enumerate(vocabs["tags"])}
    ids = {
        "char_ids": [chars.ids(x) for x in table.column("chars").to_pylist()],
        # Spaces and unaligned syllables have no morpheme: padding id 0, which embeds to zeros.
        "morph_ids": [[morphs.ids([m])[0] if m else 0 for m in x] for x in table.column("char_morph").to_pylist()],
        "pos_ids": [[pos.ids([p])[0] if p else 0 for p in x] for x in table.column("char_pos").to_pylist()],
        "tag_ids": [[tag_index.get(t, -1) for t in x] for x in table.column("tags").to_pylist()],
    }
    # A model directory's vocab.json from before the domain feature has no "domains": every row is <unk>.
    domains = {d: i for i, d in enumerate(vocabs.get("domains", ["<pad>", "<unk>"]))}
    row_domains = table.column("domain").to_pylist() if "domain" in table.column_names else ["<unk>"] * table.num_rows
    ids["domain_ids"] = [[domains.get(d, 1)] * len(x) for d, x in zip(row_domains, ids["char_ids"])]
    out = table
    for name, values in ids.items():
        out = out.append_column(name, pa.array(values, pa.list_(pa.int32())))
    return out
