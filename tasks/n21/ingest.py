"""Ingest: an N21 data file -> one canonical table, a quarantine table and a report.

Canonical N21 table: id, text, label, split, source_file, source_row. The file is read by
tasks/n21/formats.py; here its columns are mapped (params key data.columns) and rows that cannot be used
(an empty text, label or id, a split that is not train/dev/test, a JSON object or list where a text is
expected) join the reader's quarantined records instead of being dropped silently. "none", "NA", "null"
or "-" is a value (a hate-speech corpus has the class `none`). Labels are normalised ('2', '2   ', 2 and
2.0 are one class) and the report says which spellings merged.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa

from tasks.n21.formats import NSMC_COLUMNS, QUARANTINE, read_rows
from tasks.splits import SPLITS, IngestError, assign_splits, refuse_all_quarantined
from tasks.textfile import MAX_RAW, normalize_label, reason_kind

CANONICAL = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("split", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)


def canonicalize(
    raw: pd.DataFrame,
    columns: dict,
    source_file: str,
    split_cfg: dict,
    source_rows: list[int] | None = None,
    nested: dict[int, dict[str, str]] | None = None,
) -> tuple[pa.Table, pa.Table, dict]:
    """Map raw columns to the canonical table; return (kept rows, quarantined rows, label spellings).

    `nested` (RawRows.nested): JSON objects or lists read from a record; one in a mapped column
    quarantines the row, since a text, label or id is one value."""
    # YAML and --set read `text: 1` (a column position) as a number; the file's column names are strings.
    columns = {name: None if raw_name is None else str(raw_name) for name, raw_name in columns.items()}
    missing = [raw_name for name, raw_name in columns.items() if raw_name and raw_name not in raw.columns]
    if missing:
        raise IngestError(
            f"{source_file}: column(s) {missing} not found; the file has {list(raw.columns)}. "
            "Map them with params key data.columns (e.g. --set n21.data.columns.text=document)."
        )
    # Row numbers as a person sees them in an editor: line 1 is the header.
    source_row = pd.Series(
        source_rows if source_rows is not None else range(2, len(raw) + 2), index=raw.index, dtype="int64"
    )
    text = _cells(raw, columns["text"])
    label = _cells(raw, columns["label"]).map(normalize_label)
    raw_label = raw[columns["label"]].fillna("").astype(str) if columns["label"] else label
    ids = _cells(raw, columns["id"]) if columns["id"] else source_row.astype(str)

    reasons = pd.Series("", index=raw.index)
    used = {raw_name: name for name, raw_name in columns.items() if raw_name}
    for pos, kinds in (nested or {}).items():
        hit = next((k for k in kinds if k in used), None)
        if hit is not None:
            reasons.iloc[pos] = (
                f"{used[hit]} (key {hit!r}) is a JSON {kinds[hit]}, not one value; write it as a string or a number"
            )
    reasons[(reasons == "") & (text == "")] = "empty text"
    reasons[(reasons == "") & (label == "")] = "empty label"
    reasons[(reasons == "") & (ids == "")] = "empty id"
    if columns["split"]:
        split = raw[columns["split"]].astype(str).str.strip().str.lower()
        reasons[(reasons == "") & ~split.isin(SPLITS)] = "split not one of train/dev/test"
    else:
        split = pd.Series(assign_splits(text.tolist(), **split_cfg), index=raw.index)

    bad = reasons != ""
    kept = pa.table(
        {
            "id": ids[~bad].tolist(),
            "text": text[~bad].tolist(),
            "label": label[~bad].tolist(),
            "split": split[~bad].tolist(),
            "source_file": [source_file] * int((~bad).sum()),
            "source_row": source_row[~bad].tolist(),
        },
        schema=CANONICAL,
    )
    raw_lines = raw[bad].fillna("").astype(str).agg("\t".join, axis=1) if bad.any() else pd.Series([], dtype=str)
    quarantined = pa.table(
        {
            "source_file": [source_file] * int(bad.sum()),
            "source_row": source_row[bad].tolist(),
            "raw": raw_lines.str.slice(0, MAX_RAW).tolist(),
            "reason": reasons[bad].tolist(),
        },
        schema=QUARANTINE,
    )
    return kept, quarantined, _spellings(raw_label[~bad], label[~bad])


def _cells(raw: pd.DataFrame, column: str | None) -> pd.Series:
    """A column's cells stripped; empty for a missing cell (the readers' "" for an empty cell or null).
    "none", "NA" or "-" is what a person wrote and stays: it can be a real class."""
    if not column:
        return pd.Series("", index=raw.index)
    return raw[column].fillna("").astype(str).str.strip()


def _spellings(raw_label: pd.Series, label: pd.Series) -> dict:
    """{label: {spelling: rows}} for labels the file writes in more than one way ('2', '2   ', '2.0')."""
    merged = set(label[raw_label != label])
    if not merged:
        return {}
    counts = pd.DataFrame({"label": label, "spelling": raw_label.map(repr)}).value_counts()
    out: dict = {}
    for (value, spelling), n in sorted(counts.items()):
        if value in merged:
            out.setdefault(value, {})[spelling] = int(n)
    return out


def ingest(data_cfg: dict) -> tuple[pa.Table, pa.Table, dict]:
    """The ingest stage: params `data` section -> (canonical table, quarantine, report).

    `data.header: false` reads a CSV/TSV file without a header line (columns "0", "1", ...)."""
    fmt, path = data_cfg["format"], str(data_cfg["path"])
    columns = NSMC_COLUMNS if fmt == "nsmc" else dict(data_cfg["columns"])
    header = bool(data_cfg["header"])
    raw = read_rows(path, fmt, data_cfg["encoding"], header)
    rows_in = len(raw.frame) + len(raw.quarantined)
    if rows_in == 0:
        raise IngestError(
            f"{path}: the file has a header line but no data rows" if header else f"{path}: the file has no data rows"
        )
    kept, quarantined, spellings = canonicalize(raw.frame, columns, path, data_cfg["split"], raw.rows, raw.nested)
    if raw.quarantined:
        quarantined = pa.concat_tables([pa.Table.from_pylist(raw.quarantined, schema=QUARANTINE), quarantined])
        quarantined = quarantined.sort_by("source_row")
    duplicated = pd.Series(kept.column("id").to_pylist()).duplicated()
    if duplicated.any():
        rows = kept.column("source_row").to_pylist()
        first = [rows[i] for i in duplicated[duplicated].index[:5]]
        raise IngestError(
            f"{path}: {int(duplicated.sum())} duplicate id(s), e.g. on rows {first}; "
            "ids must be unique (map another column with data.columns.id, or set it to null to number rows)"
        )
    splits = pd.Series(kept.column("split").to_pylist()).value_counts().to_dict()
    report = {
        "rows_in": rows_in,
        "rows_kept": kept.num_rows,
        "rows_quarantined": quarantined.num_rows,
        "quarantine_reasons": dict(Counter(map(reason_kind, quarantined.column("reason").to_pylist()))),
        "splits": {s: int(splits.get(s, 0)) for s in SPLITS},
        "source": path,
        "source_sha256": file_digest(path),
    }
    if spellings:
        # '2', '2   ' and 2 are one class, not three: say which spellings were merged.
        report["label_spellings_normalized"] = spellings
    report.update(raw.notes)
    refuse_all_quarantined(report, quarantined)
    if report["splits"]["train"] == 0:
        raise IngestError(f"{path}: no training rows after splitting; check data.split and data.columns.split")
    return kept, quarantined, report


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
