"""N2N scoring: entity spans read off BIO tags, and entity-level precision/recall/F1 on exact spans and type.

One definition for everything that scores a tagger: training's early stopping on dev, the evaluate stage,
and the bench's comparisons.
"""

from __future__ import annotations

from collections import Counter


def spans_from_tags(tags: list[str], text: str | None = None) -> list[tuple[int, int, str]]:
    """(start, end, type) per entity; a span never keeps surrounding spaces."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            spans.append((start, i, kind))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    if text is not None:
        trimmed = []
        for s, e, t in spans:
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if s < e:
                trimmed.append((s, e, t))
        spans = trimmed
    return spans


def entity_metrics(gold: list[list[tuple]], pred: list[list[tuple]], types: list[str]) -> dict:
    """Entity-level precision/recall/F1 on exact character spans and type, micro and per type."""
    counts = {t: Counter() for t in types}
    for g, p in zip(gold, pred):
        g, p = set(map(tuple, g)), set(map(tuple, p))
        for span in g & p:
            counts.setdefault(span[2], Counter())["tp"] += 1
        for span in p - g:
            counts.setdefault(span[2], Counter())["fp"] += 1
        for span in g - p:
            counts.setdefault(span[2], Counter())["fn"] += 1

    def prf(c: Counter) -> dict:
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": c["tp"] + c["fn"],
            "predicted": c["tp"] + c["fp"],
        }

    total = sum(counts.values(), Counter())
    per_type = {t: prf(c) for t, c in counts.items()}
    macro = [per_type[t]["f1"] for t in per_type if per_type[t]["support"]]
    return {
        **{k: v for k, v in prf(total).items()},
        "macro_f1": sum(macro) / len(macro) if macro else 0.0,
        "per_type": per_type,
    }
