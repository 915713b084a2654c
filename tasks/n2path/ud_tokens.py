"""Raw Korean text -> words as UD Korean (GSD) writes them: eojeol, with punctuation split off.

The parser learnt from treebanks whose tokens are space-separated eojeol except that punctuation is
its own token (`샀다` + `.`, `"` + `반갑다` + `"` + `라는`, `40.3` + `%` + `로`): the MISC column
records SpaceAfter=No on a token glued to the next (tasks.n2path.formats.write_conllu computes it from the
text). Splitting raw text on spaces only would keep `샀다.` as one word the parser never saw.

What stays inside a word, as in GSD: a number's `.`, `,` and `:` between digits (`3.3`, `8,770원`,
`13:00`), a range's `~` before a digit (`70~80`, `936년~946년`), a hyphen between letters or digits
(`AK-47`, `베이징-상하이`), a `.` between Latin letters or digits (`S.E.S`, `www.x.com`), and URLs and
e-mail addresses whole. `...` (three dots or more) and `''` are one token; other punctuation is one
token per character (`..` is two, as GSD mostly writes it).
"""

from __future__ import annotations

import re
import unicodedata

_URL = re.compile(r"(?:https?://|www\.)[^\s]*[A-Za-z0-9/]|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
EXTRA_PUNCT = frozenset("ㆍ")  # a Hangul letter by its category, punctuation in GSD (민ㆍ관)


def is_punct(ch: str) -> bool:
    return ch in EXTRA_PUNCT or unicodedata.category(ch)[0] in "PS"


def _inside_word(word: str, i: int) -> bool:
    """Whether the punctuation character word[i] belongs to the word around it rather than standing alone."""
    if i == 0 or i == len(word) - 1:
        return False
    ch, left, right = word[i], word[i - 1], word[i + 1]
    if ch in ".,:" and left.isdigit() and right.isdigit():
        return True
    if (ch == "-" and left.isalnum() and right.isalnum()) or (ch == "~" and left.isalnum() and right.isdigit()):
        return True
    return ch in "._&" and bool(_LATIN_OR_DIGIT.match(left)) and bool(_LATIN_OR_DIGIT.match(right))


def _split_eojeol(word: str) -> list[str]:
    tokens: list[str] = []
    current = ""
    i = 0
    while i < len(word):
        url = _URL.match(word, i) if not current or not current[-1].isalnum() else None
        if url:
            if current:
                tokens.append(current)
            tokens.append(url.group())
            current, i = "", url.end()
            continue
        ch = word[i]
        if not is_punct(ch) or _inside_word(word, i):
            current += ch
            i += 1
            continue
        if current:
            tokens.append(current)
            current = ""
        j = i + 1
        while j < len(word) and word[j] == ch:
            j += 1
        if not (ch == "." and j - i >= 3 or ch in "'`" and j - i == 2):  # `...` and `''` are one token, `..` two
            j = i + 1
        tokens.append(word[i:j])
        i = j
    if current:
        tokens.append(current)
    return tokens


def ud_words(text: str) -> list[str]:
    """The words (CoNLL-U FORMs) of one raw sentence, UD Korean style."""
    return [token for eojeol in text.split() for token in _split_eojeol(eojeol)]
