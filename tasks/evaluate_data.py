"""What every `hanflow evaluate` path shares: checking --data before anything opens it, refusing gold
values the model cannot predict (naming the file, the values, their counts and rows), and writing the
rows that were quarantined where the user can read them."""

from __future__ import annotations

import re
import stat
from collections import Counter
from pathlib import Path

import pyarrow as pa

QUARANTINE = pa.schema(
    [("source_file", pa.string()), ("source_row", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)


def check_data_path(path: str | Path, folder_ok: bool = False) -> None:
    """Refuse a --data that is missing, a folder (unless the format reads folders) or not a regular file,
    without opening it: opening a FIFO blocks until something writes to it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file; check the path given to --data") from None
    if stat.S_ISDIR(mode):
        if folder_ok:
            return
        raise ValueError(f"{path}: is a directory; pass one data file to --data")
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket or device"
        raise ValueError(
            f"{path}: is {kind}, not a regular file; evaluate reads data files only: "
            "save the data to a file and pass that to --data"
        )


def line_of(path: str | Path, source_file: str | None, row: int | None) -> str:
    """'12', or 'a.txt:12' when --data is a folder."""
    inside = source_file and Path(source_file) != Path(path)
    return f"{Path(source_file).name + ':' if inside else ''}{row}"


def refuse_unknown(path: str | Path, found: list[tuple[str, str]], known: list[str], what: str, fix: str) -> None:
    """Raise when gold values (value, where: see line_of) are outside the model's schema: scoring them would
    count every one as an error the model could never avoid."""
    if not found:
        return
    counts = Counter(value for value, _ in found)
    rows: dict[str, list[str]] = {}
    for value, row in found:
        rows.setdefault(value, []).append(row)
    shown = "; ".join(f"{value!r} ({n}, e.g. line {', '.join(rows[value][:3])})" for value, n in counts.most_common(10))
    more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
    raise ValueError(
        f"{path}: {len(found)} {what} the model's schema does not know: {shown}{more}; known: {known}. {fix}"
    )


def quarantine_table(rows: list[dict] | pa.Table) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows.select(QUARANTINE.names).cast(QUARANTINE)
    return pa.Table.from_pylist([{k: r.get(k) for k in QUARANTINE.names} for r in rows], schema=QUARANTINE)


def write_quarantine(rows: list[dict] | pa.Table, path: str | Path | None) -> str | None:
    """Write the quarantined rows (file, line, raw record, reason) to `path`; None when there are none."""
    from tasks import io

    table = quarantine_table(rows)
    if path is None or table.num_rows == 0:
        return None
    io.write_table(table.sort_by([("source_file", "ascending"), ("source_row", "ascending")]), path)
    return str(path)


def nothing_left(path: str | Path, what: str, quarantined: list[dict] | pa.Table, written: str | None) -> ValueError:
    """The error for a file none of whose records could be used: how many, the commonest reasons, where they are."""
    from tasks.textfile import reason_kind

    table = quarantine_table(quarantined)
    if table.num_rows == 0:
        return ValueError(f"{path}: no {what} found")
    top = Counter(map(reason_kind, table.column("reason").to_pylist())).most_common(3)
    reasons = "; ".join(f"{reason} ({n})" for reason, n in top)
    return ValueError(
        f"{path}: no usable {what}: all {table.num_rows} were quarantined"
        + (f" (top reasons: {reasons})" if reasons else "")
        + (f"; each, with its line and reason, is in {written}" if written else "")
    )


def check_column_keys(
    problem: str, mapping: dict, keys: tuple[str, ...], example: str = "", header: bool = True
) -> None:
    """Refuse a --column key the problem type does not map (it would be ignored), and --no-header for formats
    with fixed columns (keys empty)."""
    if not keys and not header:
        raise ValueError(f"--no-header does not apply to {problem}: its formats have fixed columns")
    unknown = sorted(set(mapping) - set(keys))
    if not unknown:
        return
    if not keys:
        raise ValueError(
            f"--column does not apply to {problem}: its formats have fixed columns; drop --column {', '.join(unknown)}"
        )
    raise ValueError(
        f"--column {', '.join(unknown)}: {problem} maps only {', '.join(keys)}"
        + (f", e.g. {example}" if example else "")
    )


def first_line(path: str | Path, encoding: str = "utf-8") -> str | None:
    """The first line of a regular file (a CSV/TSV header), without its BOM; None for anything else or
    bytes that do not decode (the reader then says what is wrong, with the byte offset)."""
    path = Path(path)
    if not path.is_file():  # is_file() is False for a FIFO: never open one
        return None
    try:
        with open(path, "rb") as f:
            line = f.readline(1 << 20)
        return line.decode(encoding).removeprefix("\ufeff").rstrip("\r\n")
    except (OSError, UnicodeDecodeError, LookupError):
        return None


def header_names(path: str | Path, delimiter: str, quoted: bool, encoding: str = "utf-8") -> list[str] | None:
    """The column names a CSV/TSV file's header line gives, as the readers parse it; None when unreadable."""
    import csv

    line = first_line(path, encoding)
    if not line:  # no header line to check: the reader says what is wrong with the file
        return None
    try:
        row = next(csv.reader([line], delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE))
    except (csv.Error, StopIteration):
        return None
    return [name.strip() for name in row]


_OPTIONS = {
    "path": "--data",
    "format": "--format",
    "encoding": "--encoding",
    "header": "--header/--no-header",
    "columns": "--column",
}
_PHRASES = [  # the readers' hints name params keys (what `hanflow run` takes); evaluate takes options
    (re.compile(r"\(params key (?:\w+\.)?data\.path, or --data\)"), "(--data)"),
    (re.compile(r"data\.path \(or --data\)"), "--data"),
    (re.compile(r"data\.header is false"), "--no-header is given"),
    (re.compile(r"data\.header: false"), "--no-header"),
    (re.compile(r"data\.header: true"), "--header"),
    (re.compile(r"data\.encoding: "), "--encoding "),
    (
        re.compile(r"data\.columns: \{([^}]*)\}"),
        lambda m: " ".join(
            f"--column {k.strip()}={v.strip().strip(chr(39))}"
            for k, _, v in (pair.partition(":") for pair in m.group(1).split(","))
        ),
    ),
    (re.compile(r"params key (?:\w+\.)?data\.(\w+)"), lambda m: _OPTIONS.get(m.group(1), m.group(0))),
    (re.compile(r"\b(?:\w+\.)?data\.(path|format|encoding|header|columns)\b"), lambda m: _OPTIONS[m.group(1)]),
]


def for_evaluate(message: str) -> str:
    """A reader's error with its params-key hints (data.encoding, data.header: false, ...) said as the
    `hanflow evaluate` options that do the same (--encoding, --no-header, ...)."""
    for pattern, replacement in _PHRASES:
        message = pattern.sub(replacement, message)
    return message


def check_format(problem: str, fmt: str, formats: tuple[str, ...]) -> None:
    """Refuse a --format the problem type's readers do not know (`formats`), before anything is read."""
    if fmt not in formats:
        raise ValueError(f"--format {fmt}: {problem} reads {', '.join(formats)}")
