"""Readers that turn question/answer corpora (Chatbot data, generic CSV/TSV/JSONL) into one canonical form.

Canonical row: {"id", "question", "answer", "label" (str or None), "source_file", "source_row"
(1-based line where the record starts; the header is line 1)}. Question and answer are stripped of
surrounding whitespace and otherwise kept as written. Only an empty cell or a JSON null is missing:
"none", "NaN" or "-" is an answer someone wrote. A record that cannot be used goes to the
quarantine list with a reason that names the file, the line and the fix; nothing is dropped silently.
CSV/TSV files without a header line (header=False) name their columns by position: "0", "1", ...
Stdlib only, so the readers can run anywhere the data is.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

from tasks.textfile import csv_records as _csv_records, fields_count, long_line, normalize_label
from tasks.textfile import read_text as _read_text

FORMATS = ("chatbot", "csv", "tsv", "jsonl")
MAX_RAW = 2000  # quarantine rows keep at most this many characters of the record
FIELDS = ("question", "answer", "label")
# Chatbot_data (songys): header Q,A,label; 0 everyday, 1 break-up (negative), 2 love (positive).
CHATBOT_COLUMNS = {"question": "Q", "answer": "A", "label": "label"}
CHATBOT_LABELS = ("0", "1", "2")
DEFAULT_COLUMNS = {"question": "question", "answer": "answer", "label": "label"}

_log = logging.getLogger(__name__)
# What reading normalised in rows that were kept (reset by every read_pairs call), for the ingest report.
last_read_notes: Counter[str] = Counter()


class _Bad(Exception):
    """A record that cannot be used; the message is the quarantine reason."""


# ---------------------------------------------------------------- decoding


def _clean(value: Any, field: str, column: str) -> str | None:
    """A usable string, or None for a missing value (an empty cell, a JSON null or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):  # as the N21 reader writes a JSON boolean
        value = "true" if value else "false"
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        kind = {dict: "JSON object", list: "JSON list"}.get(type(value), type(value).__name__)
        raise _Bad(f"{field} (column {column!r}) is a {kind}, not text; write it as a string")
    return value.strip() or None


def _pair(values: dict[str, Any], columns: dict[str, str], fmt: str) -> tuple[str, str, str | None]:
    question = _clean(values.get(columns["question"]), "question", columns["question"])
    answer = _clean(values.get(columns["answer"]), "answer", columns["answer"])
    empty = [f for f, v in (("question", question), ("answer", answer)) if v is None]
    if empty:
        what = " and ".join(f"{f} ({columns[f]!r}{'' if columns[f] in values else ' missing'})" for f in empty)
        raise _Bad(f"{what} is empty or null; fill it in or delete the row")
    label = _clean(values.get(columns["label"]), "label", columns["label"]) if "label" in columns else None
    if label is not None:
        spelled, label = label, normalize_label(label)  # '2', '2   ', 2 and 2.0 are one label
        if spelled != label or not isinstance(values.get(columns["label"]), str):
            last_read_notes["label_spellings_normalized"] += 1
    if fmt == "chatbot" and label is not None and label not in CHATBOT_LABELS:
        raise _Bad(
            f"label {label!r} is not one of {', '.join(CHATBOT_LABELS)} (0 everyday, 1 break-up, 2 love); "
            "fix the label or read the file with fmt='csv'"
        )
    return question, answer, label  # type: ignore[return-value]


# ---------------------------------------------------------------- per-format record streams


def _resolve_columns(
    header: list[str], columns: dict[str, str], path: Path, explicit: bool, has_header: bool = True
) -> dict[str, str]:
    missing = [f"{f}={columns[f]!r}" for f in ("question", "answer") if columns[f] not in header]
    if missing and not has_header:
        raise ValueError(
            f"{path}: the file has no header line (data.header: false), so its columns are {header} "
            f"by position, and {', '.join(missing)} is not one of them; map each to a position, "
            "e.g. data.columns: {question: '0', answer: '1'}"
        )
    if missing:
        raise ValueError(
            f"{path}: header {header} lacks the column for {', '.join(missing)}; pass "
            "columns={'question': ..., 'answer': ..., 'label': ...} naming the header's columns"
        )
    if columns.get("label") is not None and columns["label"] not in header:
        if explicit:
            raise ValueError(
                f"{path}: header {header} has no label column {columns['label']!r}; "
                "fix the mapping or drop 'label' from columns"
            )
        columns = {k: v for k, v in columns.items() if k != "label"}  # label is optional unless asked for
    return columns


def _columns(columns: dict[str, str] | None, fmt: str) -> tuple[dict[str, str], bool]:
    default = CHATBOT_COLUMNS if fmt == "chatbot" else DEFAULT_COLUMNS
    if columns is None:
        return dict(default), False
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown keys {unknown} in columns; map only {list(FIELDS)} to the file's column names")
    merged = {**{k: v for k, v in default.items() if k != "label"}, **columns}
    # YAML and --set read a column position (question: 0) as a number; column names are strings.
    return {k: str(v) for k, v in merged.items() if v is not None}, "label" in columns


