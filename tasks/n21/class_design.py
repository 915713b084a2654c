"""The N21 label schema: which classes exist, their ids, and how they are spread.

Pure functions over the encoded table; the flow writes the result as JSON (with the class design
review, tasks/class_review.py) and as Markdown. The classes come from the schema file
(tasks/label_schema.py) and fix the label ids, so training, evaluation and serving agree on them;
data with labels the schema does not know was already refused by the encode stage.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from tasks.splits import SPLITS

LABELS_PARAMS_KEY = "n21.class_design.schema"


def _count(table: pa.Table) -> Counter:
    """(label, split) -> rows. Null labels are left to validation to report."""
    # Group in Arrow: the result has K x 3 rows, the table may have millions.
    grouped = table.select(["label", "split"]).group_by(["label", "split"]).aggregate([("label", "count")])
    counts: Counter = Counter()
    for row in grouped.to_pylist():
        if row["label"] is not None:
            counts[(str(row["label"]), row["split"])] += row["label_count"]
    return counts


def _sort_key(values: list[str]):
    # "10" after "9", not after "1": integer-like labels sort as numbers.
    try:
        [int(v) for v in values]
        return lambda v: (int(v), v)
    except ValueError:
        return lambda v: v


def _labels_from_cfg(labels_cfg: list[dict]) -> list[dict]:
    out, seen_values, seen_names = [], set(), set()
    for i, item in enumerate(labels_cfg):  # a schema file's entries: only `value` is required
        if not isinstance(item, dict) or item.get("value") is None:
            raise ValueError(f"{LABELS_PARAMS_KEY}[{i}] needs a 'value' (the label as it appears in the data)")
        # YAML reads `value: 0` as an int; the data holds the string "0".
        value = str(item["value"])
        name = str(item.get("name") or value)
        if value in seen_values:
            raise ValueError(f"{LABELS_PARAMS_KEY} lists value {value!r} twice")
        if name in seen_names:
            raise ValueError(f"{LABELS_PARAMS_KEY} uses name {name!r} for two labels")
        seen_values.add(value)
        seen_names.add(name)
        out.append(
            {
                "value": value,
                "name": name,
                "description": str(item.get("description") or ""),
                "examples": list(item.get("examples") or []),
            }
        )
    return out


def _labels_from_data(counts: Counter) -> list[dict]:
    train_values = {lab for (lab, sp) in counts if sp == "train"}
    if not train_values:
        raise ValueError(
            f"the train split has no labelled rows, so labels cannot be derived; "
            f"check the split column or point {LABELS_PARAMS_KEY} at a label schema file"
        )
    values = sorted(train_values, key=_sort_key(list(train_values)))
    return [{"value": v, "name": v, "description": "", "examples": []} for v in values]


def build_label_schema(table: pa.Table, labels_cfg: list[dict], imbalance_ratio: float = 0.5) -> dict:
    """Label ids, per-split counts and imbalance warnings for N21.

    `labels_cfg` (the schema file's classes) fixes ids by its order; when empty,
    labels are the sorted distinct train values. A class is flagged when its train
    share is below `imbalance_ratio` x the uniform share 1/K. Values outside the
    classes are not counted (the encode stage refuses them).
    """
    counts = _count(table)
    labels = _labels_from_cfg(labels_cfg) if labels_cfg else _labels_from_data(counts)

    totals = {sp: sum(counts[(lab["value"], sp)] for lab in labels) for sp in SPLITS}
    out_labels = [
        {
            "id": i,
            "value": lab["value"],
            "name": lab["name"],
            "description": lab["description"],
            "examples": lab["examples"],
            "counts": {sp: counts[(lab["value"], sp)] for sp in SPLITS},
        }
        for i, lab in enumerate(labels)
    ]

    # The majority class is what a constant baseline trained on train would
    # predict; its test share is that baseline's test accuracy.
    majority = max(out_labels, key=lambda lab: lab["counts"]["train"])
    majority_share_test = majority["counts"]["test"] / totals["test"] if totals["test"] else 0.0

    return {
        "problem": "n21",
        "labels": out_labels,
        "totals": totals,
        "majority_class": majority["name"],
        "majority_share_test": round(majority_share_test, 6),
        "imbalance_warnings": _warnings(out_labels, totals, imbalance_ratio),
    }


def _warnings(labels: list[dict], totals: dict, imbalance_ratio: float) -> list[str]:
    warnings: list[str] = []
    k = len(labels)
    if k < 2:
        warnings.append(f"only {k} class(es): a classifier needs at least two")
    for sp in SPLITS:
        if totals[sp] == 0:
            warnings.append(f"the {sp} split has no labelled rows")
    if k == 0 or totals["train"] == 0:
        return warnings
    uniform = 1.0 / k
    threshold = imbalance_ratio * uniform
    for lab in labels:
        share = lab["counts"]["train"] / totals["train"]
        if share < threshold:
            warnings.append(
                f"class {lab['name']!r} has {lab['counts']['train']} train rows "
                f"({share:.1%} of train), below {imbalance_ratio:g} x the uniform share "
                f"{uniform:.1%} = {threshold:.1%}; consider class weights or more data"
            )
        # Without rows in an evaluation split its per-class metrics are undefined.
        for sp in ("dev", "test"):
            if totals[sp] and lab["counts"][sp] == 0:
                warnings.append(f"class {lab['name']!r} has no {sp} rows: its {sp} metrics are undefined")
    return warnings


def n21_review(schema: dict, cfg: dict, version: str) -> dict:
    """The class design review's data (tasks/class_review.py) for the N21 label schema."""
    from tasks.class_review import design_review

    note = (
        f"Majority class: **{schema['majority_class']}**; a constant baseline that always answers it "
        f"scores {schema['majority_share_test']:.1%} accuracy on test."
    )
    return design_review(
        "n21",
        "sequence → one class",
        "rows",
        schema["labels"],
        schema["imbalance_warnings"],
        cfg,
        version,
        notes=[note],
    )
