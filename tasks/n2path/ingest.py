"""N2Path ingest: every treebank source in params `data` read into one canonical table, split assigned.

Pure functions over Arrow tables; flows/n2path.py moves their results between files. The readers
(tasks/n2path/formats.py) turn each file into sentence dicts; here sources are combined, sentences that
cannot be used (an empty word, a duplicate id, an unknown split) go to quarantine with a reason, and the
rest get a train/dev/test split (tasks/splits.py) unless their source names one.

The unit is the treebank's word (an eojeol, or a piece UD split off it such as punctuation).
Canonical table: id, text, words, lemmas, xpos, heads (1-based, 0 = root), deprels, split,
source_file, source_row.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from tasks.splits import SPLITS, assign_splits, refuse_all_quarantined
from tasks.textfile import check_file

FORMATS = ("conllu", "klue_dp")
SUFFIXES = {"conllu": (".conllu",), "klue_dp": (".tsv",)}
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
    from tasks.n2path.formats import read_conllu, read_klue_dp

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
    """Canonical table from sentence dicts (the readers' form); a field a format or predict lacks gets a
    placeholder ('_' per word, heads 0, no split)."""

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
        {"path": data_cfg["path"], "format": data_cfg["format"], "split_as": data_cfg["split_as"]},
        *(data_cfg["extra_sources"] or []),  # null allowed, as []
    ]
    encoding = data_cfg["encoding"]
    # An extra source names its path; format, encoding and split_as are optional, defaulting to data's.
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