# ---------------------------------------------------------------- public API


def read_pairs(
    path: str | Path, fmt: str, columns: dict[str, str] | None = None, encoding: str = "utf-8", header: bool = True
) -> tuple[list[dict], list[dict]]:
    """Read one question/answer file into (rows, quarantined rows).

    fmt: "chatbot" (Chatbot_data CSV: Q,A,label), "csv", "tsv" (no quoting: a tab or line break cannot be
    inside a field, and quotes are literal text) or "jsonl" (one object per line). columns maps
    question/answer/label to the file's column (or JSON key) names; a label column is optional.
    header=False (csv, tsv): the file has no header line; its columns are "0", "1", ... by position.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dialogue format {fmt!r}; use one of {', '.join(FORMATS)}")
    path = Path(path)
    if not header and fmt not in ("csv", "tsv"):
        raise ValueError(
            f"{path}: data.header is false, which only the csv and tsv formats read (format {fmt!r}); "
            "a Chatbot-style file without its Q,A,label line is format csv with "
            "columns {question: '0', answer: '1', label: '2'}"
        )
    cols, explicit = _columns(columns, fmt)
    last_read_notes.clear()
    text = _read_text(path, encoding)
    rows: list[dict] = []
    quarantined: list[dict] = []

    def keep(values: dict[str, Any], first: int, raw: str, span: str = "") -> None:
        try:
            if (too_long := long_line([raw], first)) is not None:
                raise _Bad(too_long)
            question, answer, label = _pair(values, cols, fmt)
        except _Bad as err:
            quarantined.append(
                {
                    "source_file": str(path),
                    "source_row": first,
                    "raw": raw[:MAX_RAW],
                    "reason": f"record at {path} line {first}: {err}{span}",
                }
            )
            return
        rows.append(
            {
                "id": f"{path.stem}:{first}",
                "question": question,
                "answer": answer,
                "label": label,
                "source_file": str(path),
                "source_row": first,
            }
        )

    if fmt == "jsonl":
        for row, line in enumerate(text.split("\n"), 1):  # not splitlines(): it also splits on U+2028
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                quarantined.append(
                    {
                        "source_file": str(path),
                        "source_row": row,
                        "raw": line[:MAX_RAW],
                        "reason": f"record at {path} line {row}: invalid JSON ({err.msg}, column "
                        f"{err.colno}); fix or remove the line",
                    }
                )
                continue
            if not isinstance(obj, dict):
                quarantined.append(
                    {
                        "source_file": str(path),
                        "source_row": row,
                        "raw": line[:MAX_RAW],
                        "reason": f"record at {path} line {row}: expected a JSON object, got "
                        f"{type(obj).__name__}; write one object per line",
                    }
                )
                continue
            keep(obj, row, line)
    else:
        delimiter = "\t" if fmt == "tsv" else ","
        quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
        names, records = _csv_records(text, path, delimiter, quoting, header)
        cols = _resolve_columns(names, cols, path, explicit, header)
        index = {name: k for k, name in reversed(list(enumerate(names)))}  # first of duplicate names wins
        shape = "the header has" if header else "most rows have (no header line)"
        for first, last, fields in records:
            raw = delimiter.join(fields)
            span = (
                ""
                if first == last
                else (
                    f" (the record spans lines {first}-{last}: check for an unbalanced double quote that merged rows)"
                )
            )
            if len(fields) != len(names):
                quarantined.append(
                    {
                        "source_file": str(path),
                        "source_row": first,
                        "raw": raw[:MAX_RAW],
                        "reason": f"record at {path} line {first}: {fields_count(len(fields))}, {shape} "
                        f"{len(names)}; quote fields that contain "
                        f"{'a tab' if fmt == 'tsv' else 'a comma'}, or fix the row{span}",
                    }
                )
                continue
            keep({name: fields[k] for name, k in index.items()}, first, raw, span)
    if quarantined:
        _log.warning("read_pairs(%s, %s): %d pairs read, %d quarantined", path, fmt, len(rows), len(quarantined))
    return rows, quarantined


def format_for(data: str | Path) -> str:
    """The --format a file gets when none is given. .csv: Chatbot_data when the header is Q,A,label, else generic
    CSV; .tsv/.txt: TSV; .jsonl: JSONL."""
    from tasks.evaluate_data import header_names

    suffix = Path(data).suffix.lower()
    if suffix == ".csv":
        # header_names opens regular files only: a FIFO would block here.
        return "chatbot" if header_names(data, ",", True) == ["Q", "A", "label"] else "csv"
    return {".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix, "csv")
