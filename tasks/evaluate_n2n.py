"""Using a trained N2N model directory: evaluate on encoded rows or any NER file, predict texts.

Everything comes from the model directory (vocabularies, tags, tokenizer settings, weights).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from tasks.ner import ENTITY, bio_tags, encode_ner, entity_metrics, gazetteer_baseline, tokenize_ner
from tasks.train import load_model_dir, pick_device
from tasks.train_tagger import predict_table


def _spans(entities: list[dict]) -> list[tuple[int, int, str]]:
    return sorted((e["start"], e["end"], e["type"]) for e in entities)


def evaluate_encoded(rows: pa.Table, model_dir: str | Path, cfg: dict,
                     train_table: pa.Table | None = None) -> tuple[dict, list[dict]]:
    """Entity P/R/F1 (exact character spans and type), syllable tag accuracy, and a sample of errors."""
    metrics, errors, _ = evaluate_with_predictions(rows, model_dir, cfg, train_table)
    return metrics, errors


def evaluate_with_predictions(rows: pa.Table, model_dir: str | Path, cfg: dict, train_table: pa.Table | None = None,
                              ) -> tuple[dict, list[dict], list[list[tuple[int, int, str]]]]:
    """evaluate_encoded's metrics and errors, and the predicted spans per row (for type_confusions)."""
    model, bundle = load_model_dir(model_dir)
    params = bundle["params.json"]
    types = sorted({t[2:] for t in bundle["vocab.json"]["tags"] if t != "O"})
    pred = predict_table(model, rows, int(params["train"].get("max_len", 0)) or None,
                         int(cfg.get("batch_size", 128)), pick_device(params["train"].get("device", "auto")))
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
        if set(g) != set(p) and len(errors) < int(cfg.get("error_samples", 20)):
            errors.append({"id": rid, "text": text,
                           "missed": [f"{text[s:e]}/{t}" for s, e, t in sorted(set(g) - set(p))],
                           "spurious": [f"{text[s:e]}/{t}" for s, e, t in sorted(set(p) - set(g))]})
    return metrics, errors, pred


MISSED, SPURIOUS = "(missed)", "(spurious)"


def _marked(rid: str, text: str, start: int, end: int, width: int = 30) -> str:
    """'id: …left [entity] right…' with the span in brackets and the context cut to `width` characters a side."""
    left, right = text[max(0, start - width):start], text[end:end + width]
    return (f"{rid}: {'…' if start > width else ''}{left}[{text[start:end]}]{right}"
            f"{'…' if end + width < len(text) else ''}")


def type_confusions(ids: list[str], texts: list[str], gold: list[list[tuple]], pred: list[list[tuple]], split: str,
                    top_k: int = 5) -> dict:
    """Entity type confusions (same span, wrong type) and missed/spurious entities per type, with examples:
    the class design review's evaluation part."""
    from tasks.class_review import pairs_table, top_pairs

    confused, missed = [], []
    support: dict = {}
    for rid, text, g, p in zip(ids, texts, gold, pred):
        g_type = {(s, e): t for s, e, t in g}
        p_type = {(s, e): t for s, e, t in p}
        for (s, e), t in sorted(g_type.items()):
            support[t] = support.get(t, 0) + 1
            if (s, e) not in p_type:
                missed.append((t, MISSED, _marked(rid, text, s, e)))
            elif p_type[(s, e)] != t:
                confused.append((t, p_type[(s, e)], _marked(rid, text, s, e)))
        missed += [(SPURIOUS, t, _marked(rid, text, s, e)) for (s, e), t in sorted(p_type.items())
                   if (s, e) not in g_type]
    n_missed = sum(1 for m in missed if m[1] == MISSED)
    return {"title": "Most-confused entity types", "split": split,
            "notes": [f"{len(confused)} entities found with the right span but the wrong type; {n_missed} missed "
                      f"and {len(missed) - n_missed} spurious (a span with the wrong boundaries counts as one of "
                      "each). Examples: id: sentence with the gold span "
                      "(for spurious ones the predicted span) in [brackets]."],
            "tables": [pairs_table(f"Top {top_k} type confusions (same span, wrong type)",
                                   top_pairs(confused, top_k, support=support), "entities"),
                       pairs_table(f"Top {top_k} missed and spurious", top_pairs(missed, top_k), "entities")]}


def prepare_texts(texts: list[str], bundle: dict, entities: list[list[dict]] | None = None) -> pa.Table:
    """Tokenize and encode new sentences exactly as the model's training data was."""
    n = len(texts)
    table = pa.table({"id": [str(i) for i in range(n)], "text": texts,
                      "entities": pa.array(entities if entities is not None else [[] for _ in texts],
                                           pa.list_(ENTITY)),
                      "split": ["test"] * n,
                      # New text is tagged as if it came from this source (params n2n.train.predict_domain).
                      "domain": [str(bundle["params.json"]["train"].get("predict_domain") or "<unk>")] * n})
    tokens, _ = tokenize_ner(table, {**bundle["params.json"]["tokenize"], **bundle["tokenizer.json"]})
    encoded, _ = encode_ner(tokens, bundle["vocab.json"])
    return encoded


def evaluate_file(model_dir: str | Path, path: str | Path, fmt: str, encoding: str = "utf-8",
                  batch_size: int = 128) -> dict:
    """`hanflow evaluate --problem n2n`: every readable sentence of the file is evaluation data."""
    from tasks.ner_formats import map_types, read_ner

    _, bundle = load_model_dir(model_dir)
    records, quarantined = read_ner(path, fmt, encoding)
    data_cfg = bundle["params.json"]["data"]
    if data_cfg.get("type_map"):
        records, _ = map_types(records, dict(data_cfg["type_map"]), bool(data_cfg.get("keep_unmapped_types")))
    if not records:
        raise ValueError(f"{path}: no readable sentences in format {fmt!r} ({len(quarantined)} quarantined)")
    encoded = prepare_texts([r["text"] for r in records], bundle, [r["entities"] for r in records])
    encoded = encoded.set_column(0, "id", pa.array([str(r["id"]) for r in records]))
    metrics, errors = evaluate_encoded(encoded, model_dir, {"batch_size": batch_size})
    metrics.update(source=str(path), rows_quarantined=len(quarantined), errors=errors[:5])
    return metrics


def predict_texts(model_dir: str | Path, texts: list[str], batch_size: int = 128) -> list[dict]:
    model, bundle = load_model_dir(model_dir)
    train_cfg = bundle["params.json"]["train"]
    encoded = prepare_texts(texts, bundle)
    spans = predict_table(model, encoded, int(train_cfg.get("max_len", 0)) or None, batch_size,
                          pick_device(train_cfg.get("device", "auto")))
    return [{"text": text, "entities": [{"start": s, "end": e, "type": t, "text": text[s:e]} for s, e, t in row]}
            for text, row in zip(texts, spans)]
