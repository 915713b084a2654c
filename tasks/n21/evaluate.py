"""Using a trained N21 model directory: evaluate on encoded rows or any file, predict texts.

Everything comes from the model directory (vocabulary, label schema, tokenizer settings,
weights), so a model can be evaluated on new data without the run that trained it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import io


def load(model_dir: str | Path):
    from tasks.model_dir import load_model_dir

    return load_model_dir(model_dir)


def evaluate_encoded(
    encoded: pa.Table, model_dir: str | Path, cfg: dict, out_dir: str | Path, train_table: pa.Table | None = None
) -> dict:
    """Metrics for rows already encoded with the model's vocabulary; writes plots to out_dir."""
    from tasks.classification_metrics import (
        classification_metrics,
        confusion_rows,
        majority_baseline,
        plot_confusion_png,
    )
    from tasks.training import pick_device

    model, bundle = load(model_dir)
    names = [entry["name"] for entry in bundle["label_schema.json"]["labels"]]
    y_true = encoded.column("label_id").to_numpy()
    unknown = int((y_true < 0).sum())
    if unknown:
        bad = sorted(set(pc.filter(encoded.column("label"), pc.less(encoded.column("label_id"), 0)).to_pylist()))
        raise ValueError(
            f"{unknown} row(s) carry labels the model's schema does not know: {bad[:10]}; "
            f"known: {[e['value'] for e in bundle['label_schema.json']['labels']]}"
        )
    probs, parts = class_probabilities(
        model,
        bundle,
        encoded,
        int(cfg["batch_size"]),
        pick_device(bundle["params.json"]["train"]["device"]),
    )
    y_pred = probs.argmax(axis=1)
    metrics = classification_metrics(y_true, y_pred, names)
    metrics["rows"] = int(encoded.num_rows)
    if len(parts) > 1:  # each model alone, on the same rows: what the average adds
        metrics["parts"] = {
            name: {
                "accuracy": float((p.argmax(axis=1) == y_true).mean()),
                "macro_f1": classification_metrics(y_true, p.argmax(axis=1), names)["macro_f1"],
            }
            for name, p in parts.items()
        }
    if train_table is not None:
        train_labels = pc.filter(train_table.column("label_id"), pc.equal(train_table.column("split"), "train"))
        metrics["majority_baseline"] = majority_baseline(train_labels.to_numpy(), y_true)

    out_dir = Path(out_dir)
    io.write_json(confusion_rows(y_true, y_pred, names), out_dir / "confusion.json")
    plot_confusion_png(np.array(metrics["confusion_matrix"]), names, out_dir / "confusion.png")
    io.write_table(
        pa.table(
            {
                "id": encoded.column("id"),
                "text": encoded.column("text"),
                "label": pa.array([names[i] for i in y_true]),
                "predicted": pa.array([names[i] for i in y_pred]),
                "confidence": pa.array(probs.max(axis=1).astype(np.float32)),
            }
        ),
        out_dir / "predictions.parquet",
    )
    return metrics


