"""N21's file formats: a data file read strictly into string records, before any column is mapped.

Formats: nsmc (NSMC's own `id<TAB>document<TAB>label`), csv, tsv, jsonl, parquet. Undecodable bytes and
empty files are errors that name the file and the line; a record that cannot be one row (the wrong number
of fields, invalid JSON, a JSON value that is not an object, a line over textfile.MAX_LINE_CHARS) is
quarantined with the file, the row number (the editor's line), the raw content and the reason. Only an empty
cell, a JSON null or a Parquet null reads as missing (""). CSV/TSV files without a header line
(`data.header: false`) name their columns by position: "0", "1", ... The ingest stage (tasks/n21/ingest.py)
and `hanflow evaluate` both read through here, so a file reads the same way in training and in evaluation.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.splits import IngestError
from tasks.textfile import MAX_RAW, check_file, csv_records, fields_count, long_line, read_text

FORMATS = ("nsmc", "csv", "tsv", "jsonl", "parquet")
# NSMC's own layout: `id<TAB>document<TAB>label`, never quoted (130 reviews contain `"`).
NSMC_COLUMNS = {"id": "id", "text": "document", "label": "label", "split": None}

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
