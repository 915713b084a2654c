"""Label Studio's formats: the labeling config from a label schema, tasks with pre-annotations, its JSON export.

Label Studio (label-studio on PyPI) is a separate tool with its own server and dependencies; hanflow only
writes and reads its files (https://labelstud.io/guide/tasks.html, /guide/export.html):

- the labeling config (XML): N21 `<Choices>` over `<Text>`, one `<Choice>` per class; N2N `<Labels>` over
  `<Text granularity="symbol">` (character spans: Korean entities start and end inside words), one
  `<Label>` per entity type. Annotators see the classes' names and descriptions (as hints).
- tasks (JSON list): `data` holds the text, hanflow's row id and problem, and a note saying why the row is
  there; `predictions` the pre-annotation an annotator accepts or fixes (review: N21 the suggested class,
  N2N the data's spans with the note naming the suspected ones; queue: the model's prediction).
- the JSON export: each task with its `annotations` (`result` items as in predictions). The latest
  annotation that was not cancelled is the person's answer.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

FROM_NAME, TO_NAME = "label", "text"
COLORS = ("#e8a33d", "#4e9fd6", "#6ab04c", "#c0587a", "#8e6fd1", "#3fb6a8", "#d9643a", "#7f8c8d")


class ExportError(ValueError):
    """A Label Studio export that cannot be read; the message names the file, the task and the fix."""


def labeling_config(problem: str, classes: list[dict]) -> str:
    """The labeling config XML for the schema's classes ([{value, name, description}])."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$note", size="6")
    if problem == "n21":
        ET.SubElement(view, "Text", name=TO_NAME, value="$text")
        choices = ET.SubElement(
            view, "Choices", name=FROM_NAME, toName=TO_NAME, choice="single-radio", showInline="true", required="true"
        )
        for c in classes:
            ET.SubElement(choices, "Choice", value=c["name"], hint=c.get("description") or c["name"])
    elif problem == "n2n":
        labels = ET.SubElement(view, "Labels", name=FROM_NAME, toName=TO_NAME)
        for k, c in enumerate(classes):
            ET.SubElement(
                labels,
                "Label",
                value=c["name"],
                background=COLORS[k % len(COLORS)],
                hint=f"{c['value']}: {c.get('description') or c['name']}",
            )
        ET.SubElement(view, "Text", name=TO_NAME, value="$text", granularity="symbol")
    else:
        raise ValueError(f"Label Studio export: {problem} is not supported (n21, n2n)")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _choice(name: str) -> dict:
    return {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [name]}}


def _spans(text: str, entities: list[dict], names: dict[str, str]) -> list[dict]:
    return [
        {
            "id": f"e{k}",
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": "labels",
            "value": {
                "start": int(e["start"]),
                "end": int(e["end"]),
                "text": text[int(e["start"]) : int(e["end"])],
                "labels": [names.get(e["type"], e["type"])],
            },
        }
        for k, e in enumerate(entities)
    ]


def task(
    problem: str,
    kind: str,
    row_id: str,
    text: str,
    note: str,
    prediction: Any,
    classes: list[dict],
    model_version: str,
    score: float | None = None,
    extra: dict | None = None,
) -> dict:
    """One task (`kind`: review, a row of the data, or queue, a new one): N21 `prediction` is a class value,
    N2N a list of {start, end, type}."""
    names = {c["value"]: c["name"] for c in classes}
    result = [_choice(names.get(prediction, prediction))] if problem == "n21" else _spans(text, prediction, names)
    entry = {"model_version": model_version, "result": result}
    if score is not None:
        entry["score"] = round(float(score), 4)
    return {
        "data": {
            "text": text,
            "note": note,
            "hanflow_id": str(row_id),
            "hanflow_problem": problem,
            "hanflow_kind": kind,
            **(extra or {}),
        },
        "predictions": [entry],
    }


def review_tasks(
    problem: str, rows: list[dict], classes: list[dict], entities: dict[str, list[dict]] | None = None
) -> list[dict]:
    """Tasks for the label review's suspects (label_review.parquet rows, best first). N21: pre-annotated with the
    suggested class; N2N: one task per sentence, pre-annotated with the data's spans (`entities`: id -> spans)."""
    names = {c["value"]: c["name"] for c in classes}
    if problem == "n21":
        return [
            task(
                problem,
                "review",
                r["id"],
                r["text"],
                f"Suspected label error #{r['rank']}: the data says {names.get(r['given_label'], r['given_label'])}"
                f", the model suggests {names.get(r['suggested_label'], r['suggested_label'])} "
                f"({r['suggested_confidence']:.0%}). Choose the right class.",
                r["suggested_label"],
                classes,
                "label_review",
                r["suggested_confidence"],
                {"given_label": r["given_label"]},
            )
            for r in rows
        ]
    by_sentence: dict[str, list[dict]] = {}
    for r in rows:
        by_sentence.setdefault(r["id"], []).append(r)
    out = []
    for row_id, suspects in by_sentence.items():
        # Pre-annotated with the spans as the data has them: the person fixes what the note points at.
        note = (
            "Suspected: "
            + "; ".join(
                f"“{s['span']}” ({s['start']}-{s['end']}) is tagged {s['given_tags']}, the "
                f"model suggests {s['suggested_tags']}"
                for s in suspects
            )
            + ". Fix the spans."
        )
        out.append(
            task(
                problem,
                "review",
                row_id,
                suspects[0]["text"],
                note,
                (entities or {}).get(row_id, []),
                classes,
                "data",
                1.0 - min(s["self_confidence"] for s in suspects),
            )
        )
    return out


