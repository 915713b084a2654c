"""N21 (sequence -> one class): the stage runners and their place in the stage graph.

A runner only moves data between files and the pure functions in tasks/; the Prefect task
(flows/pipeline.py) and the DVC stage (`hanflow stage n21 NAME`) both call it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from flows.artifacts import markdown_file_hook, validation_hook
from flows.stages import Stage, ingest_runner, register, resolve, table_runner
from tasks import io

PROBLEM = "n21"
A = {  # artifact path templates over the n21 params section
    "ingested": "${work_dir}/ingested.parquet",
    "quarantine": "${work_dir}/quarantine.parquet",
    "tokens": "${work_dir}/tokens.parquet",
    "encoded": "${work_dir}/encoded.parquet",
    "vocab": "${work_dir}/vocab.json",
    "validation": "${work_dir}/validation.json",
    "label_schema": "${work_dir}/label_schema.json",
    "class_design": "${work_dir}/class_design.md",
    "model": "${model_dir}",
    "metrics": "${work_dir}/eval/metrics.json",
    "confusion": "${work_dir}/eval/confusion.json",
    "confusion_png": "${work_dir}/eval/confusion.png",
    "predictions": "${work_dir}/eval/predictions.parquet",
}


def path(p: dict, name: str) -> Path:
    return Path(resolve(A[name], p))


ingest = ingest_runner(A, "tasks.ingest:ingest")
tokenize = table_runner(A, "tasks.tokenize:tokenize_table", "ingested", "tokens", "tokenize")


def encode(p: dict) -> dict:
    from tasks.encode import encode_table, label_values

    tokens = io.read_table(path(p, "tokens"))
    out, vocab, report = encode_table(tokens, p["encode"], label_values(tokens, p["class_design"]["labels"]))
    io.write_table(out, path(p, "encoded"))
    io.write_json(vocab.to_json(), path(p, "vocab"))
    return report


def validate(p: dict) -> dict:
    from tasks.validate import check, validate_n21

    from tasks.encode import label_values

    encoded = io.read_table(path(p, "encoded"))
    report = validate_n21(encoded, label_values(encoded, p["class_design"]["labels"]), p["validate"])
    io.write_json(report, path(p, "validation"))
    check(report, source=str(p["data"]["path"]))
    return {"rows_in": report["rows"], "success": report["success"],
            "expectations": len(report["expectations"])}


def class_design(p: dict) -> dict:
    from tasks.class_design import build_label_schema, label_schema_markdown

    schema = build_label_schema(io.read_table(path(p, "encoded")), p["class_design"]["labels"],
                                imbalance_ratio=p["class_design"]["imbalance_ratio"])
    io.write_json(schema, path(p, "label_schema"))
    io.write_text(label_schema_markdown(schema), path(p, "class_design"))
    return {"classes": len(schema["labels"]), "imbalance_warnings": schema["imbalance_warnings"],
            "totals": schema["totals"]}


def train(p: dict) -> dict:
    from tasks.tokenize import tokenizer_settings
    from tasks.train import save_model_dir, train_classifier

    encoded = io.read_table(path(p, "encoded"))
    vocab = io.read_json(path(p, "vocab"))
    schema = io.read_json(path(p, "label_schema"))
    cfg = p["train"]
    model_config = {
        "architecture": "n21.SequenceClassifier",
        "vocab_size": len(vocab["itos"]),
        "num_classes": len(schema["labels"]),
        **{k: cfg[k] for k in ("encoder", "pooling", "activation", "emb_dim", "hidden_dim", "num_layers",
                               "kernel_sizes", "dropout")},
        # The bag's size is fixed by the encode stage's hashing, so it is read from there.
        "ngram_buckets": int((p["encode"].get("ngrams") or {}).get("buckets", 0)),
        "ngram_dim": int(cfg.get("ngram_dim", 64)),
    }
    model, history = train_classifier(encoded, model_config, cfg)
    save_model_dir(path(p, "model"), model, model_config, {
        "vocab.json": vocab,
        "label_schema.json": schema,
        "tokenizer.json": tokenizer_settings(p["tokenize"]),
        "params.json": p,
        "train_metrics.json": history,
    })
    return {k: history.get(k) for k in ("best_epoch", "best_dev_accuracy", "best_dev_macro_f1", "stopped_early")}


def evaluate(p: dict) -> dict:
    from tasks.evaluate_n21 import evaluate_encoded

    split = p["evaluate"]["split"]
    table = io.read_table(path(p, "encoded"))
    encoded = table.filter(pc.equal(table.column("split"), split))
    if encoded.num_rows == 0:
        raise ValueError(f"no rows in split {split!r} to evaluate (params key n21.evaluate.split)")
    metrics = evaluate_encoded(encoded, path(p, "model"), p["evaluate"], out_dir=path(p, "metrics").parent,
                               train_table=table.select(["split", "label_id"]))
    metrics["split"] = split
    io.write_json(metrics, path(p, "metrics"))
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "rows": metrics["rows"]}


def publish_metrics(report: dict, p: dict) -> None:
    from flows.artifacts import publish_classification

    publish_classification(PROBLEM, io.read_json(path(p, "metrics")), path(p, "confusion_png"))


# ---- what `hanflow run | evaluate | predict --problem n21` call


def headline(metrics: dict) -> dict:
    out = {k: metrics[k] for k in ("accuracy", "macro_f1", "rows", "split") if k in metrics}
    if "majority_baseline" in metrics:
        out["majority_baseline_accuracy"] = metrics["majority_baseline"]["accuracy"]
    return out


def format_for(data: Path) -> str:
    return {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}.get(
        data.suffix, "tsv")


def evaluate_command(model: Path, data: Path, fmt: str, encoding: str, mapping: dict, out_dir: Path) -> dict:
    from tasks.evaluate_n21 import evaluate_file, load

    _, bundle = load(model)
    columns = {**bundle["params.json"]["data"]["columns"], "split": None, **mapping}
    data_cfg = {"path": str(data), "format": fmt, "encoding": encoding, "columns": columns,
                "split": {"dev": 0.0, "test": 0.0, "seed": 0}}
    return evaluate_file(model, data_cfg, out_dir)


def predict_command(model: Path, texts: list[str]) -> list[dict]:
    from tasks.evaluate_n21 import predict_texts

    return predict_texts(model, texts)


CODE = ("flows/n21.py", "tasks/io.py")
register(PROBLEM, [
    Stage("ingest", ingest, code=(*CODE, "tasks/ingest.py"), params=("data",),
          deps=("${data.path}",), outs=(A["ingested"], A["quarantine"])),
    Stage("tokenize", tokenize, code=(*CODE, "tasks/tokenize.py"), params=("tokenize",),
          deps=(A["ingested"],), outs=(A["tokens"],)),
    Stage("encode", encode, code=(*CODE, "tasks/encode.py", "tasks/ngrams.py"),
          params=("encode", "class_design.labels"),
          deps=(A["tokens"],), outs=(A["encoded"], A["vocab"])),
    Stage("validate", validate, code=(*CODE, "tasks/validate.py"), params=("validate", "class_design.labels"),
          deps=(A["encoded"],), metrics=(A["validation"],),
          publish=validation_hook(PROBLEM, A["validation"])),
    Stage("class_design", class_design, code=(*CODE, "tasks/class_design.py"), params=("class_design",),
          deps=(A["encoded"],), outs=(A["label_schema"], A["class_design"]),
          publish=markdown_file_hook(PROBLEM, "class-design", A["class_design"])),
    Stage("train", train, code=(*CODE, "tasks/train.py", "models/encoders.py", "models/n21.py"),
          params=("train", "encode.ngrams"), deps=(A["encoded"], A["vocab"], A["label_schema"], A["validation"]),
          outs=(A["model"],)),
    Stage("evaluate", evaluate, code=(*CODE, "tasks/evaluate.py", "tasks/evaluate_n21.py"), params=("evaluate",),
          deps=(A["model"], A["encoded"]), outs=(A["confusion"], A["confusion_png"], A["predictions"]),
          metrics=(A["metrics"],),
          plots=({A["confusion"]: {"template": "confusion", "x": "actual", "y": "predicted"}},),
          publish=publish_metrics),
])
