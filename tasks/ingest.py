"""Ingest: raw files in real formats -> one canonical table.

Canonical N21 table: id, text, label, split, source_file, source_row.
Rows that cannot be used (empty text, missing label) are not dropped silently: they go to a
quarantine table with the source file, the row number and the reason.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SPLITS = ("train", "dev", "test")
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


class IngestError(ValueError):
    pass


def read_raw(path: str | Path, fmt: str, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a file as strings, one DataFrame row per data row (header excluded)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise IngestError(f"{path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)} (params key data.format)")
    if not path.exists():
        raise IngestError(f"{path}: file not found (params key data.path)")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty; expected a header line and data rows")
    try:
        if fmt in ("nsmc", "tsv"):
            return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False,
                               encoding=encoding)
        if fmt == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
        if fmt == "jsonl":
            return _read_jsonl(path, encoding)
        # Cast in Arrow: through pandas, an int column with a null becomes float and 2 -> "2.0".
        table = pq.read_table(path)
        return table.cast(pa.schema([(name, pa.string()) for name in table.column_names])).to_pandas().fillna("")
    except UnicodeDecodeError as err:
        raise IngestError(f"{path}: {_decode_error_position(path, encoding)} is not valid {encoding}; convert the file "
                          "to UTF-8 or set data.encoding (e.g. cp949 for files saved by Korean Windows tools)") from err
    except (pd.errors.ParserError, ValueError) as err:
        raise IngestError(f"{path}: cannot be read as {fmt}: {err}") from err


def _read_jsonl(path: Path, encoding: str) -> pd.DataFrame:
    rows = []
    with open(path, encoding=encoding) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise IngestError(f"{path}: line {line_no} is not valid JSON ({err.msg}); fix or remove that line") from err
            if not isinstance(obj, dict):
                raise IngestError(f"{path}: line {line_no} is a JSON {type(obj).__name__}, expected an object")
            rows.append({k: "" if v is None else str(v) for k, v in obj.items()})
    return pd.DataFrame(rows, dtype=str).fillna("")


def _decode_error_position(path: Path, encoding: str) -> str:
    """Where the first undecodable byte is, as a line and byte offset of the whole file."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return f"line {line} (byte {err.start})"
    return "a byte"


def canonicalize(
    raw: pd.DataFrame, columns: dict, source_file: str, split_cfg: dict
) -> tuple[pa.Table, pa.Table]:
    """Map raw columns to the canonical table; return (kept rows, quarantined rows)."""
    missing = [raw_name for name, raw_name in columns.items() if raw_name and raw_name not in raw.columns]
    if missing:
        raise IngestError(
            f"{source_file}: column(s) {missing} not found; the file has {list(raw.columns)}. "
            "Map them with params key data.columns (e.g. --set n21.data.columns.text=document)."
        )
    # Row numbers as a person sees them in an editor: line 1 is the header.
    source_row = pd.Series(range(2, len(raw) + 2), index=raw.index)
    text = raw[columns["text"]].fillna("").astype(str).str.strip()
    label = raw[columns["label"]].fillna("").astype(str).str.strip() if columns.get("label") else pd.Series("", index=raw.index)
    ids = raw[columns["id"]].astype(str).str.strip() if columns.get("id") else source_row.astype(str)

    reasons = pd.Series("", index=raw.index)
    reasons[text == ""] = "empty text"
    reasons[(reasons == "") & (label == "")] = "empty label"
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
            "raw": raw_lines.tolist(),
            "reason": reasons[bad].tolist(),
        },
        schema=QUARANTINE,
    )
    return kept, quarantined


def assign_splits(texts: list[str], dev: float, test: float, seed: int) -> list[str]:
    """Deterministic split from a seeded hash of the text.

    Hashing the text (not shuffling rows) keeps duplicate texts in one split, so a generic
    review like "최고" cannot leak from train into test, and a row keeps its split when new
    rows are appended later.
    """
    if not 0 <= dev < 1 or not 0 <= test < 1 or dev + test >= 1:
        raise IngestError(f"data.split: dev={dev} and test={test} must be fractions summing to less than 1")
    out = []
    for text in texts:
        digest = hashlib.blake2b(f"{seed}\x00{text}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        out.append("test" if u < test else "dev" if u < test + dev else "train")
    return out


def ingest(data_cfg: dict) -> tuple[pa.Table, pa.Table, dict]:
    """The ingest stage: params `data` section -> (canonical table, quarantine, report)."""
    fmt = data_cfg["format"]
    columns = NSMC_COLUMNS if fmt == "nsmc" else dict(data_cfg["columns"])
    raw = read_raw(data_cfg["path"], fmt, data_cfg.get("encoding", "utf-8"))
    kept, quarantined = canonicalize(raw, columns, str(data_cfg["path"]), data_cfg["split"])
    duplicated = pd.Series(kept.column("id").to_pylist()).duplicated()
    if duplicated.any():
        rows = kept.column("source_row").to_pylist()
        first = [rows[i] for i in duplicated[duplicated].index[:5]]
        raise IngestError(
            f"{data_cfg['path']}: {int(duplicated.sum())} duplicate id(s), e.g. on rows {first}; "
            "ids must be unique (map another column with data.columns.id, or set it to null to number rows)"
        )
    splits = pd.Series(kept.column("split").to_pylist()).value_counts().to_dict()
    report = {
        "rows_in": len(raw),
        "rows_kept": kept.num_rows,
        "rows_quarantined": quarantined.num_rows,
        "quarantine_reasons": pd.Series(quarantined.column("reason").to_pylist()).value_counts().to_dict(),
        "splits": {s: int(splits.get(s, 0)) for s in SPLITS},
        "source": str(data_cfg["path"]),
        "source_sha256": file_digest(data_cfg["path"]),
    }
    if report["splits"]["train"] == 0:
        raise IngestError(f"{data_cfg['path']}: no training rows after splitting; check data.split and data.columns.split")
    return kept, quarantined, report


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
