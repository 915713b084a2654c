"""Reading corpus files strictly: shared by every reader (N21 tables, NER, treebank, dialogue).

A wrong codec fails loudly with the file, line, byte offset and the encoding that was tried, never
yields mojibake; an empty file is an error that says so. A UTF-8 BOM and CRLF line ends (files made
on Windows) are valid ways to save UTF-8 text: they are accepted, and `input_notes` counts them so
the ingest report says what was normalised. A line over MAX_LINE_CHARS (a missing line break, a
pasted document) is a row that cannot be used: readers quarantine it with `long_line`'s reason.
Only an empty cell is a missing value: "none", "null", "NA", "-" are strings a person wrote (a corpus
may have a class called `none`), so no reader turns them into "missing".
"""

from __future__ import annotations

import csv
import io
import re
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

# No corpus line (a review, a sentence, a CoNLL-U word line) is this long; NSMC's longest is 146 chars.
MAX_LINE_CHARS = 100_000
MAX_RAW = 2000  # quarantine rows keep at most this many characters of the raw record
# A quoted CSV field may hold a few line breaks (a review in paragraphs); a record running over more lines
# than this is a double quote that never closed, merging the rest of the file into one record.
MAX_RECORD_LINES = 10
_INTEGRAL_FLOAT = re.compile(r"[+-]?\d+\.0+")
csv.field_size_limit(2**31 - 1)  # long fields are quarantined by length, not by a csv.Error mid-file


def check_file(path: Path) -> None:
    """Refuse a path that is not a regular file, without opening it (opening a FIFO would block)."""
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such file; check the data path (params key data.path, or --data)"
        ) from None
    if stat.S_ISDIR(mode):
        raise ValueError(
            f"{path}: is a directory; point data.path (or --data) at a data file (this format reads "
            "one file, not a folder)"
        )
    if not stat.S_ISREG(mode):
        raise ValueError(
            f"{path}: is not a regular file (a FIFO, socket or device); hanflow reads data files "
            "only: save the data to a file and point data.path (or --data) at it"
        )


def read_text(path: Path, encoding: str) -> str:
    """The whole file decoded strictly, without a leading BOM."""
    path = Path(path)
    check_file(path)
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(
            f"{path}: the file is empty{' (only blank lines)' if data else ''}; "
            "point data.path at the file with the data"
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise ValueError(decode_error(path, data, encoding, err)) from None
    except LookupError:
        raise ValueError(
            f"{path}: unknown encoding {encoding!r}; set data.encoding to a Python codec name "
            "such as 'utf-8' or 'cp949'"
        ) from None
    return text.removeprefix("\ufeff")


def decode_error(path: Path, data: bytes, encoding: str, err: UnicodeDecodeError) -> str:
    """'<file>: byte offset N (line L) is not valid <encoding> (<why>); <what to do>'."""
    line = data.count(b"\n", 0, err.start) + 1
    hint = (
        "convert the file to UTF-8, or set data.encoding to the file's encoding "
        "(e.g. cp949 for files saved by Korean Windows tools)"
    )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        hint = "the file starts with a UTF-16 byte-order mark: save it as UTF-8, or set data.encoding: utf-16"
    return f"{path}: byte offset {err.start} (line {line}) is not valid {encoding} ({err.reason}); {hint}"


def read_lines(path: Path, encoding: str) -> list[str]:
    """Lines without their LF or CRLF ends (not splitlines(): it also splits on U+2028 etc.)."""
    lines = read_text(path, encoding).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def blocks(lines: list[str]) -> Iterator[tuple[int, list[str], bool]]:
    """(first row, lines, followed by a blank line) per blank-line separated block."""
    block: list[str] = []
    start = 0
    for row, line in enumerate(lines, 1):
        if line.strip():
            if not block:
                start = row
            block.append(line)
        elif block:
            yield start, block, True
            block = []
    if block:
        yield start, block, False


def long_line(lines: list[str], first_row: int) -> str | None:
    """The quarantine reason for a block or record holding a line over MAX_LINE_CHARS, else None."""
    for k, line in enumerate(lines):
        if len(line) > MAX_LINE_CHARS:
            return (
                f"line {first_row + k} is {len(line):,} characters long, over the {MAX_LINE_CHARS:,}-character "
                "limit for one line: a missing line break or a pasted document? split or remove it"
            )
    return None


def fields_count(n: int) -> str:
    return f"{n} field{'' if n == 1 else 's'}"


def csv_records(
    text: str, path: Path, delimiter: str, quoting: int, header: bool = True
) -> tuple[list[str], list[tuple[int, int, list[str]]]]:
    """(column names, [(first line, last line, fields)]) of CSV/TSV text.

    With `header`, line 1 names the columns. Without, columns are named by position, "0", "1", ...
    (as many as the commonest field count), and the first data row is line 1. Blank lines are layout,
    not records, and are skipped; line numbers stay the editor's. A record that runs over
    MAX_RECORD_LINES lines, or whose quoted field holds a line that reads as a row of its own, is a
    double quote that never closed: an error naming the line where it opened, since quarantining that
    one record would drop every row it swallowed.
    """
    # CRLF files: a quoted field spanning lines keeps "\n", not the file's "\r\n".
    lines = io.StringIO(text.replace("\r\n", "\n"), newline="").readlines()
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting)
    names: list[str] | None = None
    if header:
        try:
            names = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: the file is empty; a header line naming the columns is needed") from None
        except csv.Error as err:
            raise ValueError(f"{path}: line 1 (the header): {err}; fix that line") from None
    records: list[tuple[int, int, list[str]]] = []
    last = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise ValueError(f"{path}: line {reader.line_num}: {err}; fix the quoting of that line") from None
        first, last = last + 1, reader.line_num
        if fields and any(f.strip() for f in fields):
            records.append((first, last, fields))
    if names is None:
        width = Counter(len(f) for _, _, f in records).most_common(1)[0][0] if records else 0
        names = [str(k) for k in range(width)]
    if quoting != csv.QUOTE_NONE:
        for first, last, _ in records:
            if last > first:
                _check_quoted_span(lines[first - 1 : last], first, len(names), path, delimiter)
    return names, records


