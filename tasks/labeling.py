"""What a problem type gives the labeling loop (`hanflow label queue | export | import`, flows/label.py).

Each problem type the loop covers subclasses `Labeling` in its package (tasks/<problem>/labeling.py) and names an
instance in its flows/<problem>.py declaration (`Problem.labeling`); the shared modules do the rest with it:
tasks/label_queue.py (how unsure the model is, picking without duplicates) and tasks/label_studio.py (the task
envelope, the labeling config's frame, reading the export back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    import numpy as np


class Labeling:
    problem = ""
    answer = ""  # the field a correction sets (tasks/corrections.py) and a newly labeled row carries
    # review tasks are pre-annotated with the data's own answers (`answer` of ingested.parquet, by row id)
    review_from_data = False

    # ---- the queue (tasks/label_queue.py)

    def scores(self, predictor: Any, rows: list[dict], texts: list[str], by: str) -> np.ndarray:
        """How unsure the model is of each predicted row (higher: more worth labeling); `by` is
        label_queue.by (tasks.label_queue.SCORES)."""
        raise NotImplementedError

    def queue_fields(self, row: dict) -> dict:
        """The prediction a queue row keeps (and pre-annotates its Label Studio task with)."""
        raise NotImplementedError

    # ---- Label Studio (tasks/label_studio.py)

    def config(self, view: ET.Element, classes: list[dict]) -> None:
        """Add the labeling config's control over the text (one entry per class) to `view`."""
        raise NotImplementedError

    def result(self, text: str, prediction: Any, names: dict[str, str]) -> list[dict]:
        """A pre-annotation's `result` items for `prediction`; names: class value -> name."""
        raise NotImplementedError

    def review_tasks(self, rows: list[dict], classes: list[dict], answers: dict | None) -> list[dict]:
        """Tasks for the label review's suspects (label_review.parquet rows, best first); answers: row id -> the
        data's own answer, when `review_from_data`."""
        raise NotImplementedError

    def queue_task(self, row: dict, classes: list[dict]) -> dict:
        """The task of one labeling queue row, pre-annotated with the model's prediction."""
        raise NotImplementedError

    def correction(self, results: list[dict], data: dict, value_of: Callable[[str], str], where: str) -> dict:
        """The fields a person's annotation (its `result` items of our control) sets in a correction; data: the
        task's data; value_of: a class name (or value) -> its value; where: names the task in an error."""
        raise NotImplementedError

    # ---- the data

    def raw_table(self, data: dict):
        """The raw data as ingest reads it (params `data`), before corrections: what a correction must match."""
        raise NotImplementedError
