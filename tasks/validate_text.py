"""Helper columns for the Korean-text expectations in tasks/*/suite.yaml.

GX has no built-in expectation for "mostly Hangul", "no control characters", "the same text in two
splits" or "enough rows per class", so each becomes a plain column (or a small per-class frame) here
and the suite files hold the expectations on them, with their bounds taken from params.yaml.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

from tasks.splits import SPLITS, same_text_key

# Characters a correctly decoded Korean text never holds: C0/C1 controls (other than tab and line
# breaks), surrogates, the BOM / zero-width no-break space, and U+FFFD, which a decoder substitutes
# for bytes it could not read (UTF-8 read as CP949, or the reverse). UTF-8 bytes read as Latin-1
# show up as C1 controls (U+0080-U+009F), so they are caught too.
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
_ALWAYS_BAD = {"\ufffd", "\ufeff"}


def is_hangul(ch: str) -> bool:
    """Hangul syllables, jamo and compatibility jamo (ㅋ, ㅠ count: they are Korean text)."""
    o = ord(ch)
    return (
        0xAC00 <= o <= 0xD7A3
        or 0x1100 <= o <= 0x11FF
        or 0x3130 <= o <= 0x318F
        or 0xA960 <= o <= 0xA97F
        or 0xD7B0 <= o <= 0xD7FF
    )


def hangul_share(text: str | None) -> float | None:
    """Hangul letters / all letters; 0.0 when the text has no letters (digits, emoji, punctuation only);
    None for a missing or empty text (the not-null and length expectations report those).

    Letters, not characters: "10점 만점에 10점!!" is Korean text although half of it is digits and
    punctuation. A text without any letter ("^^", "10/10", "😀😀") is no Korean text, so it counts
    against the Hangul expectation: its `mostly` leaves room for a few (NSMC: 0.3% of reviews), while
    a file of emoji-only rows fails.
    """
    if not text:
        return None
    letters = hangul = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            hangul += is_hangul(ch)
    return round(hangul / letters, 4) if letters else 0.0


def bad_chars(text: str | None) -> str | None:
    """'' for a clean text, else the offending characters as code points ("U+0007 U+FFFD")."""
    if text is None:
        return None
    found: list[str] = []
    for ch in text:
        if ch in _ALWAYS_BAD or (ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs")):
            code = f"U+{ord(ch):04X}"
            if code not in found:
                found.append(code)
    return " ".join(found)


def normalize(text: str | None) -> str | None:
    """The key two texts are "the same" under (splits.same_text_key, which splits are assigned by)."""
    return None if text is None else same_text_key(text)


def splits_per_text(texts: list, splits: list) -> list[int | None]:
    """For each row, how many distinct splits hold its (normalized) text; > 1 is leakage."""
    keys = [normalize(t) for t in texts]
    seen: dict[str, set] = defaultdict(set)
    for key, split in zip(keys, splits):
        if key:
            seen[key].add(split)
    return [len(seen[k]) if k else None for k in keys]


def add_text_columns(df, column: str, prefix: str = "", splits: list | None = None):
    """Add {prefix}hangul_share, {prefix}bad_chars and (given splits) {prefix}n_splits_for_text."""
    texts = [None if v is None or v != v else str(v) for v in df[column].tolist()]
    df[f"{prefix}hangul_share"] = [hangul_share(t) for t in texts]
    df[f"{prefix}bad_chars"] = [bad_chars(t) for t in texts]
    if splits is not None:
        df[f"{prefix}n_splits_for_text"] = splits_per_text(texts, splits)
    return df


def class_counts(labels: list, splits: list, schema: list[str]):
    """One row per class of the schema: its rows in each split.

    A class with no row at all still gets a row of zeros, so "at least N training rows per class"
    catches it. Labels outside the schema are left to the rows' own label-in-schema expectation.
    """
    import pandas as pd

    counts: dict[str, dict[str, int]] = {str(v): {s: 0 for s in SPLITS} for v in schema}
    for label, split in zip(labels, splits):
        if label is not None and str(label) in counts and split in SPLITS:
            counts[str(label)][split] += 1
    return pd.DataFrame(
        [{"label": k, **{f"{s}_rows": v[s] for s in SPLITS}} for k, v in counts.items()],
        columns=["label", *(f"{s}_rows" for s in SPLITS)],
    )
