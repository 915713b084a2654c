"""Readers that turn Korean NER corpora (KMOU, 2016 KLP, KLUE-NER, JSONL) into one canonical form.

Canonical record: {"id", "text", "entities": [{"start", "end", "type"}] (char offsets into text, end
exclusive, sorted by start, no overlaps, no whitespace at span edges), "source_file", "source_row"
(1-based line of the sentence's first line)}; JSONL records also keep "split" when present.
A sentence that cannot be read goes to the quarantine list with a reason; nothing is dropped silently.
Stdlib only, so the readers can run anywhere the data is.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

from tasks.textfile import blocks as _blocks, check_file, long_line, read_lines as _read_lines

FORMATS = ("kmou", "klp", "klue", "jsonl")
MAX_RAW = 2000  # quarantine rows keep at most this many characters of the block

# Repairs made while reading sentences that were kept (reset by every read_ner call), so a caller can
# see how much the data needed fixing without the records carrying extra keys.
last_read_notes: Counter[str] = Counter()

_TAG = r"[A-Z][A-Z_]{1,15}"
_MARK = re.compile(r"<([^<>]*):(" + _TAG + r")>")
_CLOSE = re.compile(r":(" + _TAG + r")>")
_BIO = re.compile(r"(O)|([BI])-(" + _TAG + r")")
_log = logging.getLogger(__name__)


class _Bad(Exception):
    """A sentence that cannot be read; the message is the quarantine reason."""


# ---------------------------------------------------------------- files and blocks


def _files(path: Path, fmt: str) -> list[Path]:
    """A file as given, or the regular non-hidden files of a directory sorted by name (KMOU: *.txt)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory; check the path given to read_ner")
    if not path.is_dir():
        check_file(path)  # a FIFO or a device: refused without opening it
        return [path]
    files = sorted(
        (
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and (fmt != "kmou" or p.suffix == ".txt")
        ),
        key=lambda p: p.name,
    )
    if not files:
        raise ValueError(
            f"{path}: directory holds no input files{' (*.txt)' if fmt == 'kmou' else ''}; "
            "point read_ner at the corpus folder or at one file"
        )
    return files


def _jsonl_units(lines: list[str]) -> Iterator[tuple[int, list[str], bool]]:
    for row, line in enumerate(lines, 1):
        if line.strip():
            yield row, [line], True


# ---------------------------------------------------------------- <text:TAG> marks


def _spans_from_marks(marked: str, raw: str) -> list[dict]:
    """Offsets come from the marked line: it carries the raw spacing, the BIO lines are morphemes."""
    pieces, found, pos, length = [], [], 0, 0
    for m in _MARK.finditer(marked):
        pieces.append(marked[pos : m.start()])
        length += m.start() - pos
        found.append((length, length + len(m.group(1)), m.group(2)))
        pieces.append(m.group(1))
        length += len(m.group(1))
        pos = m.end()
    pieces.append(marked[pos:])
    plain = "".join(pieces)
    if plain != raw:
        aligned = _align(marked, raw)
        if aligned is None:
            raise _Bad(_mark_reason(plain, raw))
        last_read_notes["marks_realigned"] += 1
        found = aligned
    return _finish(found, raw)


def _align(marked: str, raw: str) -> list[tuple[int, int, str]] | None:
    """Slow path: walk marked and raw together, so '<' inside an entity and spacing differences resolve.

    At each '<' try "opens a mark" before "literal '<'" (and the same for ':TAG>'); failed states are
    memoised, so this stays polynomial. Marks do not nest.
    """
    if marked.count("<") + marked.count(">") > 400:  # keeps recursion depth bounded
        return None
    failed: set[tuple[int, int, bool]] = set()

    def go(i: int, j: int, open_at: int | None) -> list[tuple[int, int, str]] | None:
        key = (i, j, open_at is not None)
        if key in failed:
            return None
        while True:
            if i == len(marked):
                while j < len(raw) and raw[j].isspace():
                    j += 1
                if j == len(raw) and open_at is None:
                    return []
                break
            c = marked[i]
            if c == "<" and open_at is None:
                if (rest := go(i + 1, j, j)) is not None:
                    return rest
            elif c == ":" and open_at is not None and (m := _CLOSE.match(marked, i)):
                if (rest := go(m.end(), j, None)) is not None:
                    return [(open_at, j, m.group(1)), *rest]
            if j < len(raw) and raw[j] == c:
                i, j = i + 1, j + 1
            elif c.isspace():
                i += 1
            elif j < len(raw) and raw[j].isspace():
                j += 1
            else:
                break
        failed.add(key)
        return None

    return go(0, 0, None)


