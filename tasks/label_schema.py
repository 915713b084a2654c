"""Label schema files: the classes of a problem type, a stakeholder decision kept under version control.

One YAML file per problem type (data/schema/<problem>_*.yaml), pointed at by params
`<problem>.class_design.schema`:

    problem: n21
    classes:                      # order = id = the model's output index: append, never reorder
      - id: 0
        value: negative           # the label exactly as the data writes it
        name: negative
        description: The writer is dissatisfied ...
        examples: [기대보다 지루해서 중간에 나왔어요.]

`schema: null` derives the classes from the train split instead (sorted values), for a first look at
new data; `dvc repro` needs a file, since the file is a dependency of the stages that read it.

Data whose labels the schema does not know is refused in one place, the encode stage of each problem
type (the first stage that reads the schema; for N21, N2N and N2Path it turns classes into ids), before
validation and training. `check_known` names the values, their counts and a row to look at.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml


class SchemaError(ValueError):
    """A schema file that cannot be used, or data the schema does not cover."""


def _key(problem: str | None) -> str:
    return f"{problem}.class_design.schema" if problem else "class_design.schema"


def load_schema(path: str | Path, problem: str | None = None) -> list[dict]:
    """The classes of a schema file, in id order: [{id, value, name, description, examples}]."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(
            f"label schema {path} not found (params key {_key(problem)}); write it (see "
            "data/schema/ for the format) or point the key at an existing file"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SchemaError(f"label schema {path} is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("classes"), list) or not data["classes"]:
        raise SchemaError(
            f"label schema {path}: expected a mapping with a non-empty `classes:` list, "
            "each class with id, value, name, description and examples"
        )
    if problem and data.get("problem") not in (None, problem):
        raise SchemaError(
            f"label schema {path} is for problem {data['problem']!r}, not {problem!r}; check params key {_key(problem)}"
        )
    classes, values, names = [], set(), set()
    for i, item in enumerate(data["classes"]):
        if not isinstance(item, dict) or item.get("value") is None:
            raise SchemaError(f"label schema {path}: class {i} needs a `value` (the label as the data writes it)")
        # YAML reads `value: 0` as an int; the data holds the string "0".
        value = str(item["value"])
        if item.get("id") is not None and item["id"] != i:
            raise SchemaError(
                f"label schema {path}: class {value!r} has id {item['id']!r} but is number {i} in "
                "the list; ids follow the list order (append new classes at the end, never renumber)"
            )
        name = str(item.get("name") or value)
        if value in values:
            raise SchemaError(f"label schema {path} lists value {value!r} twice")
        if name in names:
            raise SchemaError(f"label schema {path} uses name {name!r} for two classes")
        examples = item.get("examples") or []
        examples = [examples] if isinstance(examples, str) else examples
        if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
            raise SchemaError(f"label schema {path}: class {value!r} `examples` must be a list of sentences")
        values.add(value)
        names.add(name)
        classes.append(
            {
                "id": i,
                "value": value,
                "name": name,
                "description": " ".join(str(item.get("description") or "").split()),
                "examples": [" ".join(e.split()) for e in examples],
            }
        )
    return classes


def load_classes(cfg: dict, problem: str) -> list[dict]:
    """params `class_design` -> the schema file's classes; [] when `schema` is null (derived from train)."""
    schema = cfg.get("schema")
    return load_schema(schema, problem) if schema else []


# ---------------------------------------------------------------- unknown labels


def unknown_values(table: pa.Table, column: str, known: list[str], field: str | None = None) -> list[dict]:
    """Each value of `column` (a list column's items; `field` of struct items) outside `known`:
    [{value, count, id, source_file, source_row}] with the first row holding it, most frequent first."""
    values = table.column(column).combine_chunks()
    rows = None
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        rows = pc.list_parent_indices(values).to_numpy()
        values = pc.list_flatten(values)
    if field:
        values = pc.struct_field(values, field)
    values = values.cast(pa.string())
    outside = pc.and_(
        pc.invert(pc.is_in(values, value_set=pa.array(sorted(set(known)), pa.string()))), pc.is_valid(values)
    ).fill_null(False)
    positions = np.flatnonzero(outside.to_numpy(zero_copy_only=False))
    if not len(positions):
        return []
    found: dict[str, dict] = {}
    for value, pos in zip(pc.take(values, pa.array(positions)).to_pylist(), positions):
        row = int(rows[pos]) if rows is not None else int(pos)
        entry = found.setdefault(value, {"value": value, "count": 0, "row": row})
        entry["count"] += 1
    out = []
    for entry in sorted(found.values(), key=lambda e: (-e["count"], e["value"])):
        row = entry.pop("row")
        for col in ("id", "source_file", "source_row"):
            entry[col] = table.column(col)[row].as_py() if col in table.column_names else None
        out.append(entry)
    return out


def unknown_message(
    unknown: list[dict], problem: str, schema_file: str | None, kind: str = "label", unit: str = "rows"
) -> str:
    """What is wrong (values, counts, a row each) and what to do, for a user who has never read the code.
    `kind`: what a class is to the problem type (label, entity type, relation); `unit`: what is counted."""

    def where(e: dict) -> str:
        one = unit[:-1] if e["count"] == 1 else unit
        at = [f"id {e['id']}" if e.get("id") is not None else ""]
        if e.get("source_row") is not None:
            at.append(f"line {e['source_row']}" + (f" of {e['source_file']}" if e.get("source_file") else ""))
        return f"{e['value']!r} ({e['count']} {one}; e.g. {', '.join(a for a in at if a)})"

    n = len(unknown)
    listed = ", ".join(where(e) for e in unknown[:20]) + (f" and {n - 20} more" if n > 20 else "")
    values = f"{n} {kind} value{'s are' if n > 1 else ' is'}"
    if schema_file:
        return (
            f"{problem}: {values} not in the label schema {schema_file}: {listed}. Add each real class to "
            f"{schema_file} (value, name, description, examples; new classes at the end), or fix or remove "
            "those rows in the data."
        )
    return (
        f"{problem}: {values} not in the train split, from which the classes are derived ({_key(problem)} is "
        f"null): {listed}. A model cannot learn a class it never sees in training: write a schema file and "
        f"point {_key(problem)} at it, or fix the split."
    )


def check_known(
    table: pa.Table,
    column: str,
    known: list[str],
    problem: str,
    schema_file: str | None,
    field: str | None = None,
    kind: str = "label",
    unit: str = "rows",
) -> None:
    """Refuse data with values of `column` the schema does not list (SchemaError naming them, as `kind`s counted
    in `unit`s)."""
    unknown = unknown_values(table, column, known, field)
    if unknown:
        raise SchemaError(unknown_message(unknown, problem, schema_file, kind, unit))
