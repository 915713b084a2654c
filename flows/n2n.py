"""N2N (token -> tag, named entities): the stage runners and their place in the stage graph.

Same shape as flows/n21.py: a runner moves data between files and the pure functions in
tasks/n2n/ (one module per stage).
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
    table_runner,
    vectors_stage,
    write_headline,
)
from tasks import io
from tasks.token_cache import cached

PROBLEM = "n2n"
A = {
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
    "entity_schema": "${work_dir}/entity_schema.json",
    "class_design": "${work_dir}/class_design.md",
    "review": "${work_dir}/class_design_review.md",
    "schema": "${class_design.schema}",
    "model": "${model_dir}",
    "metrics": "${work_dir}/eval/metrics.json",
    "errors": "${work_dir}/eval/errors.json",
    "confusion": "${work_dir}/eval/confusion.json",
    "confusion_png": "${work_dir}/eval/confusion.png",
    "predictions": "${work_dir}/eval/predictions.parquet",  # gold and predicted spans per sentence
}


def path(p: dict, name: str) -> Path:
    return Path(resolve(A[name], p))


def _classes(p: dict) -> list[dict]:
    from tasks.label_schema import load_classes

    return load_classes(p["class_design"], PROBLEM)


def _types(p: dict, table=None) -> list[str]:
    from tasks.n2n.encode import entity_types

    configured = [entry["value"] for entry in _classes(p)]
    return entity_types(table, configured) if table is not None else configured


# Imported when the stage runs: `hanflow stage` pays only for the stage it runs.
def _ingest_ner(data: dict):
    from tasks.n2n.ingest import ingest_ner

    return ingest_ner(data)


def _tokenize_ner(table, cfg: dict):
    from tasks.n2n.tokenize import tokenize_ner

    return tokenize_ner(table, cfg)


ingest = ingest_runner(A, _ingest_ner, PROBLEM, corrected="entities")
tokenize = cached(table_runner(A, _tokenize_ner, "ingested", "tokens", "tokenize"))


def encode(p: dict) -> dict:
    from tasks.label_schema import check_known
    from tasks.n2n.encode import build_vocabs, encode_ner
    from tasks.partition import stage_settings

    tokens = io.read_table(path(p, "tokens"))
    types = _types(p, tokens)
    # The one place N2N refuses entity types the schema does not know.
    check_known(tokens, "entities", types, PROBLEM, p["class_design"]["schema"], "type", "entity type", "entities")
    vocabs = build_vocabs(tokens, p["encode"], types)
    out, report = encode_ner(tokens, vocabs, stage_settings(p["encode"], tokens.num_rows, "process"))
    io.write_table(out, path(p, "encoded"))
    io.write_json(vocabs, path(p, "vocab"))
    return report


def validate(p: dict) -> dict:
    from tasks.validation import check
    from tasks.n2n.validate import validate_n2n

    encoded = io.read_table(path(p, "encoded"))
    report = validate_n2n(encoded, _types(p, encoded), p["validate"], docs_dir=path(p, "validation_docs"))
    io.write_json(report, path(p, "validation"))
    check(report, source=str(p["data"]["path"]))
    return {"rows_in": report["rows"], "success": report["success"], "expectations": len(report["expectations"])}


def class_design(p: dict) -> dict:
    from tasks.class_review import data_version, save_review
    from tasks.n2n.class_design import entity_schema, n2n_review

    table = io.read_table(path(p, "ingested"))
    cfg = p["class_design"]
    schema = entity_schema(table, _classes(p), cfg["imbalance_ratio"])
    review = n2n_review(schema, cfg, data_version(table))
    save_review(schema, review, p["work_dir"], path(p, "entity_schema"), path(p, "class_design"))
    return {
        "types": len(schema["types"]),
        "imbalance_warnings": schema["imbalance_warnings"],
        "drift_warnings": review["drift"]["warnings"],
    }


MODEL_KEYS = ("char_emb_dim", "morph_emb_dim", "pos_emb_dim", "hidden_dim", "num_layers", "dropout", "use_crf")


def _review(encoded, p: dict):
    from tasks.n2n.label_review import n2n_review

    return n2n_review(encoded, io.read_json(path(p, "vocab"))["tags"], p["label_review"])


def train(p: dict) -> dict:
    from tasks.tokenize import tokenizer_settings
    from tasks.distributed import leave_unless_writer
    from tasks.model_dir import save_model_dir
    from tasks.n2n.train import train_tagger

    encoded = io.read_table(path(p, "encoded"))
    vocabs = io.read_json(path(p, "vocab"))
    cfg = p["train"]
    features = set(cfg["features"] or [])
    unknown = features - {"morphs", "pos", "boundary", "domain"}
    if unknown:
        raise ValueError(f"n2n.train.features: unknown {sorted(unknown)}; choose from morphs, pos, boundary, domain")
    model_config = {
        "architecture": "n2n.TokenTagger",
        "vocab_size": len(vocabs["chars"]["itos"]),
        "num_tags": len(vocabs["tags"]),
        "tag_names": vocabs["tags"],
        "morph_vocab_size": len(vocabs["morphs"]["itos"]) if "morphs" in features else 0,
        "pos_vocab_size": len(vocabs["pos"]["itos"]) if "pos" in features else 0,
        "boundary_vocab_size": 4 if "boundary" in features else 0,
        "domain_vocab_size": len(vocabs.get("domains", [])) if "domain" in features else 0,
        **{k: cfg[k] for k in MODEL_KEYS},
    }
    from tasks.vectors import load_vectors

    model, history = train_tagger(encoded, model_config, cfg, vectors=load_vectors(path(p, "vectors")))
    leave_unless_writer()  # under torchrun only rank 0 goes on to write (tasks/distributed.py)
    save_model_dir(
        path(p, "model"),
        model,
        model_config,
        {
            "vocab.json": vocabs,
            "entity_schema.json": io.read_json(path(p, "entity_schema")),
            "tokenizer.json": tokenizer_settings(p["tokenize"]),
            "params.json": p,
            "train_metrics.json": history,
        },
    )
    from tasks.splits import truncation_report

    return {
        **{k: history.get(k) for k in ("best_epoch", "best_dev_f1", "stopped_early")},
        **truncation_report(encoded, "char_ids", cfg["max_len"]),
    }  # tagged O past the cut


def evaluate(p: dict) -> dict:
    from tasks.class_review import review_markdown
    from tasks.n2n.evaluate import evaluate_with_predictions, predictions_table, type_confusions, write_confusion

    split = p["evaluate"]["split"]
    table = io.read_table(path(p, "encoded"))
    rows = table.filter(pc.equal(table.column("split"), split))
    if rows.num_rows == 0:
        raise ValueError(f"no rows in split {split!r} to evaluate (params key n2n.evaluate.split)")
    train_rows = table.filter(pc.equal(table.column("split"), "train")).select(["text", "entities"])
    metrics, errors, pred = evaluate_with_predictions(rows, path(p, "model"), p["evaluate"], train_table=train_rows)
    metrics["split"] = split
    io.write_json(metrics, path(p, "metrics"))
    write_headline(headline(metrics), "gazetteer_baseline_f1", p)
    io.write_json(errors, path(p, "errors"))
    gold = [sorted((e["start"], e["end"], e["type"]) for e in ents) for ents in rows.column("entities").to_pylist()]
    io.write_table(predictions_table(rows.column("id").to_pylist(), gold, pred), path(p, "predictions"))
    write_confusion(gold, pred, list(metrics["per_type"]), path(p, "confusion"), path(p, "confusion_png"))
    # The class design review again, now with the types the model confuses.
    confused = type_confusions(
        rows.column("id").to_pylist(),
        rows.column("text").to_pylist(),
        gold,
        pred,
        split,
        int(p["evaluate"]["confused_pairs"]),
    )
    io.write_text(
        review_markdown(io.read_json(path(p, "entity_schema"))["review"], confused)
        + label_review_text(p, A["label_review_md"]),
        path(p, "review"),
    )
    return {
        "f1": metrics["f1"],
        "precision": metrics["precision"],
        "recall": metrics["recall"],
        "rows": metrics["rows"],
    }


def publish_metrics(report: dict, p: dict) -> None:
    from flows.artifacts import publish_entities

    publish_entities(PROBLEM, io.read_json(path(p, "metrics")), io.read_json(path(p, "errors")))
    publish_review(report, p)


publish_review = markdown_file_hook(PROBLEM, "class-design-review", A["review"])


# ---- what `hanflow run | evaluate --problem n2n` call (predict: tasks/predict.py)


def headline(metrics: dict) -> dict:
    out = {k: metrics[k] for k in ("f1", "precision", "recall", "token_accuracy", "rows", "split") if k in metrics}
    if "gazetteer_baseline" in metrics:
        out["gazetteer_baseline_f1"] = metrics["gazetteer_baseline"]["f1"]
    return out


def format_for(data: Path) -> str:
    return {".jsonl": "jsonl", ".train": "klp", ".dev": "klp", ".test": "klp", ".tsv": "klue"}.get(data.suffix, "kmou")


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
    """`hanflow evaluate --problem n2n`: --data is a file or a folder of files in one format."""
    from tasks.evaluate_data import check_column_keys
    from tasks.n2n.evaluate import evaluate_file

    check_column_keys(PROBLEM, mapping, (), header=header)
    return evaluate_file(model, data, fmt, encoding, quarantine_path=quarantine_path)


write_eval_set = jsonl_eval_set(("id", "text", "entities"), mapped=False)


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
    # pretrained vectors the train stage starts the morpheme feature from
    vectors_stage(A, lambda vocab: vocab["morphs"]["itos"], "morph_emb_dim"),
    Stage(
        "validate",
        validate,
        code=("tasks/n2n/suite.yaml",),
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
        deps=(A["ingested"], A["schema"]),
        outs=(A["entity_schema"], A["class_design"]),
        publish=markdown_file_hook(PROBLEM, "class-design", A["class_design"]),
    ),
    Stage(
        "label_review",
        review_runner(PROBLEM, A, _review),
        params=("label_review",),
        deps=(A["encoded"], A["vocab"], A["corrections_applied"]),
        outs=(A["label_review"], A["label_review_md"]),
        publish=review_hook(PROBLEM, A["label_review"]),
    ),
    Stage(
        "train",
        train,
        code=("models/n2n.py",),
        params=("train",),
        deps=(A["encoded"], A["vocab"], A["vectors"], A["entity_schema"], A["validation"]),
        outs=(A["model"],),
    ),
    Stage(
        "evaluate",
        evaluate,
        code=("models/n2n.py",),
        params=("evaluate",),
        deps=(A["model"], A["encoded"], A["entity_schema"], A["label_review_md"]),
        outs=(A["errors"], A["review"], A["confusion"], A["confusion_png"], A["predictions"]),
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
        formats=imported("tasks.n2n.formats", "FORMATS"),
        evaluate_command=evaluate_command,
        write_eval_set=write_eval_set,
        predictor=imported("tasks.n2n.predict", "N2NPredictor"),
        labeling=imported("tasks.n2n.labeling", "LABELING"),
        data_folders=True,
    )
)
