"""N2N gazetteer baseline: tag the entity strings seen in train, and nothing else.

What memorizing the training entities alone scores is the floor a trained tagger has to beat; the
evaluate stage reports it beside the model's scores and the bench compares the two sentence by sentence.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa


def gazetteer_baseline(train: pa.Table, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    """Tag every occurrence of an entity string seen in train with its most frequent type, longest first."""
    seen: dict[str, Counter] = {}
    for text, ents in zip(train.column("text").to_pylist(), train.column("entities").to_pylist()):
        for e in ents:
            seen.setdefault(text[e["start"] : e["end"]], Counter())[e["type"]] += 1
    names = sorted((s for s in seen if len(s) > 1), key=len, reverse=True)
    out = []
    for text in texts:
        taken = [False] * len(text)
        spans = []
        for name in names:
            start = text.find(name)
            while start >= 0:
                end = start + len(name)
                if not any(taken[start:end]):
                    spans.append((start, end, seen[name].most_common(1)[0][0]))
                    taken[start:end] = [True] * len(name)
                start = text.find(name, end)
        out.append(sorted(spans))
    return out