def _mark_reason(plain: str, raw: str) -> str:
    if (m := _MARK.search(plain)) is not None:
        return f"another mark is nested inside {m.group(0)!r}; nested entities are not supported, keep one mark"
    k = next((n for n, (a, b) in enumerate(zip(plain, raw)) if a != b), min(len(plain), len(raw)))
    return (
        f"the marked line without its <text:TAG> marks differs from the raw sentence at char {k} "
        f"(raw ...{raw[max(0, k - 12) : k + 12]!r}, marked ...{plain[max(0, k - 12) : k + 12]!r}); "
        "fix an unbalanced '<' or ':TAG>' in the marked line, or the raw line"
    )


def _finish(spans: list[tuple[int, int, str]], text: str) -> list[dict]:
    """Trim whitespace at span edges (a few source marks include a space) and sort by start."""
    out = []
    for start, end, etype in spans:
        s, e = start, end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s == e:
            raise _Bad(f"entity {etype} at chars {start}-{end} is empty; remove the empty mark")
        if (s, e) != (start, end):
            last_read_notes["entity_whitespace_trimmed"] += 1
        out.append({"start": s, "end": e, "type": etype})
    out.sort(key=lambda d: (d["start"], d["end"]))
    return out


def _fields(lines: list[str], first_row: int, n: int, what: str) -> list[list[str]]:
    """Split token lines into exactly n tab-separated fields, or say which line is broken."""
    if not lines:
        raise _Bad("the header has no token lines after it: the sentence is cut off (file ends mid-sentence?)")
    rows = []
    for k, line in enumerate(lines):
        cols = line.split("\t")
        if len(cols) != n:
            raise _Bad(
                f"line {first_row + k}: {len(cols)} tab-separated fields, expected {n} ({what}); "
                "the line is damaged or the sentence is cut off"
            )
        rows.append(cols)
    return rows


def _after(line: str, prefix: str) -> str:
    return line[len(prefix) + 1 :] if line.startswith(prefix + " ") else line[len(prefix) :]


# ---------------------------------------------------------------- per-format sentence parsers


def _kmou(block: list[str], path: Path, row: int, index: int) -> dict:
    """`## n`, `## raw`, `## marked`, then `surface<TAB>surface<TAB>POS<TAB>BIO` with `_` between words."""
    nhead = next((k for k, ln in enumerate(block) if not ln.startswith("##")), len(block))
    if nhead != 3:
        raise _Bad(
            f"{nhead} '##' header lines, expected 3 (## <n>, ## <raw sentence>, ## <marked sentence>); "
            "restore the missing line, or add the blank line missing between two sentences"
        )
    num = re.fullmatch(r"##\s*(\d+)\s*", block[0])
    if num is None:
        raise _Bad(f"first header line {block[0][:40]!r} is not '## <sentence number>'; fix the header")
    raw, marked = _after(block[1], "##"), _after(block[2], "##")
    if not raw.strip():
        raise _Bad("the raw sentence line ('## <raw sentence>') is empty; fill it in or remove the block")
    toks = _fields(block[3:], row + 3, 4, "surface, surface, POS, BIO tag")
    words = sum(1 for t in toks if t[0] == "_") + 1
    if words < len(raw.split()):
        raise _Bad(f"the morpheme lines cover {words} of {len(raw.split())} words: the sentence is cut off")
    entities = _spans_from_marks(marked, raw)
    if sum(t[3].startswith("B") for t in toks) != len(entities):
        last_read_notes["bio_count_differs_from_marks"] += 1
    return {"id": f"{path.stem}:{num.group(1)}", "text": raw, "entities": entities}


