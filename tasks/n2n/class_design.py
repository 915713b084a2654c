"""The N2N entity schema: which entity types exist, what they mean, how they are spread.

The types are a stakeholder decision (the schema file at params n2n.class_design.schema): data whose
types the schema does not list is refused by the encode stage, and a type with too few examples is
flagged here. `n2n_review` feeds the shared class design review (tasks/class_review.py).
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from tasks.splits import SPLITS


def entity_schema(table: pa.Table, types_cfg: list[dict], imbalance_ratio: float = 0.1) -> dict:
    """Types with descriptions, entity counts per split, sentences without entities, warnings."""
    counts: Counter = Counter()
    empty: Counter = Counter()
    for split, ents in zip(table.column("split").to_pylist(), table.column("entities").to_pylist()):
        empty[split] += not ents
        for e in ents:
            counts[(e["type"], split)] += 1
    if types_cfg:
        types = [
            {
                "value": str(t["value"]),
                "name": str(t.get("name") or t["value"]),
                "description": str(t.get("description") or ""),
                "examples": list(t.get("examples") or []),
            }
            for t in types_cfg
        ]
    else:
        types = [{"value": v, "name": v, "description": "", "examples": []} for v in sorted({t for t, _ in counts})]
    for entry in types:
        entry["counts"] = {s: counts.get((entry["value"], s), 0) for s in SPLITS}
    known = {t["value"] for t in types}
    unknown = sorted({t for t, _ in counts} - known)
    largest = max((t["counts"]["train"] for t in types), default=0)
    warnings = [
        f"type {t['value']} has {t['counts']['train']} train entities, under {imbalance_ratio:.0%} of the "
        f"largest type ({largest}): collect more examples or merge it"
        for t in types
        if largest and t["counts"]["train"] < imbalance_ratio * largest
    ]
    if unknown:
        warnings.append(
            f"the data has types the schema does not list: {unknown}; add them to the schema file "
            "(n2n.class_design.schema) or map them with n2n.data.type_map"
        )
    return {
        "types": types,
        "unknown_types": unknown,
        "sentences_without_entities": dict(empty),
        "imbalance_warnings": warnings,
        "tags": ["O", *(f"{p}-{t['value']}" for t in types for p in "BI")],
    }


def n2n_review(schema: dict, cfg: dict, version: str) -> dict:
    """The class design review's data (tasks/class_review.py) for the entity types."""
    from tasks.class_review import design_review

    empty = schema["sentences_without_entities"]
    notes = [
        "Counts are entities (exact character spans) per split. Sentences without entities: "
        + ", ".join(f"{s} {empty.get(s, 0)}" for s in SPLITS)
        + ".",
        f"Tags (BIO over syllables): {', '.join(schema['tags'])}",
    ]
    return design_review(
        "n2n",
        "token → tag (named entities)",
        "entities",
        schema["types"],
        schema["imbalance_warnings"],
        cfg,
        version,
        notes=notes,
    )
