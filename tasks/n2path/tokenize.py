"""N2Path tokenize: the morphemes and POS tags of every word, which the parser reads besides the word itself.

Each word carries its morphemes and their POS tags, from one of two places (params tokenize.morphemes):

- `treebank`: the treebank's own analysis, LEMMA and XPOS split on "+" ("가깝+ㄴ", "VA+ETM");
- `tagger`: the KoNLPy tagger (tokenize.tagger) run on each word on its own, the only analysis raw text
  has at prediction time. A tag that glues morphemes ("VV+EP" for Mecab's 했) is split the same way.

`tagger` is the default, by measurement on UD Korean GSD dev (same parser, 8 epochs): trained and scored
on treebank morphemes LAS 0.778; that model given Mecab's morphemes, as raw text at predict gives it,
0.722; trained and scored on Mecab's morphemes 0.763. Close to the treebank figure, and no gap between
what evaluation reports and what predict delivers.

Adds `morphs` and `tags` to the canonical table (list<list<string>>, one inner list per word).
"""

from __future__ import annotations

import pyarrow as pa

MORPHEME_SOURCES = ("treebank", "tagger")
NESTED = pa.list_(pa.list_(pa.string()))


def treebank_morphemes(word: str, lemma: str, xpos: str) -> tuple[list[str], list[str]]:
    """The treebank's analysis of one word: LEMMA and XPOS split on '+'; the form where LEMMA is missing."""
    tags = [t for t in xpos.split("+") if t] if xpos not in ("", "_") else []
    if lemma in ("", "_"):
        return [word], tags
    morphs = [m for m in lemma.split("+") if m]
    return morphs or [lemma], tags  # a lone "+" is the morpheme "+"


def tagger_morphemes(words: list[str], cfg: dict) -> dict[str, tuple[list[str], list[str]]]:
    """word -> (morphemes, tags) from the KoNLPy tagger, each distinct word tagged once on its own."""
    from tasks.tokenize import tokenize_texts

    unique = list(dict.fromkeys(words))
    tokens, pos = tokenize_texts(unique, {**cfg, "join_pos": False})
    out = {}
    for word, morphs, tags in zip(unique, tokens, pos):
        out[word] = (morphs or [word], [t for tag in tags for t in tag.split("+") if t])
    return out


def tokenize_parse(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """The tokenize stage: `morphs` and `tags` per word, from the treebank or the tagger (module docstring)."""
    mode = cfg["morphemes"]
    if mode not in MORPHEME_SOURCES:
        raise ValueError(f"tokenize.morphemes is {mode!r}; choose one of {', '.join(MORPHEME_SOURCES)}")
    words = table.column("words").to_pylist()
    lemmas = table.column("lemmas").to_pylist()
    xpos = table.column("xpos").to_pylist()
    morphs: list[list[list[str]]] = []
    tags: list[list[list[str]]] = []
    report: dict = {"rows_in": table.num_rows, "rows_kept": table.num_rows, "rows_quarantined": 0, "morphemes": mode}
    if mode == "treebank":
        missing = unequal = 0
        for ws, ls, xs in zip(words, lemmas, xpos):
            pairs = [treebank_morphemes(w, l, x) for w, l, x in zip(ws, ls, xs)]
            morphs.append([m for m, _ in pairs])
            tags.append([t for _, t in pairs])
            missing += sum(x in ("", "_") for x in xs)
            unequal += sum(len(m) != len(t) for m, t in pairs if t)
        report.update(words_without_xpos=missing, words_lemma_xpos_unequal=unequal)
        if missing and missing == sum(map(len, words)):
            raise ValueError(
                "tokenize.morphemes is 'treebank' but the data has no XPOS analysis (all '_'); "
                "set n2path.tokenize.morphemes=tagger"
            )
    else:
        analysis = tagger_morphemes([w for ws in words for w in ws], cfg)
        agree = compared = 0
        for ws, xs in zip(words, xpos):
            morphs.append([analysis[w][0] for w in ws])
            tags.append([analysis[w][1] for w in ws])
            for w, x in zip(ws, xs):
                if x not in ("", "_"):
                    compared += 1
                    agree += analysis[w][1] == [t for t in x.split("+") if t]
        report.update(tagger=cfg["tagger"], distinct_words_tagged=len(analysis))
        if compared:
            # How often the tagger's tag sequence for a word equals the treebank's XPOS: the gap predict has.
            report["tagger_xpos_agreement"] = round(agree / compared, 4)
    out = table.append_column("morphs", pa.array(morphs, NESTED)).append_column("tags", pa.array(tags, NESTED))
    report["words"] = sum(map(len, words))
    report["morphemes_total"] = sum(len(m) for row in morphs for m in row)
    return out, report
