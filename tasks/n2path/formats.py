"""Readers that turn Korean dependency treebanks (CoNLL-U: UD Korean GSD/Kaist; KLUE-DP TSV) into one form.

Canonical sentence: {"id", "text", "words", "lemmas", "upos", "xpos", "heads", "deprels", "source_file",
"source_row"}. Lists run over eojeols (UD word lines); heads are 1-based with 0 = root. LEMMA and XPOS keep
the treebank's morpheme analysis joined by "+" ("가깝+ㄴ", "VA+ETM"); KLUE writes its lemma morphemes
space-separated and they are re-joined with "+" so that one splitter serves every source. "upos" is "_"
where the source has none (KLUE). source_row is the 1-based line of the sentence's first line.
A sentence that cannot be read goes to the quarantine list with a reason; nothing is dropped silently.
Stdlib only, so the readers can run anywhere the data is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from tasks.textfile import blocks as _blocks, long_line, read_lines as _read_lines

MAX_RAW = 2000  # quarantine rows keep at most this many characters of the block
CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
KLUE_COLUMNS = ("INDEX", "WORD_FORM", "LEMMA", "POS", "HEAD", "DEPREL")
_log = logging.getLogger(__name__)


class _Bad(Exception):
    """A sentence that cannot be read; the message is the quarantine reason."""


# ---------------------------------------------------------------- trees


def tree_problems(heads: Sequence[int]) -> list[str]:
    """What keeps 1-based `heads` (0 = root) from being one tree; an empty list means well-formed."""
    return _tree_problems(list(heads), lambda i: f"word {i}")


def _tree_problems(heads: list[int], where: Callable[[int], str]) -> list[str]:
    n = len(heads)
    problems: list[str] = []
    if n == 0:
        return ["the sentence has no words"]
    in_range = [0 <= h <= n for h in heads]
    for i, h in enumerate(heads, 1):
        if not in_range[i - 1]:
            problems.append(f"{where(i)} has head {h}, outside 0..{n} (the sentence has {n} words)")
        elif h == i:
            problems.append(f"{where(i)} is its own head")
    roots = [i for i, h in enumerate(heads, 1) if h == 0]
    if not roots:
        problems.append("no word has head 0: the sentence needs exactly one root")
    elif len(roots) > 1:
        problems.append(
            f"{len(roots)} words have head 0 ({', '.join(where(i) for i in roots)}): "
            "keep one root and attach the others to a word"
        )
    # Walk up from every word; a walk that meets its own path (not a finished word) found a cycle.
    state = [0] * (n + 1)  # 0 unseen, 1 on the current path, 2 finished
    state[0] = 2
    for start in range(1, n + 1):
        path: list[int] = []
        node = start
        while state[node] == 0:
            state[node] = 1
            path.append(node)
            h = heads[node - 1]
            if not in_range[node - 1] or h == node:
                break  # already reported above
            node = h
        else:
            if state[node] == 1:
                cycle = path[path.index(node) :]
                if len(cycle) > 1:
                    chain = " -> ".join(str(c) for c in cycle + [cycle[0]])
                    problems.append(f"words {chain} form a cycle ({where(cycle[0])} never reaches the root)")
        for p in path:
            state[p] = 2
    return problems


# ---------------------------------------------------------------- files and blocks


def _int(value: str, row: int, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _Bad(f"line {row}: {column} {value!r} is not an integer; fix the line") from None


def _check_tree(heads: list[int], rows: list[int]) -> None:
    problems = _tree_problems(heads, lambda i: f"word {i} (line {rows[i - 1]})")
    if problems:
        raise _Bad("; ".join(problems) + "; fix the HEAD column")


# ---------------------------------------------------------------- per-format sentence parsers


def _conllu(block: list[str], path: Path, row: int) -> dict | None:
    sid = text = None
    words: list[list[str]] = []
    rows: list[int] = []
    for k, line in enumerate(block):
        r = row + k
        if line.startswith("#"):
            key, eq, value = line[1:].partition("=")
            if eq and key.strip() == "sent_id":
                sid = value.strip()
            elif eq and key.strip() == "text":
                text = value.strip()
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            hint = " (space-separated? CoNLL-U needs tabs)" if len(cols) == 1 and " " in line else ""
            raise _Bad(
                f"line {r}: {len(cols)} tab-separated fields, expected 10 ({' '.join(CONLLU_COLUMNS)})"
                f"{hint}; the line is damaged or the sentence is cut off"
            )
        tid = cols[0]
        if "." in tid:
            raise _Bad(
                f"line {r}: empty node {tid!r} (enhanced dependencies) is not supported; "
                "remove the empty-node line or convert the treebank to basic trees"
            )
        if "-" in tid:
            a, _, b = tid.partition("-")
            if not (a.isdigit() and b.isdigit() and 0 < int(a) < int(b)):
                raise _Bad(f"line {r}: token range {tid!r} is not '<first>-<last>' with first < last; fix the ID")
            continue  # the multiword token itself: its words follow on their own lines
        expect = len(words) + 1
        if _int(tid, r, "ID") != expect:
            raise _Bad(
                f"line {r}: word ID {tid} where {expect} was expected; IDs must run 1, 2, 3, ... "
                "(renumber the words and their HEADs, or add the blank line missing between sentences)"
            )
        words.append(cols)
        rows.append(r)
    if not words:
        if sid is None and text is None:
            return None  # a file-level comment block (e.g. '# newdoc', '# global.columns')
        raise _Bad("the sentence has comment lines but no word lines: the sentence is cut off")
    heads = [_int(c[6], rows[i], "HEAD") for i, c in enumerate(words)]
    _check_tree(heads, rows)
    is_root = [c[7].split(":")[0] == "root" for c in words]
    # Only a sentence that uses the UD label is held to it: KLUE-style labels written as CoNLL-U have none.
    for i in range(len(words)) if any(is_root) else ():
        if (heads[i] == 0) != is_root[i]:
            raise _Bad(
                f"line {rows[i]}: HEAD {heads[i]} with DEPREL {words[i][7]!r}; UD gives DEPREL 'root' exactly "
                "to the word whose HEAD is 0, so fix one of the two columns"
            )
    forms = [c[1] for c in words]
    if text is None:
        # Honour SpaceAfter=No so a sentence without '# text' still gets its real spacing.
        text = "".join(f + ("" if "SpaceAfter=No" in c[9].split("|") else " ") for f, c in zip(forms, words)).strip()
    return {
        "id": sid or f"{path.stem}:{row}",
        "text": text,
        "words": forms,
        "lemmas": [c[2] for c in words],
        "upos": [c[3] for c in words],
        "xpos": [c[4] for c in words],
        "heads": heads,
        "deprels": [c[7] for c in words],
    }


def _klue_dp(block: list[str], path: Path, row: int) -> dict | None:
    """`## <id><TAB><sentence>`, then `INDEX WORD LEMMA POS HEAD DEPREL` lines; the file opens with '##' notes."""
    nhead = next((k for k, ln in enumerate(block) if not ln.startswith("##")), len(block))
    if nhead == 0:
        raise _Bad(
            "the sentence does not start with a '## <id>\\t<sentence>' line; restore it, or the blank "
            "line missing between two sentences"
        )
    header = block[nhead - 1][2:].strip(" ")
    if "\t" not in header:
        if nhead == len(block):
            return None  # file preamble ('## 칼럼명 : ...' notes) on its own
        raise _Bad(f"line {row + nhead - 1}: header {header[:40]!r} is not '## <id><TAB><sentence>'; fix the header")
    if nhead == len(block):
        raise _Bad("the '## <id>' header has no word lines after it: the sentence is cut off")
    sid, _, text = header.partition("\t")
    first = row + nhead
    words: list[list[str]] = []
    rows: list[int] = []
    for k, line in enumerate(block[nhead:]):
        r = first + k
        cols = line.split("\t")
        if len(cols) != 6:
            raise _Bad(
                f"line {r}: {len(cols)} tab-separated fields, expected 6 ({' '.join(KLUE_COLUMNS)}); "
                "the line is damaged or the sentence is cut off"
            )
        if _int(cols[0], r, "INDEX") != len(words) + 1:
            raise _Bad(
                f"line {r}: INDEX {cols[0]} where {len(words) + 1} was expected; indices must run 1, 2, 3, "
                "... (or add the blank line missing between two sentences)"
            )
        words.append(cols)
        rows.append(r)
    heads = [_int(c[4], rows[i], "HEAD") for i, c in enumerate(words)]
    _check_tree(heads, rows)
    return {
        "id": sid.strip() or f"{path.stem}:{first - 1}",
        "text": text.strip() or " ".join(c[1] for c in words),
        "words": [c[1] for c in words],
        "lemmas": ["+".join(c[2].split()) or "_" for c in words],
        "upos": ["_"] * len(words),
        "xpos": [c[3] for c in words],
        "heads": heads,
        "deprels": [c[5] for c in words],
        "source_row": first - 1,
    }


# ---------------------------------------------------------------- public API


def _read(
    path: str | Path, encoding: str, parse: Callable[[list[str], Path, int], dict | None], name: str
) -> tuple[list[dict], list[dict]]:
    file = Path(path)
    sentences: list[dict] = []
    quarantined: list[dict] = []
    for row, block, ended in _blocks(_read_lines(file, encoding)):
        try:
            if (too_long := long_line(block, row)) is not None:
                raise _Bad(too_long)
            sent = parse(block, file, row)
        except _Bad as err:
            reason = str(err)
        except Exception as err:  # a parser bug must not hide the rest of the treebank
            reason = f"unexpected {type(err).__name__}: {err} (a bug in tasks/n2path/formats.py, please report)"
        else:
            if sent is not None:
                sent.setdefault("source_row", row)
                sentences.append({**sent, "source_file": str(file)})
            continue
        if not ended:
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
        _log.warning("%s(%s): %d sentences read, %d quarantined", name, file, len(sentences), len(quarantined))
    return sentences, quarantined


def read_conllu(path: str | Path, encoding: str = "utf-8") -> tuple[list[dict], list[dict]]:
    """Read a CoNLL-U file into (sentences, quarantined rows); range lines (`3-4`) are skipped."""
    return _read(path, encoding, _conllu, "read_conllu")


def read_klue_dp(path: str | Path, encoding: str = "utf-8") -> tuple[list[dict], list[dict]]:
    """Read a KLUE-DP TSV file into (sentences, quarantined rows); deprels stay KLUE's (NP_SBJ, VP, ...)."""
    return _read(path, encoding, _klue_dp, "read_klue_dp")