def _klp(block: list[str], path: Path, row: int, index: int) -> dict:
    """`; raw`, `$marked`, then `eojeol_index<TAB>morpheme<TAB>POS<TAB>tag`."""
    if len(block) < 2 or not block[0].startswith(";") or not block[1].startswith("$"):
        raise _Bad(
            "expected '; <raw sentence>' then '$<marked sentence>' at the start of the sentence; "
            "restore the missing line, or add the blank line missing between two sentences"
        )
    raw, marked = _after(block[0], ";"), block[1][1:]
    toks = _fields(block[2:], row + 2, 4, "eojeol index, morpheme, POS, tag")
    bad = next((k for k, t in enumerate(toks) if not t[0].isdigit()), None)
    if bad is not None:
        raise _Bad(f"line {row + 2 + bad}: eojeol index {toks[bad][0]!r} is not a number; fix the line")
    if int(toks[-1][0]) < len(raw.split()):
        raise _Bad(f"the morpheme lines stop at word {toks[-1][0]} of {len(raw.split())}: the sentence is cut off")
    entities = _spans_from_marks(marked, raw)
    if sum(t[3].startswith("B") for t in toks) != len(entities):
        last_read_notes["bio_count_differs_from_marks"] += 1
    return {"id": f"{path.name}:{index}", "text": raw, "entities": entities}


def _klue(block: list[str], path: Path, row: int, index: int) -> dict | None:
    """`## id<TAB>marked`, then `char<TAB>tag` per character; the characters are the source of truth."""
    nhead = next((k for k, ln in enumerate(block) if not ln.startswith("##")), len(block))
    if nhead == 0:
        raise _Bad(
            "the sentence does not start with a '## <id>\\t<sentence>' line; restore it, or the blank "
            "line missing between two sentences"
        )
    header = block[nhead - 1][2:].strip(" ")
    if nhead == len(block):
        if "\t" not in header:
            return None  # file preamble (## comment lines) on its own
        raise _Bad("the '## <id>' header has no character lines after it: the sentence is cut off")
    sid, _, marked = header.partition("\t")
    chars, spans, cur, pos = [], [], None, 0
    for k, line in enumerate(block[nhead:]):
        ch, tab, tag = line.rpartition("\t")
        m = _BIO.fullmatch(tag)
        if not tab or not ch or m is None:
            raise _Bad(f"line {row + nhead + k}: {line[:30]!r} is not '<char><TAB><O|B-TAG|I-TAG>'; fix the line")
        chars.append(ch)
        if m.group(1):
            cur = None
        elif m.group(2) == "I" and cur is not None and cur[2] == m.group(3):
            cur[1] = pos + len(ch)
        else:
            if m.group(2) == "I":
                last_read_notes["klue_orphan_i_started_entity"] += 1
            cur = [pos, pos + len(ch), m.group(3)]
            spans.append(cur)
        pos += len(ch)
    text = "".join(chars)
    want = _MARK.sub(r"\1", marked).strip()
    if want and want != text.strip():
        if want.startswith(text.strip()):
            raise _Bad(
                f"the character lines stop after {len(text)} of {len(want)} characters of the header "
                "sentence: the sentence is cut off"
            )
        last_read_notes["klue_header_differs_from_chars"] += 1
    rec = {
        "id": sid.strip() or f"{path.stem}:{row + nhead - 1}",
        "text": text,
        "entities": _finish([tuple(s) for s in spans], text),
    }
    rec["source_row"] = row + nhead - 1
    return rec


def _jsonl(block: list[str], path: Path, row: int, index: int) -> dict:
    """One object per line; offsets are validated, never trusted."""
    try:
        obj = json.loads(block[0])
    except json.JSONDecodeError as err:
        raise _Bad(f"invalid JSON ({err.msg}, column {err.colno}); fix or remove the line") from None
    if not isinstance(obj, dict):
        raise _Bad(f"expected a JSON object, got {type(obj).__name__}; write one object per line")
    text, ents = obj.get("text"), obj.get("entities")
    if not isinstance(text, str):
        raise _Bad("field 'text' is missing or not a string; add the sentence as a string")
    if not isinstance(ents, list):
        raise _Bad("field 'entities' is missing or not a list; use [] for a sentence without entities")
    out = []
    for k, e in enumerate(ents):
        where = f"entities[{k}]"
        if not isinstance(e, dict) or not all(f in e for f in ("start", "end", "type")):
            raise _Bad(f"{where} must be an object with 'start', 'end' and 'type'; add the missing field")
        s, t, etype = e["start"], e["end"], e["type"]
        if any(type(v) is not int for v in (s, t)):
            raise _Bad(f"{where}: start/end must be integers, got {s!r}/{t!r}; write character offsets")
        if not isinstance(etype, str) or not etype.strip():
            raise _Bad(f"{where}: 'type' must be a non-empty string, got {etype!r}")
        if etype != etype.strip():  # 'PS ' and 'PS' are one type
            etype = etype.strip()
            last_read_notes["entity_type_spaces_trimmed"] += 1
        if not 0 <= s < t <= len(text):
            raise _Bad(
                f"{where}: span {s}-{t} is not inside the text (length {len(text)}) with start < end; "
                "fix the offsets (end is exclusive)"
            )
        out.append({"start": s, "end": t, "type": etype})
    out.sort(key=lambda d: (d["start"], d["end"]))
    for a, b in zip(out, out[1:]):
        if b["start"] < a["end"]:
            raise _Bad(
                f"entities overlap: {a['type']} {a['start']}-{a['end']} and {b['type']} "
                f"{b['start']}-{b['end']}; nested or duplicate spans are not supported, keep one"
            )
    rec = {"id": _json_id(obj.get("id")) or f"{path.stem}:{row}", "text": text, "entities": out}
    if "split" in obj:
        rec["split"] = obj["split"]
    return rec


