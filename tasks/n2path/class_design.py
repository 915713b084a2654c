"""N2Path class design: the dependency relations the parser learns, from the schema file or the train split.

The relation schema with descriptions and arc counts per split, warnings for relations too rare to learn
or missing from the schema, and the class design review (tasks/class_review.py) built from them. Encode
takes its relation list from here, so the parser's label set and the review agree.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from tasks.splits import SPLITS


def relation_values(configured: list | None) -> list[str]:
    """The relation names of a schema: plain names or {value, name, description, examples} (the schema file's)."""
    return [str(r["value"]) if isinstance(r, dict) else str(r) for r in configured or []]


def relation_names(table: pa.Table, configured: list | None) -> list[str]:
    """The relation schema: the params list, or every relation of the train split (sorted)."""
    values = relation_values(configured)
    if values:
        return values
    train = table.filter(pc.equal(table.column("split"), "train"))
    return sorted({r for rels in train.column("deprels").to_pylist() for r in rels})


def relation_schema(table: pa.Table, configured: list | None, min_count: int = 10) -> dict:
    """Relations with descriptions, arc counts per split, and warnings (rare, unseen in train, unknown)."""
    counts: Counter = Counter()
    for split, rels in zip(table.column("split").to_pylist(), table.column("deprels").to_pylist()):
        for r in rels:
            counts[(r, split)] += 1
    derived = not relation_values(configured)
    names = relation_names(table, configured)
    described = {str(r["value"]): r for r in configured or [] if isinstance(r, dict)}
    relations = []
    for value in names:
        entry = described.get(value, {})  # a schema entry's name, description, examples are optional
        relations.append(
            {
                "value": value,
                "name": str(entry.get("name") or value),
                "description": str(entry.get("description") or ""),
                "examples": list(entry.get("examples") or []),
                "counts": {s: counts.get((value, s), 0) for s in SPLITS},
            }
        )
    known = set(names)
    unknown = sorted({r for r, _ in counts} - known)
    warnings = [
        f"relation {r['value']} has {r['counts']['train']} train arcs (under {min_count}): the parser will "
        "rarely predict it"
        for r in relations
        if 0 < r["counts"]["train"] < min_count
    ]
    warnings += [
        f"relation {r['value']} has no train arcs: the parser can never predict it"
        for r in relations
        if r["counts"]["train"] == 0
    ]
    if unknown:
        where = "the train split" if derived else "the schema file, n2path.class_design.schema"
        warnings.append(
            f"the data has relations outside the schema ({where}): {unknown}; list them in "
            "the schema file, or fix those sentences"
        )
    return {
        "relations": relations,
        "derived_from_train": derived,
        "unknown_relations": unknown,
        "arcs": {s: sum(c for (_, split), c in counts.items() if split == s) for s in SPLITS},
        "warnings": warnings,
    }


def n2path_review(schema: dict, cfg: dict, version: str) -> dict:
    """The class design review's data (tasks/class_review.py) for the dependency relations."""
    from tasks.class_review import design_review

    note = "Counts are arcs (one per word, punctuation included) per split." + (
        " The relations are derived from the train split (no schema file)." if schema["derived_from_train"] else ""
    )
    return design_review(
        "n2path",
        "tokens → dependency graph",
        "arcs",
        schema["relations"],
        schema["warnings"],
        cfg,
        version,
        notes=[note],
    )
