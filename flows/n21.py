"""N21 (sequence -> one class): the stage runners and their place in the stage graph.

A runner only moves data between files and the pure functions in tasks/; the Prefect task
(flows/pipeline.py) and the DVC stage (`hanflow stage n21 NAME`) both call it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from flows.artifacts import markdown_file_hook, validation_hook
from flows.label import label_review_text, review_hook, review_runner
from flows.stages import (
    HEADLINE,
    Problem,
    Stage,
    imported,
    ingest_runner,
    jsonl_eval_set,
    register,
    resolve,
    vectors_stage,
    write_headline,
)
from tasks import io

PROBLEM = "n21"
A = {  # artifact path templates over the n21 params section
    "ingested": "${work_dir}/ingested.parquet",
    "quarantine": "${work_dir}/quarantine.parquet",
    "corrections": "${data.corrections}",
    "corrections_applied": "${work_dir}/corrections_applied.json",
    "label_review": "${work_dir}/label_review.parquet",
    "label_review_md": "${work_dir}/label_review.md",
    "tokens": "${work_dir}/tokens.parquet",
    "encoded": "${work_dir}/encoded.parquet",
    "vocab": "${work_dir}/vocab.json",
    "vectors": "${work_dir}/vectors.npz",
    "validation": "${work_dir}/validation.json",
    "validation_docs": "${work_dir}/validation_docs",  # GX Data Docs, readable offline
    "label_schema": "${work_dir}/label_schema.json",
    "class_design": "${work_dir}/class_design.md",
    "review": "${work_dir}/class_design_review.md",
    "schema": "${class_design.schema}",
    "model": "${model_dir}",
    "metrics": "${work_dir}/eval/metrics.json",
    "confusion": "${work_dir}/eval/confusion.json",
    "confusion_png": "${work_dir}/eval/confusion.png",
    "predictions": "${work_dir}/eval/predictions.parquet",
}


def path(p: dict, name: str) -> Path:
    return Path(resolve(A[name], p))


# Imported when the stage runs: `hanflow stage` pays only for the stage it runs.
def _ingest(data: dict):
    from tasks.n21.ingest import ingest

    return ingest(data)


ingest = ingest_runner(A, _ingest, PROBLEM, corrected="label")


def tokenize(p: dict) -> dict:
    """Streamed in batches, partitioned over workers, through the tokenization cache (tasks/n21/tokenize.py)."""
    from tasks.n21.tokenize import tokenize_file
    from tasks.token_cache import stage_settings

    return tokenize_file(path(p, "ingested"), path(p, "tokens"), stage_settings(p))


def _classes(p: dict) -> list[dict]:
    from tasks.label_schema import load_classes

    return load_classes(p["class_design"], PROBLEM)


def encode(p: dict) -> dict:
    from tasks.n21.encode import encode_table, label_values
    from tasks.label_schema import check_known

    tokens = io.read_table(path(p, "tokens"))
    labels = label_values(tokens, _classes(p))
    # The one place N21 refuses labels the schema does not know.
    check_known(tokens, "label", labels, PROBLEM, p["class_design"]["schema"])
    out, vocab, report = encode_table(tokens, p["encode"], labels)
    io.write_table(out, path(p, "encoded"), compression="lz4")
    io.write_json(vocab.to_json(), path(p, "vocab"))
    return report


def validate(p: dict) -> dict:
    from tasks.n21.encode import label_values
    from tasks.n21.validate import validate_n21
    from tasks.validation import check

    encoded = io.read_table(path(p, "encoded"))
    report = validate_n21(
        encoded, label_values(encoded, _classes(p)), p["validate"], docs_dir=path(p, "validation_docs")
    )
    io.write_json(report, path(p, "validation"))
    check(report, source=str(p["data"]["path"]))
    return {"rows_in": report["rows"], "success": report["success"], "expectations": len(report["expectations"])}


def class_design(p: dict) -> dict:
    from tasks.n21.class_design import build_label_schema, n21_review
    from tasks.class_review import data_version, save_review

    table = io.read_table(path(p, "encoded"))
    cfg = p["class_design"]
    schema = build_label_schema(table, _classes(p), imbalance_ratio=cfg["imbalance_ratio"])
    review = n21_review(schema, cfg, data_version(table, ["id", "text", "label", "split"]))
    save_review(schema, review, p["work_dir"], path(p, "label_schema"), path(p, "class_design"))
    return {
        "classes": len(schema["labels"]),
        "imbalance_warnings": schema["imbalance_warnings"],
        "drift_warnings": review["drift"]["warnings"],
        "totals": schema["totals"],
    }


def _review(encoded, p: dict):
    from tasks.n21.encode import label_values
    from tasks.n21.label_review import n21_review

    # Without a schema file the review still names the classes it counts: the train split's labels.
    classes = _classes(p) or [{"value": v, "name": v, "description": ""} for v in label_values(encoded, [])]
    return n21_review(encoded, classes, p["label_review"])


def train(p: dict) -> dict:
    from tasks.tokenize import tokenizer_settings
    from tasks.distributed import leave_unless_writer
    from tasks.model_dir import save_model_dir
    from tasks.n21.train import train_classifier

    encoded = io.read_table(path(p, "encoded"))
    vocab = io.read_json(path(p, "vocab"))
    schema = io.read_json(path(p, "label_schema"))
    cfg = p["train"]
    model_config = {
        "architecture": "n21.SequenceClassifier",
        "vocab_size": len(vocab["itos"]),
        "num_classes": len(schema["labels"]),
        **{
            k: cfg[k]
            for k in (
                "encoder",
                "pooling",
                "activation",
                "emb_dim",
                "hidden_dim",
                "num_layers",
                "kernel_sizes",
                "dropout",
            )
        },
        # The bag's size is fixed by the encode stage's hashing, so it is read from there.
        "ngram_buckets": int(p["encode"]["ngrams"]["buckets"]),
        "ngram_dim": int(cfg["ngram_dim"]),
    }
    from tasks.vectors import load_vectors

    model, history = train_classifier(encoded, model_config, cfg, vectors=load_vectors(path(p, "vectors")))
    leave_unless_writer()  # under torchrun only rank 0 goes on to write (tasks/distributed.py)
    extra = {}
    if float(cfg["linear"]["weight"]) > 0:
        from tasks.n21.linear import FILE, dumps

        linear, history["blend"] = fit_blend(model, encoded, model_config["num_classes"], cfg)
        extra[FILE] = dumps(linear)
    save_model_dir(
        path(p, "model"),
        model,
        model_config,
        {
            **extra,
            "vocab.json": vocab,
            "label_schema.json": schema,
            "tokenizer.json": tokenizer_settings(p["tokenize"]),
            "params.json": p,
            "train_metrics.json": history,
        },
    )
    from tasks.splits import truncation_report

    return {
        # best_dev_* only when an epoch's weights were kept (tasks/training.py EarlyStopping)
        **{k: history.get(k) for k in ("best_epoch", "best_dev_accuracy", "best_dev_macro_f1", "stopped_early")},
        **truncation_report(encoded, "ids", cfg["max_len"]),
    }


def fit_blend(model, encoded, num_classes: int, cfg: dict) -> tuple[dict, dict]:
    """The linear model, fitted on the train rows, and its share of the average: chosen on the dev rows when
    train.linear.choose_weight (the network is strong on some corpora and weak on others), else
    train.linear.weight. The share is stored with the model (linear.npz)."""
    import numpy as np

    from tasks.n21.linear import choose_weight, fit_linear, linear_probabilities
    from tasks.n21.train import predict_classifier

    def rows(split: str):
        return encoded.filter(pc.equal(encoded.column("split"), split))

    train_rows, dev = rows("train"), rows("dev")
    linear = fit_linear(
        train_rows.column("text").to_pylist(),
        train_rows.column("tokens").to_pylist(),
        train_rows.column("label_id").to_numpy(),
        num_classes,
        cfg["linear"],
    )
    weight, report = float(cfg["linear"]["weight"]), {"chosen_on": None}
    if cfg["linear"]["choose_weight"] and dev.num_rows:
        ngrams = dev.column("ngram_ids") if "ngram_ids" in dev.column_names else None
        _, network = predict_classifier(
            model, dev.column("ids"), 256, next(model.parameters()).device, cfg["max_len"], ngrams
        )
        linear_dev = linear_probabilities(linear, dev.column("text").to_pylist(), dev.column("tokens").to_pylist())
        weight, scores = choose_weight(
            network,
            linear_dev,
            dev.column("label_id").to_numpy(),
            cfg["monitor"],
            [i / 10 for i in range(11)],
            prefer=weight,
        )
        report = {"chosen_on": "dev", "metric": cfg["monitor"], "dev_by_weight": scores}
    linear["weight"] = np.float64(weight)
    return linear, {**report, "weight": weight}


def evaluate(p: dict) -> dict:
    from tasks.class_review import review_markdown
    from tasks.n21.evaluate import confused_pairs, evaluate_encoded

    split = p["evaluate"]["split"]
    table = io.read_table(path(p, "encoded"))
    encoded = table.filter(pc.equal(table.column("split"), split))
    if encoded.num_rows == 0:
        raise ValueError(f"no rows in split {split!r} to evaluate (params key n21.evaluate.split)")
    metrics = evaluate_encoded(
        encoded,
        path(p, "model"),
        p["evaluate"],
        out_dir=path(p, "metrics").parent,
        train_table=table.select(["split", "label_id"]),
    )
    metrics["split"] = split
    io.write_json(metrics, path(p, "metrics"))
    write_headline(headline(metrics), "majority_baseline_accuracy", p)
    # The class design review again, now with the classes the model confuses.
    confused = confused_pairs(io.read_table(path(p, "predictions")), split, int(p["evaluate"]["confused_pairs"]))
    io.write_text(
        review_markdown(io.read_json(path(p, "label_schema"))["review"], confused)
        + label_review_text(p, A["label_review_md"]),
        path(p, "review"),
    )
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "rows": metrics["rows"]}


def publish_metrics(report: dict, p: dict) -> None:
    from flows.artifacts import publish_classification

    publish_classification(PROBLEM, io.read_json(path(p, "metrics")), path(p, "confusion_png"))
    publish_review(report, p)


publish_review = markdown_file_hook(PROBLEM, "class-design-review", A["review"])


# ---- what `hanflow run | evaluate --problem n21` call (predict: tasks/predict.py)


def headline(metrics: dict) -> dict:
    out = {k: metrics[k] for k in ("accuracy", "macro_f1", "rows", "split") if k in metrics}
    if "majority_baseline" in metrics:
        out["majority_baseline_accuracy"] = metrics["majority_baseline"]["accuracy"]
    return out


def format_for(data: Path) -> str:
    return {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}.get(
        data.suffix, "tsv"
    )


def evaluate_command(
    model: Path,
    data: Path,
    fmt: str,
    encoding: str,
    mapping: dict,
    out_dir: Path,
    *,
    header: bool = True,
    quarantine_path: Path | None = None,
) -> dict:
    """`hanflow evaluate --problem n21`: mapping is --column (id, text, label); unmapped ones take the training
    file's column names, and a missing id column numbers the rows."""
    from tasks.evaluate_data import check_column_keys
    from tasks.n21.evaluate import N21_FIELDS, evaluate_file

    check_column_keys(PROBLEM, mapping, N21_FIELDS, "--column text=review --column label=sentiment")
    data_cfg = {"path": str(data), "format": fmt, "encoding": encoding, "header": header, "columns": mapping}
    return evaluate_file(model, data_cfg, out_dir, quarantine_path=quarantine_path)


