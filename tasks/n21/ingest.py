"""Ingest: raw files in real formats -> one canonical table.

Canonical N21 table: id, text, label, split, source_file, source_row.
Rows that cannot be used (an empty text, label or id, the wrong number of fields, invalid JSON, a
JSON object or list where a text is expected, a line over textfile.MAX_LINE_CHARS) are not dropped
silently: they go to a quarantine table with the source file, the row number (the editor's line), the
raw content and the reason. Only an empty cell, a JSON null or a Parquet null is missing: "none",
"NA", "null" or "-" is a value (a hate-speech corpus has the class `none`). Labels are normalised
('2', '2   ', 2 and 2.0 are one class) and the report says which spellings merged. CSV/TSV files
without a header line (`data.header: false`) name their columns by position: "0", "1", ...
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.splits import SPLITS, IngestError, assign_splits, refuse_all_quarantined
from tasks.textfile import (
    MAX_RAW,
    check_file,
    csv_records,
    fields_count,
    long_line,
    normalize_label,
    read_text,
    reason_kind,
)

FORMATS = ("nsmc", "csv", "tsv", "jsonl", "parquet")
# NSMC's own layout: `id<TAB>document<TAB>label`, never quoted (130 reviews contain `"`).
NSMC_COLUMNS = {"id": "id", "text": "document", "label": "label", "split": None}

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
QUARANTINE = pa.schema(
    [("source_file", pa.string()), ("source_row", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)


@dataclass
class RawRows:
    """A data file read as strings, before columns are mapped."""

    frame: pd.DataFrame  # one row per record that has the file's shape, every cell a string
    rows: list[int]  # each record's row number: the editor's line (CSV/TSV/JSONL), 1-based row (Parquet)
    quarantined: list[dict] = field(default_factory=list)  # records without that shape (QUARANTINE fields)
    notes: dict = field(default_factory=dict)  # what reading normalised, for the ingest report
    # JSONL: {record position: {key: "object" | "list"}} for values that are not one text, number or bool
    nested: dict[int, dict[str, str]] = field(default_factory=dict)


def read_rows(path: str | Path, fmt: str, encoding: str = "utf-8", header: bool = True) -> RawRows:
    """Read a data file strictly: undecodable bytes and empty files are errors that name the file and
    the line; a record with the wrong number of fields, invalid JSON or an overlong line is quarantined.
    `header=False` (CSV/TSV only): no header line; columns are named "0", "1", ... by position."""
    path = Path(path)
    if fmt not in FORMATS:
        raise IngestError(f"{path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)} (params key data.format)")
    if not header and fmt not in ("csv", "tsv"):
        raise IngestError(
            f"{path}: data.header is false, which only the csv and tsv formats read (format {fmt!r}); "
            "set data.format to tsv or csv for a file without a header line, or data.header: true"
        )
    try:
        check_file(path)
        if fmt == "parquet":
            return _read_parquet(path)
        text = read_text(path, encoding)
        if fmt == "jsonl":
            return _read_jsonl(text, path)
        return _read_delimited(text, path, fmt, header)
    except IngestError:
        raise
    except (ValueError, FileNotFoundError) as err:  # textfile's messages name the file, the line and the fix
        raise IngestError(str(err)) from None


def _bad(path: Path, row: int, raw: str, reason: str) -> dict:
    return {"source_file": str(path), "source_row": row, "raw": raw[:MAX_RAW], "reason": reason}


def _read_delimited(text: str, path: Path, fmt: str, has_header: bool = True) -> RawRows:
    delimiter = "," if fmt == "csv" else "\t"
    # NSMC and TSV are never quoted: a `"` inside a review is text (130 NSMC reviews have one).
    header, records = csv_records(
        text, path, delimiter, csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE, has_header
    )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise IngestError(f"{path}: line 1: the header names column(s) {dupes} more than once; rename them")
    shape = "the header has" if has_header else "most rows have (no header line)"
    data, rows, bad = [], [], []
    for first, last, fields in records:
        raw = delimiter.join(fields)
        if len(fields) != len(header):
            fix = (
                "quote fields that contain a comma, or fix the row"
                if fmt == "csv"
                else "a tab inside a field or a missing field? fix the row"
            )
            span = (
                f" (the record spans lines {first}-{last}: check for an unbalanced double quote that merged rows)"
                if first != last
                else ""
            )
            reason = f"{fields_count(len(fields))}, {shape} {len(header)}; {fix}{span}"
            bad.append(_bad(path, first, raw, reason))
        elif (too_long := long_line([raw], first)) is not None:
            bad.append(_bad(path, first, raw, too_long))
        else:
            data.append(fields)
            rows.append(first)
    return RawRows(pd.DataFrame(data, columns=header, dtype=str), rows, bad)


def _read_jsonl(text: str, path: Path) -> RawRows:
    records, rows, bad = [], [], []
    nested: dict[int, dict[str, str]] = {}
    numbers: Counter[str] = Counter()
    for row, line in enumerate(text.split("\n"), 1):  # not splitlines(): it also splits on U+2028
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        if (too_long := long_line([line], row)) is not None:
            bad.append(_bad(path, row, line, too_long))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            bad.append(_bad(path, row, line, f"invalid JSON ({err.msg}, column {err.colno}); fix or remove the line"))
            continue
        if not isinstance(obj, dict):
            bad.append(
                _bad(path, row, line, f"expected a JSON object, got {type(obj).__name__}; write one object per line")
            )
            continue
        numbers.update(k for k, v in obj.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
        kinds = {k: "object" if isinstance(v, dict) else "list" for k, v in obj.items() if isinstance(v, (dict, list))}
        if kinds:
            nested[len(records)] = kinds
        records.append({k: _json_cell(v) for k, v in obj.items()})
        rows.append(row)
    notes = {"json_numbers_read_as_text": dict(numbers)} if numbers else {}
    return RawRows(pd.DataFrame(records, dtype=str).fillna(""), rows, bad, notes, nested)


def _json_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _read_parquet(path: Path) -> RawRows:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise IngestError(f"{path}: cannot be read as parquet: {err}") from None
    columns = {}
    for name in table.column_names:
        # Cast in Arrow: through pandas, an int column with a null becomes float and 2 -> "2.0".
        try:
            columns[name] = table.column(name).cast(pa.string())
        except pa.ArrowException:
            raise IngestError(
                f"{path}: column {name!r} has type {table.schema.field(name).type}, which cannot be "
                "read as text; store text, labels and ids as strings or numbers"
            ) from None
    frame = pa.table(columns).to_pandas().fillna("") if columns else pd.DataFrame()
    return RawRows(frame, list(range(1, table.num_rows + 1)))


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
    label = _cells(raw, columns.get("label")).map(normalize_label)
    raw_label = raw[columns["label"]].fillna("").astype(str) if columns.get("label") else label
    ids = _cells(raw, columns["id"]) if columns.get("id") else source_row.astype(str)

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
    if columns.get("split"):
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
    header = bool(data_cfg.get("header", True))
    raw = read_rows(path, fmt, data_cfg.get("encoding", "utf-8"), header)
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
