"""N21 in the labeling loop: one class per text. The queue ranks texts by how unsure the classifier is between
its classes; Label Studio shows `<Choices>` (one `<Choice>` per class) over `<Text>`, pre-annotated with the
suggested (review) or predicted (queue) class; an annotation gives the correction's `label`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Callable

from tasks.label_studio import FROM_NAME, TO_NAME, ExportError, task
from tasks.labeling import Labeling


def _choice(name: str) -> dict:
    return {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [name]}}


class N21Labeling(Labeling):
    problem = "n21"
    answer = "label"

    def scores(self, predictor: Any, rows: list[dict], texts: list[str], by: str):
        import numpy as np

        from tasks.label_queue import uncertainty

        names = [entry["name"] for entry in predictor.bundle["label_schema.json"]["labels"]]
        probs = np.array([[row["probabilities"][name] for name in names] for row in rows]).reshape(-1, len(names))
        return uncertainty(probs, by)

    def queue_fields(self, row: dict) -> dict:
        return {
            "label": row["label"],
            "name": row["name"],
            "confidence": row["confidence"],
            "probabilities": row["probabilities"],
        }

    def config(self, view: ET.Element, classes: list[dict]) -> None:
        ET.SubElement(view, "Text", name=TO_NAME, value="$text")
        choices = ET.SubElement(
            view, "Choices", name=FROM_NAME, toName=TO_NAME, choice="single-radio", showInline="true", required="true"
        )
        for c in classes:
            ET.SubElement(choices, "Choice", value=c["name"], hint=c.get("description") or c["name"])

    def result(self, text: str, prediction: Any, names: dict[str, str]) -> list[dict]:
        return [_choice(names.get(prediction, prediction))]

    def review_tasks(self, rows: list[dict], classes: list[dict], answers: dict | None) -> list[dict]:
        """Pre-annotated with the suggested class; the data's class goes along as `given_label`."""
        names = {c["value"]: c["name"] for c in classes}
        return [
            task(
                self,
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

    def queue_task(self, row: dict, classes: list[dict]) -> dict:
        names = {c["value"]: c["name"] for c in classes}
        note = (
            f"Unlabeled #{row['rank']}: the model says {names.get(row['label'], row['label'])} "
            f"({row['confidence']:.0%}). Choose the right class."
        )
        return task(self, "queue", row["id"], row["text"], note, row["label"], classes, "model", row["confidence"])

    def correction(self, results: list[dict], data: dict, value_of: Callable[[str], str], where: str) -> dict:
        chosen = [c for r in results for c in (r.get("value") or {}).get("choices") or []]
        if len(chosen) != 1:
            raise ExportError(
                f"{where}: the annotation chose {len(chosen)} classes, not one; annotate the task again with one class"
            )
        entry = {"label": value_of(chosen[0])}
        if data.get("given_label") is not None:
            entry["previous"] = data["given_label"]
        return entry

    def raw_table(self, data: dict):
        from tasks.n21.ingest import ingest

        return ingest(data)[0]


LABELING = N21Labeling()
