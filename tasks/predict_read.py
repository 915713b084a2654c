"""What `hanflow predict` reads: texts from arguments, stdin or a file of any size, one record at a time.

Nothing holds the whole file: text files are read line by line (a line over MAX_TEXT_CHARS is skipped in
1 MiB pieces and flagged, never held), Parquet in record batches. The project's readers for training data
(tasks/<problem>/formats.py) read a whole file to account for every row, so these stream the same formats;
a block format (sentences separated by blank lines: a treebank, an NER corpus) is read block by block, each
block by its problem type's Predictor.read_block. A record that cannot be used (a malformed line, an overlong
one) comes with its `error` and is written flagged.

Formats: `lines` (one text per line) for every problem type, and those its Predictor lists (`formats`,
PREDICT_FORMATS in tasks/<problem>/predict.py).
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tasks.predict import MAX_TEXT_CHARS, Predictor
from tasks.textfile import MAX_RECORD_LINES

SUFFIXES = {
    ".txt": "lines",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".conllu": "conllu",
    ".train": "klp",
    ".dev": "klp",
    ".test": "klp",
}
MAX_BLOCK_LINES = 10_000  # lines kept of one sentence block; a longer one is flagged, not held
_PIECE = 1 << 20


class PredictInputError(ValueError):
    """Input that cannot be predicted on: a file that cannot be read on, or a text refused (the message says
    which file and line, or which text)."""


@dataclass
class Item:
    row: int  # the line (text formats) or 1-based row (Parquet) where the record starts
    id: str
    text: str
    words: list[str] | None = None  # a treebank's own words
    error: str | None = None  # set when the record itself is unusable


def default_format(predictor: type[Predictor] | Predictor, path: Path) -> str:
    """The --format of a --data file given none: from its suffix, as the problem type's predictor reads it."""
    return predictor.format_for(path, SUFFIXES.get(path.suffix.lower(), "lines"))


# ---------------------------------------------------------------- reading


def _encoding(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding  # a BOM is not text


def _physical_lines(f, path: Path, encoding: str, too_long: set[int]) -> Iterator[str]:
    """The file's lines with their ends, a line over MAX_TEXT_CHARS cut there (its number goes to too_long)."""
    n = 0
    while True:
        try:
            line = f.readline(MAX_TEXT_CHARS + 2)
            n += 1
            if line and not line.endswith("\n") and len(line) > MAX_TEXT_CHARS:
                too_long.add(n)
                while (rest := f.readline(_PIECE)) and not rest.endswith("\n"):
                    pass
                line += "\n"
        except UnicodeDecodeError as err:
            raise PredictInputError(
                f"{path}: line {n} is not valid {encoding} ({err.reason}); pass the file's "
                "encoding with --encoding (e.g. cp949)"
            ) from None
        if not line:
            return
        yield line


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str | None]]:
    """(line number, line without its end), None for a line over MAX_TEXT_CHARS."""
    too_long: set[int] = set()
    with open(path, encoding=_encoding(encoding), newline="\n") as f:
        for n, line in enumerate(_physical_lines(f, path, encoding, too_long), 1):
            yield n, None if n in too_long else line.rstrip("\n").removesuffix("\r")


def _overlong(row: int) -> str:
    return f"line {row} is over {MAX_TEXT_CHARS:,} characters (a missing line break?); split it"


def _read_lines(path: Path, encoding: str) -> Iterator[Item]:
    for n, line in _lines(path, encoding):
        yield Item(n, str(n), line or "", error=None if line is not None else _overlong(n))


def text_items(texts: list[str]) -> Iterator[Item]:
    return (Item(k, str(k), text) for k, text in enumerate(texts, 1))


