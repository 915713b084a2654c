"""Label Studio's formats: the labeling config from a label schema, tasks with pre-annotations, its JSON export.

Label Studio (label-studio on PyPI) is a separate tool with its own server and dependencies; hanflow only
writes and reads its files (https://labelstud.io/guide/tasks.html, /guide/export.html):

- the labeling config (XML): a `<View>` with the task's note as its header and the problem type's control over
  the text, one entry per class (e.g. `<Choices>` of classes over `<Text>`, or `<Labels>` of entity types over
  `<Text granularity="symbol">`). Annotators see the classes' names and descriptions (as hints).
- tasks (JSON list): `data` holds the text, hanflow's row id and problem, and a note saying why the row is
  there; `predictions` the pre-annotation an annotator accepts or fixes (review: what the label review
  suggests or the data says; queue: the model's prediction).
- the JSON export: each task with its `annotations` (`result` items as in predictions). The latest
  annotation that was not cancelled is the person's answer.

What differs by problem type (the control, the pre-annotation, the tasks' notes, reading an annotation back) is
its tasks.labeling.Labeling (tasks/<problem>/labeling.py); the functions here take it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.labeling import Labeling

FROM_NAME, TO_NAME = "label", "text"
COLORS = ("#e8a33d", "#4e9fd6", "#6ab04c", "#c0587a", "#8e6fd1", "#3fb6a8", "#d9643a", "#7f8c8d")


class ExportError(ValueError):
    """A Label Studio export that cannot be read; the message names the file, the task and the fix."""


def labeling_config(labeling: Labeling, classes: list[dict]) -> str:
    """The labeling config XML for the schema's classes ([{value, name, description}])."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$note", size="6")
    labeling.config(view, classes)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def task(
    labeling: Labeling,
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
    """One task (`kind`: review, a row of the data, or queue, a new one), pre-annotated with `prediction` as the
    problem type's Labeling.result writes it (e.g. a class value, or a list of {start, end, type})."""
    names = {c["value"]: c["name"] for c in classes}
    result = labeling.result(text, prediction, names)
    entry = {"model_version": model_version, "result": result}
    if score is not None:
        entry["score"] = round(float(score), 4)
    return {
        "data": {
            "text": text,
            "note": note,
            "hanflow_id": str(row_id),
            "hanflow_problem": labeling.problem,
            "hanflow_kind": kind,
            **(extra or {}),
        },
        "predictions": [entry],
    }


def queue_tasks(labeling: Labeling, rows: list[dict], classes: list[dict]) -> list[dict]:
    """Tasks for the labeling queue (tasks/label_queue.py rows), pre-annotated with the model's prediction."""
    return [labeling.queue_task(r, classes) for r in rows]


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


def code_points(text: str, start: int, end: int, shown: str | None) -> tuple[int, int]:
    """Label Studio's offsets count UTF-16 code units in a browser: outside the Basic Multilingual Plane
    (emoji) they differ from Python's code points; map them back when the span text says so."""
    if shown is None or text[start:end] == shown:
        return start, end
    units = text.encode("utf-16-le")
    a, b = len(units[: 2 * start].decode("utf-16-le", "ignore")), len(units[: 2 * end].decode("utf-16-le", "ignore"))
    return (a, b) if text[a:b] == shown else (start, end)


def corrections_from_export(
    tasks: list[dict], labeling: Labeling, classes: list[dict], source: str, import_name: str
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
        if data.get("hanflow_problem") not in (None, labeling.problem):
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
        entry.update(
            labeling.correction(
                results,
                data,
                lambda name: by_name.get(name, by_value.get(name, name)),
                f"{source} (Label Studio task {t.get('id')})",
            )
        )
        out.append(entry)
    return out, skipped