def _check_quoted_span(span: list[str], first: int, width: int, path: Path, delimiter: str) -> None:
    """Raise when a record of several lines looks like an unclosed quote (csv_records' docstring).

    A line that ends inside the quoted field and reads as a row of its own is a row swallowed; a line
    that closes the field does not count (a review's last line may hold commas before the quote)."""
    states = _quote_states(span, delimiter)
    shaped = next(
        (
            first + k
            for k, line in enumerate(span[1:], 1)
            if states[k][0] and width > 1 and len(next(csv.reader([line], delimiter=delimiter), [])) == width
        ),
        None,
    )
    last = first + len(span) - 1
    if shaped is not None:
        what, state = f"is still open at line {shaped}, which reads as a row of its own ({width} fields)", shaped - 1
    elif len(span) > MAX_RECORD_LINES:
        what = f"runs over {len(span)} lines, to line {last} (a quoted field may hold at most {MAX_RECORD_LINES} lines)"
        state = last - 1
    elif states[-1][0]:
        what, state = f"never closes: the file ends inside it (line {last})", last
    else:
        return
    opened = first + states[state - first][1]
    raise ValueError(
        f"{path}: line {opened}: the double quote that opens a field on this line {what}: an unclosed "
        "quote merges every following line into one record. Close the quote (a quote inside a "
        'quoted field is written ""), or remove it'
    )


def _quote_states(span: list[str], delimiter: str) -> list[tuple[bool, int]]:
    """Per line of a record: (a quoted field is open at its end, the index of the line that opened it),
    by CSV's rules: a quote opens a field only at the field's start, and "" inside one is a literal quote."""
    inside, opened, out = False, 0, []
    for k, line in enumerate(span):
        at_field_start, i = not inside, 0
        while i < len(line):
            c = line[i]
            if inside:
                if c == '"' and line.startswith('"', i + 1):
                    i += 1
                elif c == '"':
                    inside = False
            elif c == '"' and at_field_start:
                inside, opened = True, k
            at_field_start = not inside and c == delimiter
            i += 1
        out.append((inside, opened))
    return out


def normalize_label(value: object) -> str:
    """One spelling per label: '2', ' 2   ', 2 and 2.0 (a spreadsheet's float) are all '2'.

    Surrounding whitespace is cut and inner runs become one space; case is kept ('Pos' and 'pos'
    stay apart, and validation names a label the schema does not know).
    """
    text = " ".join(str(value).split())
    return text.split(".")[0] if _INTEGRAL_FLOAT.fullmatch(text) else text


def reason_kind(reason: str) -> str:
    """A quarantine reason without its location and its advice, for counting: 'sentence at F line 5:
    line 7: 3 tab-separated fields, expected 4 (...); the line is damaged' -> '3 tab-separated ...'."""
    text = re.sub(r"^(?:record|sentence) at .*? line \d+: ", "", reason)
    text = re.sub(r"^line \d+: ", "", text)
    return text.split("; ")[0].strip()[:200]


def input_notes(paths: list[str | Path]) -> dict:
    """What reading normalised in text input files: a UTF-8 BOM, CRLF line ends (counts of files)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            files.append(p)
    notes = {"utf8_bom_stripped": 0, "crlf_line_ends": 0}
    for f in files:
        if f.suffix == ".parquet":
            continue
        with open(f, "rb") as fh:
            head = fh.read(1 << 16)
        notes["utf8_bom_stripped"] += head.startswith(b"\xef\xbb\xbf")
        notes["crlf_line_ends"] += b"\r\n" in head
    return {k: v for k, v in notes.items() if v}