def queue_tasks(problem: str, rows: list[dict], classes: list[dict]) -> list[dict]:
    """Tasks for the labeling queue (tasks/label_queue.py rows), pre-annotated with the model's prediction."""
    names = {c["value"]: c["name"] for c in classes}
    out = []
    for r in rows:
        if problem == "n21":
            note = (
                f"Unlabeled #{r['rank']}: the model says {names.get(r['label'], r['label'])} "
                f"({r['confidence']:.0%}). Choose the right class."
            )
            out.append(task(problem, "queue", r["id"], r["text"], note, r["label"], classes, "model", r["confidence"]))
        else:
            note = f"Unlabeled #{r['rank']}: the model's entities are marked. Fix or complete the spans."
            out.append(
                task(problem, "queue", r["id"], r["text"], note, r["entities"], classes, "model", 1.0 - r["score"])
            )
    return out


# ---------------------------------------------------------------- the export


def read_export(path: str | Path) -> list[dict]:
    """The export's tasks (Label Studio's JSON export: a list of tasks)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file; export the project from Label Studio as JSON") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExportError(
            f"{path}: not a JSON file ({err}); export the project from Label Studio as JSON "
            "(not JSON-MIN, CSV or CoNLL)"
        ) from None
    if not isinstance(data, list) or not all(isinstance(t, dict) and "data" in t for t in data):
        raise ExportError(
            f"{path}: expected Label Studio's JSON export, a list of tasks each with `data`; export "
            "the project as JSON (not JSON-MIN, CSV or CoNLL)"
        )
    return data


def _latest(annotations: list[dict]) -> dict | None:
    done = [a for a in annotations or [] if not a.get("was_cancelled")]
    return max(
        done, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0), default=None
    )


def _annotator(annotation: dict) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id"))
    return str(annotation.get("created_username") or who or "")


def _code_points(text: str, start: int, end: int, shown: str | None) -> tuple[int, int]:
    """Label Studio's offsets count UTF-16 code units in a browser: outside the Basic Multilingual Plane
    (emoji) they differ from Python's code points; map them back when the span text says so."""
    if shown is None or text[start:end] == shown:
        return start, end
    units = text.encode("utf-16-le")
    a, b = len(units[: 2 * start].decode("utf-16-le", "ignore")), len(units[: 2 * end].decode("utf-16-le", "ignore"))
    return (a, b) if text[a:b] == shown else (start, end)


def corrections_from_export(
    tasks: list[dict], problem: str, classes: list[dict], source: str, import_name: str
) -> tuple[list[dict], dict]:
    """The person's answers as corrections (tasks/corrections.py lines; `kind` queue: a new row, not in the data),
    and counts of the tasks skipped."""
    by_name = {c["name"]: c["value"] for c in classes}
    by_value = {c["value"]: c["value"] for c in classes}
    out, skipped = [], {"not_annotated": 0, "not_from_hanflow": 0, "other_problem": 0}
    for t in tasks:
        data = t.get("data") or {}
        if data.get("hanflow_id") is None:
            skipped["not_from_hanflow"] += 1
            continue
        if data.get("hanflow_problem") not in (None, problem):
            skipped["other_problem"] += 1
            continue
        annotation = _latest(t.get("annotations") or [])
        if annotation is None:
            skipped["not_annotated"] += 1
            continue
        results = [r for r in annotation.get("result") or [] if r.get("from_name") == FROM_NAME]
        entry = {
            "id": str(data["hanflow_id"]),
            "text": data.get("text"),
            "kind": data.get("hanflow_kind", "review"),
            "annotator": _annotator(annotation),
            "time": annotation.get("updated_at") or annotation.get("created_at"),
            "task": t.get("id"),
            "annotation": annotation.get("id"),
            "import": import_name,
            "source": source,
        }
        if problem == "n21":
            chosen = [c for r in results for c in (r.get("value") or {}).get("choices") or []]
            if len(chosen) != 1:
                raise ExportError(
                    f"{source} (Label Studio task {t.get('id')}): the annotation chose "
                    f"{len(chosen)} classes, not one; annotate the task again with one class"
                )
            entry["label"] = by_name.get(chosen[0], by_value.get(chosen[0], chosen[0]))
            if data.get("given_label") is not None:
                entry["previous"] = data["given_label"]
        else:
            spans = []
            for r in results:
                value = r.get("value") or {}
                kinds = value.get("labels") or []
                if len(kinds) != 1 or value.get("start") is None:
                    raise ExportError(
                        f"{source} (Label Studio task {t.get('id')}): a region has {len(kinds)} "
                        "labels or no character offsets; give each span exactly one type"
                    )
                start, end = _code_points(
                    data.get("text") or "", int(value["start"]), int(value["end"]), value.get("text")
                )
                spans.append(
                    {"start": start, "end": end, "type": by_name.get(kinds[0], by_value.get(kinds[0], kinds[0]))}
                )
            entry["entities"] = sorted(spans, key=lambda e: e["start"])
        out.append(entry)
    return out, skipped
