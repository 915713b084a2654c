"""N2N (token -> tag) for named entities: ingest, syllable features, encode, spans and metrics.

Why syllables, not morphemes: an entity boundary often falls inside a morpheme as the
tagger cuts it (Mecab glues 씨 or a particle onto a name, or splits a date differently from
the annotators), so tagging morphemes loses those entities before training starts. The
tokenize stage measures exactly that (`entities_off_morpheme_boundaries`). Tagging every
syllable keeps every span exact, and each syllable still carries its morpheme, the
morpheme's POS and its position in the word as features, so the tagger's analysis is used.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from tasks.splits import SPLITS, assign_splits, refuse_all_quarantined
from tasks.textfile import reason_kind
from tasks.vocab import Vocab, build_vocab

ENTITY = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("type", pa.string())])
QUARANTINE = pa.schema(
    [("source_file", pa.string()), ("source_row", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)
# Syllable position: 0 is padding, then word start, morpheme start inside a word, anything else.
WORD_START, MORPH_START, INSIDE = 1, 2, 3
ID_COLUMNS = ("char_ids", "morph_ids", "pos_ids", "boundary", "tag_ids")


# ---------------------------------------------------------------- ingest


def ingest_ner(data_cfg: dict) -> tuple[pa.Table, pa.Table, dict]:
    """Every source in params `data` -> one table (id, text, entities, split, source_file, source_row)."""
    from tasks import ner_formats
    from tasks.ner_formats import map_types, read_ner

    # data.path is the main source (and DVC's dependency); extra_sources add more, e.g. a second corpus.
    sources = [
        {"path": data_cfg["path"], "format": data_cfg["format"], "split": data_cfg.get("split_as")},
        *(data_cfg.get("extra_sources") or []),
    ]
    records, quarantined, per_source = [], [], []
    notes: Counter[str] = Counter()  # repairs made to sentences that were kept (ner_formats.last_read_notes)
    for source in sources:
        got, bad = read_ner(source["path"], source["format"], data_cfg.get("encoding", "utf-8"))
        notes.update(ner_formats.last_read_notes)
        for rec in got:
            # A split named by the source (e.g. a contest's dev file) wins over hashing.
            rec["split"] = rec.get("split") or source.get("split_as") or source.get("split")
            rec["domain"] = str(source.get("domain") or source["format"])
        records += got
        quarantined += bad
        per_source.append(
            {"path": str(source["path"]), "format": source["format"], "rows": len(got), "quarantined": len(bad)}
        )
    type_report = None
    if data_cfg.get("type_map"):
        records, type_report = map_types(
            records, dict(data_cfg["type_map"]), keep_unmapped=bool(data_cfg.get("keep_unmapped_types", False))
        )

    kept, seen = [], set()
    for rec in records:
        reason = ""
        if not rec["text"].strip():
            reason = "empty text"
        elif rec["id"] in seen:
            reason = f"duplicate id {rec['id']!r}: ids must be unique across all sources"
        elif rec.get("split") not in (None, *SPLITS):
            reason = f"split {rec['split']!r} is not one of train/dev/test"
        if reason:
            quarantined.append(
                {
                    "source_file": rec["source_file"],
                    "source_row": rec["source_row"],
                    "raw": rec["text"][:2000],
                    "reason": reason,
                }
            )
            continue
        seen.add(rec["id"])
        kept.append(rec)
    unsplit = [i for i, rec in enumerate(kept) if not rec.get("split")]
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

    table = pa.table(
        {
            "id": [r["id"] for r in kept],
            "text": [r["text"] for r in kept],
            "entities": pa.array([r["entities"] for r in kept], pa.list_(ENTITY)),
            "split": [r["split"] for r in kept],
            "domain": [r["domain"] for r in kept],
            "source_file": [str(r["source_file"]) for r in kept],
            "source_row": pa.array([int(r["source_row"]) for r in kept], pa.int64()),
        }
    )
    quarantine = pa.Table.from_pylist(quarantined, schema=QUARANTINE)
    splits = Counter(r["split"] for r in kept)
    report = {
        "rows_in": len(kept) + len(quarantined),
        "rows_kept": len(kept),
        "rows_quarantined": len(quarantined),
        "quarantine_reasons": dict(Counter(reason_kind(q["reason"]) for q in quarantined)),
        "splits": {s: splits.get(s, 0) for s in SPLITS},
        "entities": dict(Counter(e["type"] for r in kept for e in r["entities"])),
        "sources": per_source,
    }
    if type_report:
        report["type_map"] = type_report
    if notes:
        report["repairs"] = dict(notes)
    refuse_all_quarantined(report, quarantine)
    if report["splits"]["train"] == 0:
        raise ValueError(
            f"{[s['path'] for s in sources]}: no training sentences; check data.split and the sources' split"
        )
    return table, quarantine, report


# ---------------------------------------------------------------- syllable features


def align_morphemes(text: str, morphemes: list[str]) -> list[tuple[int, int] | None]:
    """Character span of each morpheme in `text`, left to right; None where the surface is not found.

    Mecab keeps surfaces; a tagger that normalizes (Okt) may not, so a morpheme is looked for
    only a little ahead and the cursor never jumps over text another morpheme could own.
    """
    spans: list[tuple[int, int] | None] = []
    cursor, lost = 0, 0
    for morph in morphemes:
        # After an unaligned morpheme the text it rewrote lies ahead, so allow skipping that much.
        reach = len(morph) + 8 + 4 * lost
        at = text.find(morph, cursor, cursor + reach) if morph else -1
        if at < 0 or (not lost and text[cursor:at].strip()):
            spans.append(None)
            lost += 1
            continue
        spans.append((at, at + len(morph)))
        cursor, lost = at + len(morph), 0
    return spans


def syllable_features(text: str, morphemes: list[str], pos: list[str]) -> tuple[list[str], list[str], list[int], int]:
    """Per syllable: its morpheme, that morpheme's POS, its boundary id; plus the unaligned count."""
    n = len(text)
    char_morph, char_pos = [""] * n, [""] * n
    starts = set()
    spans = align_morphemes(text, morphemes)
    for span, morph, tag in zip(spans, morphemes, pos):
        if span is None:
            continue
        starts.add(span[0])
        for i in range(*span):
            char_morph[i], char_pos[i] = morph, tag
    boundary = []
    for i, ch in enumerate(text):
        if not ch.isspace() and (i == 0 or text[i - 1].isspace()):
            boundary.append(WORD_START)
        elif i in starts:
            boundary.append(MORPH_START)
        else:
            boundary.append(INSIDE)
    return char_morph, char_pos, boundary, sum(s is None for s in spans)


