"""Using a trained N2N model directory: evaluate on encoded rows or any NER file, predict texts.

Everything comes from the model directory (vocabularies, tags, tokenizer settings, weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa

from tasks.model_dir import load_model_dir
from tasks.n2n.encode import encode_ner
from tasks.n2n.gazetteer import gazetteer_baseline
from tasks.n2n.ingest import ENTITY
from tasks.n2n.metrics import entity_metrics
from tasks.n2n.tokenize import bio_tags, tokenize_ner
from tasks.n2n.train import predict_table
from tasks.training import pick_device


def _spans(entities: list[dict]) -> list[tuple[int, int, str]]:
    return sorted((e["start"], e["end"], e["type"]) for e in entities)


def evaluate_encoded(
    rows: pa.Table, model_dir: str | Path, cfg: dict, train_table: pa.Table | None = None
) -> tuple[dict, list[dict]]:
    """Entity P/R/F1 (exact character spans and type), syllable tag accuracy, and a sample of errors."""
    metrics, errors, _ = evaluate_with_predictions(rows, model_dir, cfg, train_table)
    return metrics, errors


def evaluate_with_predictions(
    rows: pa.Table,
    model_dir: str | Path,
    cfg: dict,
    train_table: pa.Table | None = None,
) -> tuple[dict, list[dict], list[list[tuple[int, int, str]]]]:
    """evaluate_encoded's metrics and errors, and the predicted spans per row (for type_confusions)."""
    model, bundle = load_model_dir(model_dir)
    params = bundle["params.json"]
    types = sorted({t[2:] for t in bundle["vocab.json"]["tags"] if t != "O"})
    # The model directory's saved params: one written by an older version may lack a key, hence .get.
    pred = predict_table(
        model,
        rows,
        int(params["train"].get("max_len", 0)) or None,
        int(cfg["batch_size"]),
        pick_device(params["train"].get("device", "auto")),
    )
    texts = rows.column("text").to_pylist()
    gold = [_spans(ents) for ents in rows.column("entities").to_pylist()]
    metrics = entity_metrics(gold, pred, types)
    right = total = 0
    for text, g, p in zip(texts, gold, pred):
        g_tags = bio_tags(len(text), [{"start": s, "end": e, "type": t} for s, e, t in g])
        p_tags = bio_tags(len(text), [{"start": s, "end": e, "type": t} for s, e, t in p])
        right += sum(a == b for a, b in zip(g_tags, p_tags))
        total += len(text)
    metrics["token_accuracy"] = right / total if total else 0.0
    metrics["rows"] = rows.num_rows
    metrics["entities_gold"] = sum(map(len, gold))
    if train_table is not None:
        baseline = entity_metrics(gold, gazetteer_baseline(train_table, texts), types)
        metrics["gazetteer_baseline"] = {k: baseline[k] for k in ("precision", "recall", "f1")}
    errors = []
    for rid, text, g, p in zip(rows.column("id").to_pylist(), texts, gold, pred):
        if set(g) != set(p) and len(errors) < int(cfg["error_samples"]):
            errors.append(
                {
                    "id": rid,
                    "text": text,
                    "missed": [f"{text[s:e]}/{t}" for s, e, t in sorted(set(g) - set(p))],
                    "spurious": [f"{text[s:e]}/{t}" for s, e, t in sorted(set(p) - set(g))],
                }
            )
    return metrics, errors, pred


def predictions_table(ids: list[str], gold: list[list[tuple]], pred: list[list[tuple]]) -> pa.Table:
    """Per sentence, the gold and the predicted entity spans: what a paired comparison with another tagger
    (or a bootstrap over sentences) needs."""

    def entities(spans: list[list[tuple]]) -> pa.Array:
        return pa.array([[{"start": s, "end": e, "type": t} for s, e, t in row] for row in spans], pa.list_(ENTITY))

    return pa.table({"id": pa.array(ids, pa.string()), "gold": entities(gold), "predicted": entities(pred)})


