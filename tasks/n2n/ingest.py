"""N2N ingest stage: every NER source in params `data` becomes one table of sentences with character-span entities.

The readers (tasks/n2n/formats.py) turn each corpus format into canonical records; here the sources are
combined, entity types mapped (data.type_map), bad sentences quarantined with a reason (empty text, duplicate
ids, an unknown split) and the rest given a split, so every later stage sees one table whatever the corpora.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from tasks.splits import SPLITS, assign_splits, refuse_all_quarantined
from tasks.textfile import reason_kind

ENTITY = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("type", pa.string())])
QUARANTINE = pa.schema(
    [("source_file", pa.string()), ("source_row", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)


def ingest_ner(data_cfg: dict) -> tuple[pa.Table, pa.Table, dict]:
    """Every source in params `data` -> one table (id, text, entities, split, source_file, source_row)."""
    from tasks.n2n import formats
    from tasks.n2n.formats import map_types, read_ner

    # data.path is the main source (and DVC's dependency); extra_sources add more, e.g. a second corpus.
    sources = [
        {"path": data_cfg["path"], "format": data_cfg["format"], "split": data_cfg["split_as"]},
        *(data_cfg["extra_sources"] or []),
    ]
    records, quarantined, per_source = [], [], []
    notes: Counter[str] = Counter()  # repairs made to sentences that were kept (formats.last_read_notes)
    for source in sources:
        got, bad = read_ner(source["path"], source["format"], data_cfg["encoding"])
        notes.update(formats.last_read_notes)
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
    if data_cfg["type_map"]:
        records, type_report = map_types(
            records, dict(data_cfg["type_map"]), keep_unmapped=bool(data_cfg["keep_unmapped_types"])
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
