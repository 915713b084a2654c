"""Attachment scores for dependency parses (UAS/LAS), overall and per gold relation, plus a trivial baseline.

Inputs are lists of sentences, each a list of 1-based heads (0 = root) and a list of relation labels.
By default every token counts, punctuation included (what CoNLL 2018 and KLUE report); pass punct_mask
to follow the older convention that leaves punctuation out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence


def attachment_scores(
    gold_heads: Sequence[Sequence[int]],
    gold_rels: Sequence[Sequence[str]],
    pred_heads: Sequence[Sequence[int]],
    pred_rels: Sequence[Sequence[str]],
    punct_mask: Sequence[Sequence[bool]] | None = None,
) -> dict:
    """{"uas", "las", "tokens", "per_relation": {gold rel: {"count", "las", "uas"}}}; punct_mask True = skip."""
    n = len(gold_heads)
    lists = {"gold_rels": gold_rels, "pred_heads": pred_heads, "pred_rels": pred_rels}
    if punct_mask is not None:
        lists["punct_mask"] = punct_mask
    for name, values in lists.items():
        if len(values) != n:
            raise ValueError(f"{name} holds {len(values)} sentences but gold_heads holds {n}; pass aligned lists")
    tokens = head_ok = both_ok = 0
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # count, uas hits, las hits
    for k in range(n):
        m = len(gold_heads[k])
        for name, values in lists.items():
            if len(values[k]) != m:
                raise ValueError(
                    f"sentence {k}: {name} has {len(values[k])} entries for {m} gold words; "
                    "predictions must keep the gold tokenisation"
                )
        for i in range(m):
            if punct_mask is not None and punct_mask[k][i]:
                continue
            hit = int(pred_heads[k][i]) == int(gold_heads[k][i])
            labelled = hit and pred_rels[k][i] == gold_rels[k][i]
            tokens += 1
            head_ok += hit
            both_ok += labelled
            row = per[gold_rels[k][i]]
            row[0] += 1
            row[1] += hit
            row[2] += labelled
    return {
        "uas": head_ok / tokens if tokens else 0.0,
        "las": both_ok / tokens if tokens else 0.0,
        "tokens": tokens,
        "per_relation": {rel: {"count": c, "las": l / c, "uas": u / c} for rel, (c, u, l) in sorted(per.items())},
    }


def right_neighbour_heads(n: int) -> list[int]:
    """Every word headed by the next one, the last by the root: a floor for head-final Korean."""
    return [i + 1 for i in range(1, n)] + [0] if n else []


def right_neighbour_baseline(sentences: Sequence[dict | Sequence[int]]) -> float:
    """UAS of right_neighbour_heads over canonical sentences (their "heads") or plain head lists."""
    total = hits = 0
    for s in sentences:
        gold = s["heads"] if isinstance(s, dict) else s
        pred = right_neighbour_heads(len(gold))
        hits += sum(int(g) == p for g, p in zip(gold, pred))
        total += len(gold)
    return hits / total if total else 0.0