MISSED, SPURIOUS = "(missed)", "(spurious)"


def _marked(rid: str, text: str, start: int, end: int, width: int = 30) -> str:
    """'id: …left [entity] right…' with the span in brackets and the context cut to `width` characters a side."""
    left, right = text[max(0, start - width) : start], text[end : end + width]
    return (
        f"{rid}: {'…' if start > width else ''}{left}[{text[start:end]}]{right}{'…' if end + width < len(text) else ''}"
    )


def _entity_pairs(gold: list[list[tuple]], pred: list[list[tuple]]) -> Iterator[tuple[int, int, int, str, str]]:
    """(row, start, end, gold type or SPURIOUS, predicted type or MISSED): every gold entity with the type
    predicted on its exact span, then every predicted entity on a span no gold entity has. A span with the
    wrong boundaries is one of each."""
    for row, (g, p) in enumerate(zip(gold, pred)):
        g_type = {(s, e): t for s, e, t in g}
        p_type = {(s, e): t for s, e, t in p}
        for (s, e), t in sorted(g_type.items()):
            yield row, s, e, t, p_type.get((s, e), MISSED)
        for (s, e), t in sorted(p_type.items()):
            if (s, e) not in g_type:
                yield row, s, e, SPURIOUS, t


def type_confusions(
    ids: list[str], texts: list[str], gold: list[list[tuple]], pred: list[list[tuple]], split: str, top_k: int = 5
) -> dict:
    """Entity type confusions (same span, wrong type) and missed/spurious entities per type, with examples:
    the class design review's evaluation part."""
    from tasks.class_review import pairs_table, top_pairs

    confused, missed = [], []
    support: dict = {}
    for row, s, e, actual, predicted in _entity_pairs(gold, pred):
        example = _marked(ids[row], texts[row], s, e)
        if actual != SPURIOUS:
            support[actual] = support.get(actual, 0) + 1
        if predicted == MISSED or actual == SPURIOUS:
            missed.append((actual, predicted, example))
        elif predicted != actual:
            confused.append((actual, predicted, example))
    n_missed = sum(1 for m in missed if m[1] == MISSED)
    return {
        "title": "Most-confused entity types",
        "split": split,
        "notes": [
            f"{len(confused)} entities found with the right span but the wrong type; {n_missed} missed "
            f"and {len(missed) - n_missed} spurious (a span with the wrong boundaries counts as one of "
            "each). Examples: id: sentence with the gold span "
            "(for spurious ones the predicted span) in [brackets]."
        ],
        "tables": [
            pairs_table(
                f"Top {top_k} type confusions (same span, wrong type)",
                top_pairs(confused, top_k, support=support),
                "entities",
            ),
            pairs_table(f"Top {top_k} missed and spurious", top_pairs(missed, top_k), "entities"),
        ],
    }


def entity_confusion(gold: list[list[tuple]], pred: list[list[tuple]], types: list[str]) -> dict:
    """The entity-type confusion on exact spans: `rows`, one {actual, predicted} per pair of _entity_pairs
    (the shape DVC's confusion template reads, as N21's confusion.json), and their counts as `matrix`, rows
    `actual` (the types, then SPURIOUS: predicted where the gold has no entity) by columns `predicted`
    (the types, then MISSED: gold entities the model did not find on their span)."""
    seen = {t for _, _, _, a, p in _entity_pairs(gold, pred) for t in (a, p)} - {MISSED, SPURIOUS}
    names = [*types, *sorted(seen - set(types))]
    actual, predicted = [*names, SPURIOUS], [*names, MISSED]
    rows = [{"actual": a, "predicted": p} for _, _, _, a, p in _entity_pairs(gold, pred)]
    matrix = [[0] * len(predicted) for _ in actual]
    for r in rows:
        matrix[actual.index(r["actual"])][predicted.index(r["predicted"])] += 1
    return {"rows": rows, "actual": actual, "predicted": predicted, "matrix": matrix}