write_eval_set = jsonl_eval_set(("id", "text", "label"))


STAGES = (
    Stage(
        "ingest",
        ingest,
        params=("data", "class_design.schema"),
        deps=("${data.path}", A["corrections"], A["schema"]),
        outs=(A["ingested"], A["quarantine"], A["corrections_applied"]),
    ),
    Stage("tokenize", tokenize, params=("tokenize",), deps=(A["ingested"],), outs=(A["tokens"],)),
    Stage(
        "encode",
        encode,
        params=("encode", "class_design.schema"),
        deps=(A["tokens"], A["schema"]),
        outs=(A["encoded"], A["vocab"]),
    ),
    # pretrained vectors the train stage starts the embedding from
    vectors_stage(A, lambda vocab: vocab["itos"], "emb_dim"),
    Stage(
        "validate",
        validate,
        code=("tasks/n21/suite.yaml",),
        params=("validate", "class_design.schema"),
        deps=(A["encoded"], A["schema"]),
        outs=(A["validation_docs"],),
        reports=(A["validation"],),
        publish=validation_hook(PROBLEM, A["validation"], A["validation_docs"]),
    ),
    Stage(
        "class_design",
        class_design,
        params=("class_design",),
        deps=(A["encoded"], A["schema"]),
        outs=(A["label_schema"], A["class_design"]),
        publish=markdown_file_hook(PROBLEM, "class-design", A["class_design"]),
    ),
    Stage(
        "label_review",
        review_runner(PROBLEM, A, _review),
        params=("label_review", "class_design.schema"),
        deps=(A["encoded"], A["corrections_applied"], A["schema"]),
        outs=(A["label_review"], A["label_review_md"]),
        publish=review_hook(PROBLEM, A["label_review"]),
    ),
    Stage(
        "train",
        train,
        code=("models/n21.py",),
        params=("train", "encode.ngrams"),
        deps=(A["encoded"], A["vocab"], A["vectors"], A["label_schema"], A["validation"]),
        outs=(A["model"],),
    ),
    Stage(
        "evaluate",
        evaluate,
        code=("models/n21.py",),
        params=("evaluate",),
        deps=(A["model"], A["encoded"], A["label_schema"], A["label_review_md"]),
        outs=(A["confusion"], A["confusion_png"], A["predictions"], A["review"]),
        reports=(A["metrics"],),
        metrics=(HEADLINE,),
        plots=({A["confusion"]: {"template": "confusion", "x": "actual", "y": "predicted"}},),
        publish=publish_metrics,
    ),
)

PROBLEM_TYPE = register(
    Problem(
        PROBLEM,
        STAGES,
        A,
        headline=headline,
        format_for=format_for,
        formats=imported("tasks.n21.formats", "FORMATS"),
        evaluate_command=evaluate_command,
        write_eval_set=write_eval_set,
        predictor=imported("tasks.n21.predict", "N21Predictor"),
        labeling=imported("tasks.n21.labeling", "LABELING"),
    )
)
