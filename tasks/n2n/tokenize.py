"""N2N tokenize stage: morphemes from the KoNLPy tagger spread over syllables, and BIO tags per syllable.

Why syllables, not morphemes: an entity boundary often falls inside a morpheme as the
tagger cuts it (Mecab glues 씨 or a particle onto a name, or splits a date differently from
the annotators), so tagging morphemes loses those entities before training starts:
this stage measures exactly that (`entities_off_morpheme_boundaries`). Tagging every
syllable keeps every span exact, and each syllable still carries its morpheme, the
morpheme's POS and its position in the word as features, so the tagger's analysis is used.
"""

from __future__ import annotations

import pyarrow as pa

# Syllable position: 0 is padding, then word start, morpheme start inside a word, anything else.
WORD_START, MORPH_START, INSIDE = 1, 2, 3


def align_morphemes(text: str, morphemes: list[str]) -> list[tuple[int, int] | None]:
    """Character span of each morpheme in `text`, left to right; None where the surface is not found.

    Mecab keeps surfaces; a tagger that normalizes (Okt) may not, so a morpheme is looked for
    only a little ahead and the cursor never jumps over text another morpheme could own.
    """
    spans: list[tuple[int, int] | None] = []
    cursor, lost = 0, 0
    for morph in morphemes:
        # After an unaligned morpheme the text it rewrote lies ahead, so allow skipping that much.
        reach = len(morph) + 8 + 4 * lost
        at = text.find(morph, cursor, cursor + reach) if morph else -1
        if at < 0 or (not lost and text[cursor:at].strip()):
            spans.append(None)
            lost += 1
            continue
        spans.append((at, at + len(morph)))
        cursor, lost = at + len(morph), 0
    return spans


def syllable_features(text: str, morphemes: list[str], pos: list[str]) -> tuple[list[str], list[str], list[int], int]:
    """Per syllable: its morpheme, that morpheme's POS, its boundary id; plus the unaligned count."""
    n = len(text)
    char_morph, char_pos = [""] * n, [""] * n
    starts = set()
    spans = align_morphemes(text, morphemes)
    for span, morph, tag in zip(spans, morphemes, pos):
        if span is None:
            continue
        starts.add(span[0])
        for i in range(*span):
            char_morph[i], char_pos[i] = morph, tag
    boundary = []
    for i, ch in enumerate(text):
        if not ch.isspace() and (i == 0 or text[i - 1].isspace()):
            boundary.append(WORD_START)
        elif i in starts:
            boundary.append(MORPH_START)
        else:
            boundary.append(INSIDE)
    return char_morph, char_pos, boundary, sum(s is None for s in spans)


def bio_tags(n: int, entities: list[dict]) -> list[str]:
    tags = ["O"] * n
    for e in entities:
        tags[e["start"]] = f"B-{e['type']}"
        for i in range(e["start"] + 1, e["end"]):
            tags[i] = f"I-{e['type']}"
    return tags


def tokenize_ner(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """The tokenize stage: morphemes from the KoNLPy tagger, spread over the sentence's syllables."""
    from tasks.tokenize import tokenize_table

    tagged, tok_report = tokenize_table(table, cfg)
    texts = table.column("text").to_pylist()
    entities = table.column("entities").to_pylist() if "entities" in table.column_names else [[] for _ in texts]
    cols: dict[str, list] = {"chars": [], "char_morph": [], "char_pos": [], "boundary": [], "tags": []}
    unaligned = off_boundary = n_entities = 0
    for text, morphs, pos, ents in zip(
        texts, tagged.column("tokens").to_pylist(), tagged.column("pos").to_pylist(), entities
    ):
        char_morph, char_pos, boundary, missed = syllable_features(text, morphs, pos)
        unaligned += missed
        morph_starts = {i for i, b in enumerate(boundary) if b in (WORD_START, MORPH_START)}
        for e in ents or []:
            n_entities += 1
            end_ok = e["end"] == len(text) or e["end"] in morph_starts or text[e["end"]].isspace()
            off_boundary += not (e["start"] in morph_starts and end_ok)
        cols["chars"].append(list(text))
        cols["char_morph"].append(char_morph)
        cols["char_pos"].append(char_pos)
        cols["boundary"].append(boundary)
        cols["tags"].append(bio_tags(len(text), ents or []))
    out = tagged
    for name, values in cols.items():
        out = out.append_column(name, pa.array(values, pa.list_(pa.int8() if name == "boundary" else pa.string())))
    report = {
        **tok_report,
        "morphemes_unaligned": unaligned,
        "entities": n_entities,
        # What tagging morphemes instead of syllables would lose (module docstring).
        "entities_off_morpheme_boundaries": off_boundary,
    }
    return out, report
