"""N2N in the labeling loop: entity spans. The queue ranks sentences by their least certain syllable; Label Studio
shows `<Labels>` (one `<Label>` per entity type) over `<Text granularity="symbol">` (character spans: Korean
entities start and end inside words), pre-annotated with the data's spans (review: the note names the suspected
ones) or the model's (queue); an annotation gives the correction's `entities`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Callable

import numpy as np

from tasks.label_studio import COLORS, FROM_NAME, TO_NAME, ExportError, code_points, task
from tasks.labeling import Labeling


def syllable_probabilities(predictor: Any, texts: list[str]) -> list[np.ndarray]:
    """Per text a [syllables, tags] softmax of the tagger's emission scores: how sure it is of each syllable
    (the CRF adds transition scores on top; the emissions carry the evidence from the text)."""
    import torch

    from tasks.n2n.evaluate import prepare_texts
    from tasks.n2n.train import TaggerInputs

    encoded = prepare_texts(texts, predictor.bundle)
    max_len = int(predictor.params["train"].get("max_len", 0)) or None
    inputs = TaggerInputs.for_model(encoded, predictor.model.config, max_len)
    out = []
    predictor.model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), predictor.batch_size):
            index = np.arange(start, min(start + predictor.batch_size, len(texts)))
            chars, lengths, feats = inputs.batch(index, predictor.device)
            probs = torch.softmax(predictor.model(chars, lengths, **feats).float(), dim=-1).cpu().numpy()
            out += [probs[k, : int(n)] for k, n in enumerate(lengths.tolist())]
    return out


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


class N2NLabeling(Labeling):
    problem = "n2n"
    answer = "entities"
    review_from_data = True

    def scores(self, predictor: Any, rows: list[dict], texts: list[str], by: str) -> np.ndarray:
        from tasks.label_queue import sentence_uncertainty

        return sentence_uncertainty(syllable_probabilities(predictor, texts), by)

    def queue_fields(self, row: dict) -> dict:
        return {"entities": [{key: e[key] for key in ("start", "end", "type")} for e in row["entities"]]}

    def config(self, view: ET.Element, classes: list[dict]) -> None:
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

    def result(self, text: str, prediction: Any, names: dict[str, str]) -> list[dict]:
        return _spans(text, prediction, names)

    def review_tasks(self, rows: list[dict], classes: list[dict], answers: dict | None) -> list[dict]:
        """One task per sentence, pre-annotated with the data's spans (`answers`: id -> spans)."""
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
                    self,
                    "review",
                    row_id,
                    suspects[0]["text"],
                    note,
                    (answers or {}).get(row_id, []),
                    classes,
                    "data",
                    1.0 - min(s["self_confidence"] for s in suspects),
                )
            )
        return out

    def queue_task(self, row: dict, classes: list[dict]) -> dict:
        note = f"Unlabeled #{row['rank']}: the model's entities are marked. Fix or complete the spans."
        return task(self, "queue", row["id"], row["text"], note, row["entities"], classes, "model", 1.0 - row["score"])

    def correction(self, results: list[dict], data: dict, value_of: Callable[[str], str], where: str) -> dict:
        spans = []
        for r in results:
            value = r.get("value") or {}
            kinds = value.get("labels") or []
            if len(kinds) != 1 or value.get("start") is None:
                raise ExportError(
                    f"{where}: a region has {len(kinds)} labels or no character offsets; give each span exactly one type"
                )
            start, end = code_points(data.get("text") or "", int(value["start"]), int(value["end"]), value.get("text"))
            spans.append({"start": start, "end": end, "type": value_of(kinds[0])})
        return {"entities": sorted(spans, key=lambda e: e["start"])}

    def raw_table(self, data: dict):
        from tasks.n2n.ingest import ingest_ner

        return ingest_ner(data)[0]


LABELING = N2NLabeling()
