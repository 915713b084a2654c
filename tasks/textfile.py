"""Reading corpus files strictly: shared by the NER, treebank and dialogue readers.

A wrong codec must fail loudly with the file, line and byte offset, never yield mojibake;
a BOM and CR line ends (Windows-made corpora) are accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def read_text(path: Path, encoding: str) -> str:
    """The whole file decoded strictly, without a leading BOM."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; check the data path in params.yaml")
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}: byte offset {err.start} (line {line}) is not valid {encoding} ({err.reason}); "
                         "convert the file to UTF-8 or pass the right encoding= (e.g. 'cp949')") from None
    except LookupError:
        raise ValueError(f"{path}: unknown encoding {encoding!r}; pass a Python codec name such as 'utf-8'") from None
    return text.removeprefix("\ufeff")


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
