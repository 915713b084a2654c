"""Label corrections: a versioned overlay on the raw data, never an edit of it.

A person's corrections (from Label Studio, through `hanflow label import`) are appended to one JSON-lines
file per problem type, `<problem>.data.corrections` (data/corrections/<problem>.jsonl, committed with the
code or DVC-tracked), and the ingest stage applies them on top of the rows it read: the raw file is never
rewritten, the corrections file is a dependency of the ingest stage, and `dvc repro` rebuilds exactly what
a new import changed. One line per correction:

    {"id": "r0042", "text": "...", "label": "positive", "previous": "negative",          # N21
     "annotator": "ann@example.com", "time": "2025-05-02T10:11:12Z", "task": 17,
     "import": "review-2025-05-02", "source": "export.json"}
    {"id": "s0007", "text": "...", "entities": [{"start": 0, "end": 3, "type": "PS"}], ...}   # N2N

`text` is the row's text the annotator saw: a correction whose row has since changed text, whose id is no
longer in the data, or whose label or entity type is not in the label schema is refused with the file,
the line, the Label Studio task and the fix. The last line for an id wins; a line whose label equals the
data's is a confirmation (a person looked and kept it), counted but changing nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable

import pyarrow as pa


class CorrectionError(ValueError):
    """A corrections file or line that cannot be applied; the message names the file, line, task and fix."""


def _where(path: str | Path, line: int | None, entry: dict | None = None) -> str:
    task = entry.get("task") if isinstance(entry, dict) else None
    name = entry.get("import") if isinstance(entry, dict) else None
    extra = ", ".join(
        x for x in (f"Label Studio task {task}" if task is not None else "", f"import {name!r}" if name else "") if x
    )
    return f"{path}" + (f" line {line}" if line is not None else "") + (f" ({extra})" if extra else "")


def read_corrections(path: str | Path, field: str) -> list[dict]:
    """The file's corrections in order, each with its `line`; a missing or empty file has none. `field`: what a
    correction sets, the ingested column it replaces (a class label, or a sentence's entity spans)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError as err:
            raise CorrectionError(
                f"{_where(path, number)}: invalid JSON ({err.msg}, column {err.colno}); fix the "
                "line or remove it (the file is written by `hanflow label import`)"
            ) from None
        if not isinstance(entry, dict) or entry.get("id") in (None, "") or field not in entry:
            raise CorrectionError(
                f"{_where(path, number, entry if isinstance(entry, dict) else None)}: a correction "
                f"needs an `id` and a `{field}`; fix the line or remove it"
            )
        out.append({**entry, "id": str(entry["id"]), "line": number})
    return out


def _check_entities(entry: dict, text: str, types: set[str] | None, where: str, schema: str | None) -> list[dict]:
    spans = entry["entities"]
    if not isinstance(spans, list):
        raise CorrectionError(f"{where}: `entities` must be a list of {{start, end, type}}; fix the line")
    out, taken = [], set()
    for e in spans:
        try:
            start, end, kind = int(e["start"]), int(e["end"]), str(e["type"])
        except (KeyError, TypeError, ValueError):
            raise CorrectionError(
                f"{where}: entity {e!r} needs integer start and end and a type; fix the line"
            ) from None
        if not 0 <= start < end <= len(text):
            raise CorrectionError(
                f"{where}: entity {kind} [{start}, {end}) lies outside the sentence of {len(text)} "
                "characters; fix its offsets or annotate the task again"
            )
        if types is not None and kind not in types:
            raise CorrectionError(
                f"{where}: entity type {kind!r} is not in the label schema {schema} "
                f"({', '.join(sorted(types))}); fix the line, or add the type to {schema}"
            )
        if taken & set(range(start, end)):
            raise CorrectionError(f"{where}: entity {kind} [{start}, {end}) overlaps another; keep one of them")
        taken |= set(range(start, end))
        out.append({"start": start, "end": end, "type": kind})
    return sorted(out, key=lambda e: e["start"])


def apply_corrections(
    table: pa.Table,
    corrections: list[dict],
    field: str,
    path: str | Path,
    classes: Iterable[str] | None = None,
    schema: str | None = None,
) -> tuple[pa.Table, dict]:
    """The ingested table with the corrections applied, and what changed (per import, per class).

    `classes`: the schema's values (labels or entity types), None when there is no schema file."""
    known = set(map(str, classes)) if classes is not None else None
    ids = table.column("id").to_pylist()
    index = {row_id: i for i, row_id in enumerate(ids)}
    texts = table.column("text").to_pylist()
    values = table.column(field).to_pylist()
    original = list(values)
    latest: dict[int, dict] = {}
    for entry in corrections:
        where = _where(path, entry.get("line"), entry)
        row = index.get(entry["id"])
        if row is None:
            raise CorrectionError(
                f"{where}: id {entry['id']!r} is not in the data; remove the line (the row was "
                "deleted or renumbered), or restore the row in the raw data"
            )
        if entry.get("text") is not None and entry["text"] != texts[row]:
            raise CorrectionError(
                f"{where}: the text of id {entry['id']!r} changed since it was annotated; "
                "remove the line and annotate the row again"
            )
        if field == "label":
            value = str(entry["label"]).strip()
            if not value or (known is not None and value not in known):
                raise CorrectionError(
                    f"{where}: label {value!r} is not in the label schema {schema} "
                    f"({', '.join(sorted(known or []))}); fix the line, or add the class to {schema}"
                )
            entry = {**entry, "label": value}
        else:
            entry = {**entry, "entities": _check_entities(entry, texts[row], known, where, schema)}
        latest[row] = entry
    summary = {
        "file": str(path),
        "corrections": len(corrections),
        "rows": len(latest),
        "changed": 0,
        "confirmed": 0,
        "imports": {},
        "per_class": {},
    }
    per_class: dict[str, Counter] = {}
    for row, entry in sorted(latest.items()):
        new = entry[field]
        before = original[row]
        name = str(entry.get("import") or "?")
        stats = summary["imports"].setdefault(name, {"changed": 0, "confirmed": 0, "changes": Counter()})
        if _same(before, new, field):
            summary["confirmed"] += 1
            stats["confirmed"] += 1
            continue
        summary["changed"] += 1
        stats["changed"] += 1
        values[row] = new
        for old_class, new_class in _class_moves(before, new, field):
            stats["changes"][f"{old_class} → {new_class}"] += 1
            per_class.setdefault(old_class, Counter())["out"] += 1
            per_class.setdefault(new_class, Counter())["in"] += 1
    for stats in summary["imports"].values():
        stats["changes"] = dict(stats["changes"].most_common())
    summary["per_class"] = {c: {"out": n["out"], "in": n["in"]} for c, n in sorted(per_class.items())}
    if not summary["changed"]:
        return table, summary
    column = pa.array(values, table.schema.field(field).type)
    return table.set_column(table.schema.get_field_index(field), field, column), summary


def _key(spans: list[dict]) -> list[tuple]:
    return sorted((int(e["start"]), int(e["end"]), str(e["type"])) for e in spans or [])


def _same(before, new, field: str) -> bool:
    return before == new if field == "label" else _key(before) == _key(new)


def _class_moves(before, new, field: str) -> list[tuple[str, str]]:
    """(from, to) per changed label; for entities per changed span: type → type, or (none) where one side lacks it."""
    if field == "label":
        return [(str(before), str(new))]
    old = {(s, e): t for s, e, t in _key(before)}
    now = {(s, e): t for s, e, t in _key(new)}
    moves = [(old.get(span, "(none)"), now.get(span, "(none)")) for span in sorted(set(old) | set(now))]
    return [(a, b) for a, b in moves if a != b]


def summary_lines(summary: dict | None) -> list[str]:
    """The class review's Markdown for the corrections applied to this data version."""
    if not summary or not summary.get("corrections"):
        return [
            "No corrections applied: the data is the raw file as it is (corrections file "
            f"`{(summary or {}).get('file', '—')}`)."
        ]
    lines = [
        f"{summary['changed']} label(s) changed and {summary['confirmed']} confirmed by a person, from "
        f"`{summary['file']}` ({summary['corrections']} line(s)); the raw file is unchanged.",
        "",
        "| import | changed | confirmed | changes |",
        "|---|---:|---:|---|",
    ]
    for name, stats in summary["imports"].items():
        changes = ", ".join(f"{move} ({n})" for move, n in list(stats["changes"].items())[:6])
        lines.append(f"| {name} | {stats['changed']} | {stats['confirmed']} | {changes} |")
    if summary["per_class"]:
        lines += ["", "| class | labels moved out | labels moved in |", "|---|---:|---:|"]
        lines += [f"| {c} | {n['out']} | {n['in']} |" for c, n in summary["per_class"].items()]
    return lines


def append_corrections(path: str | Path, entries: list[dict]) -> int:
    """Append new corrections to the file (written whole to a temporary file and renamed); returns how many
    were new. An entry already in the file (same task, annotation and time) is not added twice."""
    from tasks import io

    path = Path(path)
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    seen = set()
    for raw in existing.split("\n"):
        if raw.strip():
            try:
                old = json.loads(raw)
            except json.JSONDecodeError:
                continue
            seen.add(_identity(old))
    new = [e for e in entries if _identity(e) not in seen]
    if new:
        body = existing if not existing or existing.endswith("\n") else existing + "\n"
        body += "".join(json.dumps({k: v for k, v in e.items() if k != "line"}, ensure_ascii=False) + "\n" for e in new)
        path.parent.mkdir(parents=True, exist_ok=True)
        io.write_text(body, path)
    return len(new)


def _identity(entry: dict) -> tuple:
    return (str(entry.get("id")), entry.get("task"), entry.get("annotation"), entry.get("time"))