def write_confusion(
    gold: list[list[tuple]], pred: list[list[tuple]], types: list[str], json_path: str | Path, png_path: str | Path
) -> dict:
    """entity_confusion's rows as JSON (for `dvc plots`) and its matrix as an image (for the dashboard)."""
    from tasks import io
    from tasks.classification_metrics import plot_confusion_png

    confusion = entity_confusion(gold, pred, types)
    io.write_json(confusion["rows"], json_path)
    plot_confusion_png(confusion["matrix"], confusion["actual"], png_path, column_names=confusion["predicted"])
    return confusion


def prepare_texts(texts: list[str], bundle: dict, entities: list[list[dict]] | None = None) -> pa.Table:
    """Tokenize and encode new sentences exactly as the model's training data was."""
    n = len(texts)
    table = pa.table(
        {
            "id": [str(i) for i in range(n)],
            "text": texts,
            "entities": pa.array(entities if entities is not None else [[] for _ in texts], pa.list_(ENTITY)),
            "split": ["test"] * n,
            # New text is tagged as if it came from this source (params n2n.train.predict_domain; .get: a
            # model directory saved before that key has none).
            "domain": [str(bundle["params.json"]["train"].get("predict_domain") or "<unk>")] * n,
        }
    )
    tokens, _ = tokenize_ner(table, {**bundle["params.json"]["tokenize"], **bundle["tokenizer.json"]})
    encoded, _ = encode_ner(tokens, bundle["vocab.json"])
    return encoded


def evaluate_file(
    model_dir: str | Path,
    path: str | Path,
    fmt: str,
    encoding: str = "utf-8",
    batch_size: int = 128,
    quarantine_path: str | Path | None = None,
) -> dict:
    """`hanflow evaluate --problem n2n`: every readable sentence of the file is evaluation data; the
    quarantined ones are written to quarantine_path. Gold entity types the model has no tag for are refused:
    scored, each would count as a miss the model could never avoid."""
    from tasks.evaluate_data import line_of, nothing_left, refuse_unknown, write_quarantine
    from tasks.n2n.formats import map_types, read_ner

    _, bundle = load_model_dir(model_dir)
    records, quarantined = read_ner(path, fmt, encoding)
    written = write_quarantine(quarantined, quarantine_path)
    data_cfg = bundle["params.json"]["data"]  # the model's saved params (.get: older ones may lack the keys)
    if data_cfg.get("type_map"):
        records, _ = map_types(records, dict(data_cfg["type_map"]), bool(data_cfg.get("keep_unmapped_types")))
    if not records:
        raise nothing_left(path, f"sentences in format {fmt!r}", quarantined, written)
    known = sorted({t[2:] for t in bundle["vocab.json"]["tags"] if t != "O"})
    refuse_unknown(
        path,
        [
            (e["type"], line_of(path, r.get("source_file"), r.get("source_row")))
            for r in records
            for e in r["entities"]
            if e["type"] not in known
        ],
        known,
        "entities have types",
        "Map them to the model's types (or drop them) in the file, or evaluate a model trained on them.",
    )
    encoded = prepare_texts([r["text"] for r in records], bundle, [r["entities"] for r in records])
    encoded = encoded.set_column(0, "id", pa.array([str(r["id"]) for r in records]))
    metrics, errors = evaluate_encoded(encoded, model_dir, {"batch_size": batch_size, "error_samples": 5})
    metrics.update(source=str(path), rows_quarantined=len(quarantined), errors=errors)
    if written:
        metrics["quarantine_path"] = written
    return metrics


def predict_texts(model_dir: str | Path, texts: list[str], batch_size: int = 128) -> list[dict]:
    """Entities with character offsets per text (tasks.n2n.predict); an empty or overlong text gets a row with its
    `error`."""
    from tasks.n2n.predict import N2NPredictor
    from tasks.predict import predict_texts as predict

    return predict(N2NPredictor, model_dir, texts, batch_size)