def write_conllu(sentences: Sequence[dict]) -> str:
    """CoNLL-U text (10 columns, `_` where unknown) with `# sent_id` / `# text`; SpaceAfter=No from the text."""
    out: list[str] = []
    for k, s in enumerate(sentences, 1):
        words = s["words"]
        n = len(words)
        for key in ("heads", "deprels"):
            if len(s[key]) != n:
                raise ValueError(
                    f"sentence {s.get('id')!r}: {len(s[key])} {key} for {n} words; "
                    "every per-word list must have one entry per word"
                )
        text = s.get("text") or " ".join(words)
        out.append(f"# sent_id = {s.get('id') or k}")
        out.append(f"# text = {text}")
        glued = _space_after_no(text, words)
        for i in range(n):
            cols = [
                str(i + 1),
                _cell(words[i]),
                _get(s, "lemmas", i),
                _get(s, "upos", i),
                _get(s, "xpos", i),
                "_",
                str(int(s["heads"][i])),
                _cell(s["deprels"][i]),
                "_",
                "SpaceAfter=No" if glued[i] else "_",
            ]
            out.append("\t".join(cols))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def _get(s: dict, key: str, i: int) -> str:
    values = s.get(key)
    return _cell(values[i]) if values is not None and i < len(values) else "_"


def _cell(value: object) -> str:
    # Tabs and newlines would break the column layout; UD allows spaces inside FORM/LEMMA.
    text = str(value).replace("\t", " ").replace("\n", " ").strip()
    return text or "_"


def _space_after_no(text: str, words: Sequence[str]) -> list[bool]:
    """Which words the text glues to the next one; all False when the words do not spell the text."""
    glued, pos = [], 0
    for w in words:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith(w, pos):
            return [False] * len(words)
        pos += len(w)
        glued.append(pos < len(text) and not text[pos].isspace())
    if glued:
        glued[-1] = False
    return glued
