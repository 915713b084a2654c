"""Keep Korean word spacing through morpheme tokenization, so generated answers read as Korean.

Morphemes lose the spaces between eojeol (words): "밥 먹었어" and "밥먹었어" both become
밥/먹/었/어. A model that generates morphemes must therefore also generate where words start.
Following SentencePiece, a morpheme that starts an eojeol carries a leading "▁" (U+2581), so the
marker is part of the token and costs no extra decoding step:

    attach_spacing("밥 먹었어?", ["밥", "먹", "었", "어", "?"]) == ["▁밥", "▁먹", "었", "어", "?"]
    detokenize(["▁밥", "▁먹", "었", "어", "?"]) == "밥 먹었어?"

The first morpheme is marked too (it starts an eojeol); detokenize strips the leading space.
"""

from __future__ import annotations

from difflib import SequenceMatcher

SPACE = "\u2581"  # ▁, the SentencePiece word-start mark; not a character Korean text uses
SPECIALS = frozenset({"<pad>", "<bos>", "<eos>", "<unk>", "<s>", "</s>"})
UNK = "<unk>"


def attach_spacing(text: str, morphemes: list[str]) -> list[str]:
    """Prefix "▁" to each morpheme that starts an eojeol of `text`; one output token per morpheme.

    Fast path: morpheme surfaces are substrings of the text in order (Mecab), so a cursor walks the
    text and a morpheme starts a word when whitespace (or the text start) lies right before it.
    Taggers that normalize (Okt's norm/stem, Kkma's 했 -> 하+었) break that walk; then the whole
    sentence is aligned without its spaces (difflib), and a morpheme starts a word when a word start
    of the text falls between the previous morpheme's aligned position and its own. That never
    raises and keeps every morpheme; only spaces the alignment cannot place are lost.
    """
    surfaces = [m.removeprefix(SPACE) for m in morphemes]  # idempotent on already-marked tokens
    marks = _cursor_marks(text, surfaces)
    if marks is None:
        marks = _aligned_marks(text, surfaces)
    return [SPACE + s if mark else s for s, mark in zip(surfaces, marks)]


def _cursor_marks(text: str, surfaces: list[str]) -> list[bool] | None:
    marks, cursor = [], 0
    for surface in surfaces:
        start = cursor
        while cursor < len(text) and text[cursor].isspace():
            cursor += 1
        if not surface:  # an empty morpheme marks nothing and consumes nothing
            marks.append(False)
            cursor = start
            continue
        if not text.startswith(surface, cursor):
            return None
        marks.append(cursor == 0 or cursor > start)
        cursor += len(surface)
    return marks


def _aligned_marks(text: str, surfaces: list[str]) -> list[bool]:
    compact_chars, word_starts = [], []
    previous_space = True
    for ch in text:
        if ch.isspace():
            previous_space = True
            continue
        if previous_space:
            word_starts.append(len(compact_chars))
        compact_chars.append(ch)
        previous_space = False
    compact = "".join(compact_chars)
    pieces = ["".join(s.split()) for s in surfaces]
    joined = "".join(pieces)
    # Position in `compact` of every character of `joined` (and of its end).
    where = [0] * (len(joined) + 1)
    matcher = SequenceMatcher(None, joined, compact, autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(i1, i2):
            # Equal blocks map one to one; replaced text is spread evenly over its counterpart;
            # deleted text (only in the morphemes) sits at its counterpart's position.
            where[k] = j1 + ((k - i1) * (j2 - j1)) // max(1, i2 - i1)
    where[len(joined)] = len(compact)
    marks, offset, previous = [], 0, -1
    starts = iter(word_starts)
    next_start = next(starts, None)
    for piece in pieces:
        if not piece:
            marks.append(False)
            continue
        position = where[offset]
        offset += len(piece)
        mark = False
        # Every word start up to this morpheme's position is consumed by it: the first morpheme
        # at or after a word start opens that word.
        while next_start is not None and previous < next_start <= position:
            mark = True
            next_start = next(starts, None)
        previous = max(previous, position)
        marks.append(mark)
    return marks


def detokenize(tokens: list[str], unk: str = "") -> str:
    """Join morpheme tokens into text: "▁" becomes a space; <pad>/<bos>/<eos>/<s>/</s> are dropped.

    <unk> renders as `unk`, by default nothing: a "?" would read as a Korean question mark and
    would even match real question marks in chrF, so an unknown morpheme is better left out.
    Tokens without "▁" attach to the previous token, so no space ever splits an eojeol.
    """
    parts = []
    for token in tokens:
        if token == UNK:
            parts.append(unk)
        elif token not in SPECIALS:
            parts.append(token.replace(SPACE, " "))
    return " ".join("".join(parts).split())


def spaced_tokens(texts: list[str], cfg: dict) -> list[list[str]]:
    """Tokenize like the pipeline (`tokenize_texts`) and attach word-start marks: the N2M token form."""
    from tasks.tokenize import tokenize_texts

    if cfg["join_pos"]:
        raise ValueError(
            "spaced_tokens needs plain morphemes: set tokenize.join_pos to false for N2M, "
            "a 'morpheme/TAG' token cannot be turned back into text"
        )
    tokens, _ = tokenize_texts(texts, cfg)
    return [attach_spacing(text, morphs) for text, morphs in zip(texts, tokens)]