def class_probabilities(
    model, bundle: dict, encoded: pa.Table, batch_size: int, device
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """[N, classes] probabilities of the model directory's classifier: the network's, averaged with the linear
    model's when the directory has one (train.linear.weight); and each part's own."""
    from tasks.n21.linear import FILE, blend, linear_probabilities, loads
    from tasks.n21.train import predict_classifier

    _, network = predict_classifier(
        model,
        encoded.column("ids"),
        batch_size,
        device,
        int(bundle["params.json"]["train"]["max_len"]),
        _ngram_column(encoded),
    )
    parts = {"network": network}
    if FILE in bundle:
        linear = loads(bundle[FILE])
        parts["linear"] = linear_probabilities(
            linear, encoded.column("text").to_pylist(), encoded.column("tokens").to_pylist()
        )
        # The share train chose on dev (train.linear.choose_weight); a model dir from before that: params'.
        weight = (
            float(linear["weight"]) if "weight" in linear else float(bundle["params.json"]["train"]["linear"]["weight"])
        )
        return blend(network, parts["linear"], weight), parts
    return network, parts


def _ngram_column(encoded: pa.Table) -> pa.ChunkedArray | None:
    return encoded.column("ngram_ids") if "ngram_ids" in encoded.column_names else None


def prepare_texts(texts: list[str], bundle: dict, labels: list[str] | None = None) -> pa.Table:
    """Tokenize and encode new texts exactly as the model's training data was."""
    from tasks.n21.encode import encode_table
    from tasks.tokenize import tokenize_table
    from tasks.vocab import Vocab

    n = len(texts)
    table = pa.table(
        {
            "id": [str(i) for i in range(n)],
            "text": texts,
            "label": labels if labels is not None else [""] * n,
            "split": ["test"] * n,
        }
    )
    tokens, _ = tokenize_table(table, {**bundle["params.json"]["tokenize"], **bundle["tokenizer.json"]})
    schema_values = [entry["value"] for entry in bundle["label_schema.json"]["labels"]]
    encoded, _, _ = encode_table(
        tokens, bundle["params.json"]["encode"], schema_values, vocab=Vocab.from_json(bundle["vocab.json"])
    )
    return encoded


N21_FIELDS = ("id", "text", "label")


def read_eval_rows(model_columns: dict, data_cfg: dict) -> tuple[pa.Table, pa.Table]:
    """The file's usable rows as a canonical table, and its quarantined rows: nothing split, nothing deduplicated.

    data_cfg: path, format, encoding, header, and `columns`: the user's --column mapping (id, text, label;
    None: absent). Unmapped fields take the training file's column names (`model_columns`); the id is
    optional unless mapped (row numbers stand in), so a file without the training file's id column is read.
    """
    from tasks.n21.formats import NSMC_COLUMNS, QUARANTINE, read_rows
    from tasks.n21.ingest import CANONICAL, canonicalize

    path, fmt = Path(data_cfg["path"]), data_cfg["format"]
    header = bool(data_cfg["header"])
    mapping = dict(data_cfg["columns"])
    if fmt == "nsmc" and mapping:
        raise ValueError(f"--column does not apply to --format nsmc: its columns are fixed ({NSMC_COLUMNS})")
    raw = read_rows(path, fmt, data_cfg["encoding"], header)
    if fmt == "nsmc":
        columns = dict(NSMC_COLUMNS)
    else:
        columns = {name: (None if model_columns[name] is None else str(model_columns[name])) for name in N21_FIELDS}
        columns.update({k: None if v is None else str(v) for k, v in mapping.items()})
        if "id" not in mapping and columns["id"] not in raw.frame.columns:
            columns["id"] = None  # the training file's id column is not here: number the rows
        absent = [name for name in ("text", "label") if not columns[name]]
        if absent:
            raise ValueError(
                f"{path}: evaluate needs a {' and a '.join(absent)} column: map "
                + " ".join(f"--column {name}=<column>" for name in absent)
            )
    reader_bad = pa.Table.from_pylist(raw.quarantined, schema=QUARANTINE)
    if len(raw.frame) == 0:  # every record was refused by the reader: there are no columns to map
        return CANONICAL.empty_table(), reader_bad
    missing = {name: col for name, col in columns.items() if col and col not in raw.frame.columns}
    if missing:
        where = (
            f"the file has {list(raw.frame.columns)}"
            if header
            else f"without a header line its columns are numbered 0-{len(raw.frame.columns) - 1}"
        )
        example = " ".join(f"--column {name}=<{'position' if not header else 'column'}>" for name in missing)
        raise ValueError(
            f"{path}: column(s) {list(missing.values())} (for {', '.join(missing)}) not found; {where}. "
            f"Map them with {example}" + (" (or --column id=null to number the rows)" if "id" in missing else "")
        )
    kept, quarantined, _ = canonicalize(
        raw.frame, {**columns, "split": None}, str(path), {"dev": 0.0, "test": 0.0, "seed": 0}, raw.rows, raw.nested
    )
    return kept, pa.concat_tables([reader_bad, quarantined]).sort_by("source_row")


def evaluate_file(
    model_dir: str | Path,
    data_cfg: dict,
    out_dir: str | Path,
    batch_size: int = 256,
    quarantine_path: str | Path | None = None,
) -> dict:
    """`hanflow evaluate`: every usable row of the file is evaluation data; the quarantined ones are
    written to quarantine_path."""
    from tasks.evaluate_data import nothing_left, refuse_unknown, write_quarantine

    _, bundle = load(model_dir)
    path = data_cfg["path"]
    kept, quarantined = read_eval_rows(bundle["params.json"]["data"]["columns"], data_cfg)
    written = write_quarantine(quarantined, quarantine_path)
    if kept.num_rows == 0:
        raise nothing_left(path, "rows", quarantined, written)
    known = [entry["value"] for entry in bundle["label_schema.json"]["labels"]]
    refuse_unknown(
        path,
        [
            (label, str(row))
            for label, row in zip(kept.column("label").to_pylist(), kept.column("source_row").to_pylist())
            if label not in known
        ],
        known,
        "row(s) carry labels",
        "Evaluate with a model trained on these classes, or leave those rows out of the file.",
    )
    encoded = prepare_texts(kept.column("text").to_pylist(), bundle, kept.column("label").to_pylist())
    encoded = encoded.set_column(0, "id", kept.column("id"))
    metrics = evaluate_encoded(encoded, model_dir, {"batch_size": batch_size}, out_dir)
    metrics["source"] = str(path)
    metrics["rows_quarantined"] = quarantined.num_rows
    if written:
        metrics["quarantine_path"] = written
    return metrics


def predict_texts(model_dir: str | Path, texts: list[str], batch_size: int = 256) -> list[dict]:
    """The class of each text (tasks.n21.predict); an empty or overlong text gets a row with its `error`."""
    from tasks.n21.predict import N21Predictor
    from tasks.predict import predict_texts as predict

    return predict(N21Predictor, model_dir, texts, batch_size)


def confused_pairs(predictions: pa.Table, split: str, top_k: int = 5) -> dict:
    """The most-confused (actual, predicted) class pairs of predictions.parquet, with the most confidently
    wrong rows as examples: the class design review's evaluation part."""
    from tasks.class_review import pairs_table, top_pairs

    rows = sorted(
        predictions.select(["id", "text", "label", "predicted", "confidence"]).to_pylist(),
        key=lambda r: -r["confidence"],
    )
    support: dict = {}
    for r in rows:
        support[r["label"]] = support.get(r["label"], 0) + 1
    pairs = top_pairs(
        (
            (r["label"], r["predicted"], f"{r['id']}: {r['text']} ({r['confidence']:.2f})")
            for r in rows
            if r["label"] != r["predicted"]
        ),
        top_k,
        support=support,
    )
    wrong = sum(1 for r in rows if r["label"] != r["predicted"])
    return {
        "title": "Most-confused class pairs",
        "split": split,
        "notes": [
            f"{wrong} of {len(rows)} rows misclassified. Examples are the most confidently wrong rows "
            "(id: text (model confidence)); a pair that stays on top after more data is a candidate for a "
            "clearer class definition or a merge."
        ],
        "tables": [pairs_table(f"Top {top_k} confusions", pairs, "rows", gold="actual")],
    }