def stdin_items(stream=None) -> Iterator[Item]:
    """One text per line of stdin; blank lines at the end are not texts (one in between is, and is empty)."""
    stream = stream if stream is not None else sys.stdin
    blank: list[int] = []
    n = 0
    while line := stream.readline(MAX_TEXT_CHARS + 2):
        n += 1
        error = None
        if not line.endswith("\n") and len(line) > MAX_TEXT_CHARS:
            while (rest := stream.readline(_PIECE)) and not rest.endswith("\n"):
                pass
            line, error = "", _overlong(n)
        line = line.rstrip("\n").removesuffix("\r")
        if not line.strip() and error is None:
            blank.append(n)
            continue
        for b in blank:
            yield Item(b, str(b), "")
        blank = []
        yield Item(n, str(n), line, error=error)


def _pick(
    header: list[str], wanted: str | None, fallbacks: list[str | None], what: str, path: Path, option: str
) -> int | None:
    for name in [wanted] if wanted else [f for f in fallbacks if f]:
        if name in header:
            return header.index(name)
    if wanted or what != "id":
        raise PredictInputError(
            f"{path}: the header {header[:12]} has no {what} column "
            f"{wanted or fallbacks[0]!r}; name it with --column {option}=<column>"
        )
    return None


def _read_delimited(path: Path, fmt: str, encoding: str, fields: dict, header: bool) -> Iterator[Item]:
    delimiter = "," if fmt in ("csv", "chatbot") else "\t"
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    too_long: set[int] = set()
    csv.field_size_limit(max(csv.field_size_limit(), MAX_TEXT_CHARS + 2))
    with open(path, encoding=_encoding(encoding), newline="") as f:
        reader = csv.reader(_physical_lines(f, path, encoding, too_long), delimiter=delimiter, quoting=quoting)
        last = 0
        try:
            for fields_row in reader:
                first, last = last + 1, reader.line_num
                if reader.line_num == 1 and header:
                    names = [h.strip() for h in fields_row]
                    option = fields["option"]
                    text_col = _pick(names, fields["text"], fields["text_defaults"], option, path, option)
                    id_col = _pick(names, fields["id"], fields["id_defaults"], "id", path, "id")
                    width = len(names)
                    continue
                if not header and first == 1:
                    width = len(fields_row)
                    text_col, id_col = int(fields["text"] or 0), (int(fields["id"]) if fields["id"] else None)
                if not fields_row:
                    continue
                rid = fields_row[id_col] if id_col is not None and id_col < len(fields_row) else str(first)
                error = (
                    _overlong(min(too_long & set(range(first, last + 1))))
                    if too_long & set(range(first, last + 1))
                    else f"the record spans lines {first}-{last}: an unbalanced double quote?"
                    if last - first >= MAX_RECORD_LINES
                    else f"{len(fields_row)} fields where the {'header has' if header else 'first row has'} {width}"
                    if len(fields_row) != width
                    else None
                )
                text = fields_row[text_col] if text_col < len(fields_row) and error is None else ""
                yield Item(first, rid, text, error=error)
        except csv.Error as err:
            raise PredictInputError(
                f"{path}: line {reader.line_num}: {err} (an unbalanced double quote?); fix the line"
            ) from None


def _read_jsonl(path: Path, encoding: str, fields: dict) -> Iterator[Item]:
    for n, line in _lines(path, encoding):
        if line is not None and not line.strip():
            continue
        error, text, rid = (_overlong(n) if line is None else None), "", str(n)
        if error is None:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                obj, error = None, f"invalid JSON ({err.msg}, column {err.colno})"
            if obj is not None and not isinstance(obj, dict):
                error = f"expected a JSON object, got {type(obj).__name__}"
            elif obj is not None:
                names = [fields["text"]] if fields["text"] else [k for k in fields["text_defaults"] if k]
                key = next((k for k in names if k in obj), names[0])
                value = obj.get(key)
                error = None if isinstance(value, str) else f"field {key!r} is missing or not a string"
                text = value if isinstance(value, str) else ""
                value_id = obj.get(fields["id"] or "id") if fields["id_defaults"] or fields["id"] else None
                rid = str(value_id) if isinstance(value_id, (str, int)) and not isinstance(value_id, bool) else rid
        yield Item(n, rid, text, error=error)