def bio_tags(n: int, entities: list[dict]) -> list[str]:
    tags = ["O"] * n
    for e in entities:
        tags[e["start"]] = f"B-{e['type']}"
        for i in range(e["start"] + 1, e["end"]):
            tags[i] = f"I-{e['type']}"
    return tags


def tokenize_ner(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """The tokenize stage: morphemes from the KoNLPy tagger, spread over the sentence's syllables."""
    from tasks.tokenize import tokenize_table

    tagged, tok_report = tokenize_table(table, cfg)
    texts = table.column("text").to_pylist()
    entities = table.column("entities").to_pylist() if "entities" in table.column_names else [[] for _ in texts]
    cols: dict[str, list] = {"chars": [], "char_morph": [], "char_pos": [], "boundary": [], "tags": []}
    unaligned = off_boundary = n_entities = 0
    for text, morphs, pos, ents in zip(
        texts, tagged.column("tokens").to_pylist(), tagged.column("pos").to_pylist(), entities
    ):
        char_morph, char_pos, boundary, missed = syllable_features(text, morphs, pos)
        unaligned += missed
        morph_starts = {i for i, b in enumerate(boundary) if b in (WORD_START, MORPH_START)}
        for e in ents or []:
            n_entities += 1
            end_ok = e["end"] == len(text) or e["end"] in morph_starts or text[e["end"]].isspace()
            off_boundary += not (e["start"] in morph_starts and end_ok)
        cols["chars"].append(list(text))
        cols["char_morph"].append(char_morph)
        cols["char_pos"].append(char_pos)
        cols["boundary"].append(boundary)
        cols["tags"].append(bio_tags(len(text), ents or []))
    out = tagged
    for name, values in cols.items():
        out = out.append_column(name, pa.array(values, pa.list_(pa.int8() if name == "boundary" else pa.string())))
    report = {
        **tok_report,
        "morphemes_unaligned": unaligned,
        "entities": n_entities,
        # What tagging morphemes instead of syllables would lose (module docstring).
        "entities_off_morpheme_boundaries": off_boundary,
    }
    return out, report


# ---------------------------------------------------------------- encode


def tag_names(types: list[str]) -> list[str]:
    return ["O", *(f"{p}-{t}" for t in types for p in "BI")]


def entity_types(table: pa.Table, configured: list[str] | None) -> list[str]:
    if configured:
        return [str(t) for t in configured]
    train = table.filter(pc.equal(table.column("split"), "train"))
    return sorted({e["type"] for ents in train.column("entities").to_pylist() for e in ents})


def build_vocabs(table: pa.Table, cfg: dict, types: list[str]) -> dict:
    train = table.filter(pc.equal(table.column("split"), "train"))
    min_freq, max_size = int(cfg.get("min_freq", 1)), int(cfg.get("max_size", 50000))
    return {
        "chars": build_vocab(train.column("chars").to_pylist(), min_freq, max_size, lowercase=False).to_json(),
        "morphs": build_vocab(
            train.column("char_morph").to_pylist(), int(cfg.get("morph_min_freq", 2)), max_size, lowercase=False
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
    domains = {d: i for i, d in enumerate(vocabs.get("domains", ["<pad>", "<unk>"]))}
    row_domains = table.column("domain").to_pylist() if "domain" in table.column_names else ["<unk>"] * table.num_rows
    ids["domain_ids"] = [[domains.get(d, 1)] * len(x) for d, x in zip(row_domains, ids["char_ids"])]
    out = table
    for name, values in ids.items():
        out = out.append_column(name, pa.array(values, pa.list_(pa.int32())))
    return out


# ---------------------------------------------------------------- spans and metrics


def spans_from_tags(tags: list[str], text: str | None = None) -> list[tuple[int, int, str]]:
    """(start, end, type) per entity; a span never keeps surrounding spaces."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            spans.append((start, i, kind))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    if text is not None:
        trimmed = []
        for s, e, t in spans:
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if s < e:
                trimmed.append((s, e, t))
        spans = trimmed
    return spans


def entity_metrics(gold: list[list[tuple]], pred: list[list[tuple]], types: list[str]) -> dict:
    """Entity-level precision/recall/F1 on exact character spans and type, micro and per type."""
    counts = {t: Counter() for t in types}
    for g, p in zip(gold, pred):
        g, p = set(map(tuple, g)), set(map(tuple, p))
        for span in g & p:
            counts.setdefault(span[2], Counter())["tp"] += 1
        for span in p - g:
            counts.setdefault(span[2], Counter())["fp"] += 1
        for span in g - p:
            counts.setdefault(span[2], Counter())["fn"] += 1

    def prf(c: Counter) -> dict:
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": c["tp"] + c["fn"],
            "predicted": c["tp"] + c["fp"],
        }

    total = sum(counts.values(), Counter())
    per_type = {t: prf(c) for t, c in counts.items()}
    macro = [per_type[t]["f1"] for t in per_type if per_type[t]["support"]]
    return {
        **{k: v for k, v in prf(total).items()},
        "macro_f1": sum(macro) / len(macro) if macro else 0.0,
        "per_type": per_type,
    }


def gazetteer_baseline(train: pa.Table, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    """Tag every occurrence of an entity string seen in train with its most frequent type, longest first."""
    seen: dict[str, Counter] = {}
    for text, ents in zip(train.column("text").to_pylist(), train.column("entities").to_pylist()):
        for e in ents:
            seen.setdefault(text[e["start"] : e["end"]], Counter())[e["type"]] += 1
    names = sorted((s for s in seen if len(s) > 1), key=len, reverse=True)
    out = []
    for text in texts:
        taken = [False] * len(text)
        spans = []
        for name in names:
            start = text.find(name)
            while start >= 0:
                end = start + len(name)
                if not any(taken[start:end]):
                    spans.append((start, end, seen[name].most_common(1)[0][0]))
                    taken[start:end] = [True] * len(name)
                start = text.find(name, end)
        out.append(sorted(spans))
    return out