def _json_id(value: object) -> str | None:
    """A JSON id as text (7 -> "7"); None when absent or empty (the line number stands in)."""
    if value is None:
        return None
    if isinstance(value, (dict, list, bool)):
        kind = {dict: "object", list: "list", bool: "boolean"}[type(value)]
        raise _Bad(
            f"field 'id' is a JSON {kind}, not a string or number; write the id as a string (or leave it "
            "out: the line number stands in)"
        )
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


_PARSERS: dict[str, Callable[[list[str], Path, int, int], dict | None]] = {
    "kmou": _kmou,
    "klp": _klp,
    "klue": _klue,
    "jsonl": _jsonl,
}


# ---------------------------------------------------------------- public API


def read_ner(path: str | Path, fmt: str, encoding: str = "utf-8") -> tuple[list[dict], list[dict]]:
    """Read a file or a directory of one NER format into (records, quarantined rows)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown NER format {fmt!r}; use one of {', '.join(FORMATS)}")
    parse = _PARSERS[fmt]
    last_read_notes.clear()
    records: list[dict] = []
    quarantined: list[dict] = []
    for file in _files(Path(path), fmt):
        lines = _read_lines(file, encoding)
        units = _jsonl_units(lines) if fmt == "jsonl" else _blocks(lines)
        for index, (row, block, ended) in enumerate(units, 1):
            try:
                if (too_long := long_line(block, row)) is not None:
                    raise _Bad(too_long)
                rec = parse(block, file, row, index)
            except _Bad as err:
                reason = str(err)
            except Exception as err:  # a parser bug must not hide the rest of the corpus
                reason = f"unexpected {type(err).__name__}: {err} (a bug in tasks/n2n/formats.py, please report)"
            else:
                if rec is not None:
                    rec.setdefault("source_row", row)
                    records.append({**rec, "source_file": str(file)})
                continue
            if not ended and fmt != "jsonl":
                reason += " (it is the last block and the file does not end with a blank line: truncated file?)"
            quarantined.append(
                {
                    "source_file": str(file),
                    "source_row": row,
                    "raw": "\n".join(block)[:MAX_RAW],
                    "reason": f"sentence at {file} line {row}: {reason}",
                }
            )
    if quarantined:
        _log.warning("read_ner(%s, %s): %d sentences read, %d quarantined", path, fmt, len(records), len(quarantined))
    return records, quarantined


def map_types(
    records: list[dict], mapping: dict[str, str | None], keep_unmapped: bool = False
) -> tuple[list[dict], dict]:
    """Rename entity types to one tag set (None drops a type); returns new records and what was dropped."""
    out: list[dict] = []
    dropped: Counter[str] = Counter()
    n_in = n_kept = 0
    for rec in records:
        ents = []
        for e in rec["entities"]:
            n_in += 1
            new = mapping.get(e["type"], e["type"] if keep_unmapped else None)
            if new is None:
                dropped[e["type"]] += 1
                continue
            ents.append({**e, "type": new})
        n_kept += len(ents)
        out.append({**rec, "entities": ents})
    return out, {"entities_in": n_in, "entities_kept": n_kept, "dropped_by_type": dict(dropped)}