def _read_parquet(path: Path, fields: dict, batch_rows: int) -> Iterator[Item]:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    option = fields["option"]
    text_col = names[_pick(names, fields["text"], fields["text_defaults"], option, path, option)]
    id_index = _pick(names, fields["id"], fields["id_defaults"], "id", path, "id")
    columns = [text_col] + ([names[id_index]] if id_index is not None else [])
    row = 0
    for batch in file.iter_batches(batch_size=batch_rows, columns=columns):
        texts = batch.column(0).to_pylist()
        ids = batch.column(1).to_pylist() if id_index is not None else [None] * len(texts)
        for text, rid in zip(texts, ids):
            row += 1
            ok = isinstance(text, str)
            yield Item(
                row,
                str(rid if rid is not None else row),
                text if ok else "",
                error=None if ok else "null or non-text cell",
            )


def _blocks(path: Path, encoding: str) -> Iterator[tuple[int, list[str], str | None]]:
    """(first line, lines, error) per blank-line separated block, at most MAX_BLOCK_LINES lines kept."""
    block: list[str] = []
    start, error = 0, None
    for n, line in _lines(path, encoding):
        if line is not None and not line.strip():
            if block or error:
                yield start, block, error
            block, error = [], None
            continue
        if not block and error is None:
            start = n
        if line is None:
            error = error or _overlong(n)
        elif len(block) < MAX_BLOCK_LINES:
            block.append(line)
        else:
            error = error or f"the sentence starting at line {start} has over {MAX_BLOCK_LINES:,} lines; split it"
    if block or error:
        yield start, block, error


def _read_blocks(predictor: type[Predictor] | Predictor, path: Path, fmt: str, encoding: str) -> Iterator[Item]:
    for index, (start, block, error) in enumerate(_blocks(path, encoding), 1):
        if error:
            yield Item(start, f"{path.stem}:{start}", "", error=error)
            continue
        item = predictor.read_block(fmt, path, start, index, block)
        if item is not None:
            yield item


def read_items(
    predictor: type[Predictor] | Predictor,
    path: str | Path,
    fmt: str,
    encoding: str = "utf-8",
    columns: dict | None = None,
    header: bool = True,
    trained: dict | None = None,
    batch_rows: int = 256,
) -> Iterator[Item]:
    """The records of a file to predict, one at a time. columns: --column's text/question and id (None: the
    training file's (trained: params `data`), else the format's usual name); an id-less file numbers its rows.
    predictor: the problem type's Predictor (the class will do): its formats, text key and block reader."""
    path = Path(path)
    if fmt not in predictor.formats:
        raise PredictInputError(f"--format {fmt}: {predictor.problem} predicts from {', '.join(predictor.formats)}")
    if not path.is_file():
        raise PredictInputError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    columns = dict(columns or {})
    text_key = predictor.text_key
    unknown = sorted(set(columns) - {text_key, "id"})
    if unknown:
        raise PredictInputError(
            f"--column {', '.join(unknown)}: predict reads only {text_key} and id, e.g. --column {text_key}=<column>"
        )
    trained_cols = (trained or {}).get("columns") or {}
    chatbot = {"question": "Q"} if fmt == "chatbot" else {}
    fields = {
        "text": columns.get(text_key),
        "id": columns.get("id"),
        "option": text_key,
        "text_defaults": [chatbot.get(text_key), trained_cols.get(text_key), text_key, "document"],
        "id_defaults": [] if "id" in columns and columns["id"] is None else [trained_cols.get("id"), "id"],
    }
    if fmt == "nsmc":
        fields.update(text="document", id="id")
    if fmt == "lines":
        return _read_lines(path, encoding)
    if fmt in ("csv", "tsv", "nsmc", "chatbot"):
        return _read_delimited(path, fmt, encoding, fields, header)
    if fmt == "jsonl":
        return _read_jsonl(path, encoding, fields)
    if fmt == "parquet":
        return _read_parquet(path, fields, batch_rows)
    return _read_blocks(predictor, path, fmt, encoding)
