"""N2Path (tokens -> dependency tree): the stage runners and their place in the stage graph.

Same shape as flows/n2n.py: a runner moves data between files and the pure functions in
tasks/n2path/, one module per stage (ingest.py, tokenize.py, encode.py, validate.py, class_design.py,
train.py, evaluate.py).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from flows.artifacts import markdown_file_hook, validation_hook
from flows.stages import (
    HEADLINE,
    Problem,
    Stage,
    imported,
    ingest_runner,
    register,
    resolve,
    table_runner,
    write_headline,
)
from tasks import io
from tasks.token_cache import cached

PROBLEM = "n2path"
A = {
    "ingested": "${work_dir}/ingested.parquet",
    "quarantine": "${work_dir}/quarantine.parquet",
    "tokens": "${work_dir}/tokens.parquet",
    "encoded": "${work_dir}/encoded.parquet",
    "vocab": "${work_dir}/vocab.json",
    "validation": "${work_dir}/validation.json",
    "validation_docs": "${work_dir}/validation_docs",  # GX Data Docs, readable offline
    "relation_schema": "${work_dir}/relation_schema.json",
    "class_design": "${work_dir}/class_design.md",
    "review": "${work_dir}/class_design_review.md",
    "schema": "${class_design.schema}",
    "model": "${model_dir}",
    "metrics": "${work_dir}/eval/metrics.json",
    "predictions": "${work_dir}/eval/predictions.conllu",
}


def path(p: dict, name: str) -> Path:
    return Path(resolve(A[name], p))


# Imported when the stage runs: `hanflow stage` pays only for the stage it runs.
def _ingest_parse(data: dict):
    from tasks.n2path.ingest import ingest_parse

    return ingest_parse(data)


def _tokenize_parse(table, cfg: dict):
    from tasks.n2path.tokenize import tokenize_parse

    return tokenize_parse(table, cfg)


ingest = ingest_runner(A, _ingest_parse, PROBLEM)
tokenize = cached(table_runner(A, _tokenize_parse, "ingested", "tokens", "tokenize"))


def _classes(p: dict) -> list[dict]:
    from tasks.label_schema import load_classes

    return load_classes(p["class_design"], PROBLEM)


def encode(p: dict) -> dict:
    from tasks.label_schema import check_known
    from tasks.n2path.class_design import relation_names
    from tasks.n2path.encode import build_parse_vocabs, encode_parse
    from tasks.partition import stage_settings

    tokens = io.read_table(path(p, "tokens"))
    relations = relation_names(tokens, _classes(p))
    # The one place N2Path refuses relations the schema does not know.
    check_known(tokens, "deprels", relations, PROBLEM, p["class_design"]["schema"], kind="relation", unit="arcs")
    vocabs = build_parse_vocabs(tokens, p["encode"], relations)
    out, report = encode_parse(tokens, vocabs, stage_settings(p["encode"], tokens.num_rows, "process"))
    io.write_table(out, path(p, "encoded"))
    io.write_json(vocabs, path(p, "vocab"))
    return report


def validate(p: dict) -> dict:
    from tasks.n2path.validate import check_n2path, validate_n2path

    encoded = io.read_table(path(p, "encoded"))
    report = validate_n2path(
        encoded, io.read_json(path(p, "vocab"))["relations"], p["validate"], docs_dir=path(p, "validation_docs")
    )
    io.write_json(report, path(p, "validation"))
    check_n2path(report, source=str(p["data"]["path"]))
    return {"rows_in": report["rows"], "success": report["success"], "expectations": len(report["expectations"])}


def class_design(p: dict) -> dict:
    from tasks.class_review import data_version, save_review
    from tasks.n2path.class_design import n2path_review, relation_schema

    table = io.read_table(path(p, "ingested"))
    cfg = p["class_design"]
    schema = relation_schema(table, _classes(p), int(cfg["min_count"]))
    review = n2path_review(schema, cfg, data_version(table))
    save_review(schema, review, p["work_dir"], path(p, "relation_schema"), path(p, "class_design"))
    return {
        "relations": len(schema["relations"]),
        "warnings": len(schema["warnings"]),
        "drift_warnings": review["drift"]["warnings"],
    }


def train(p: dict) -> dict:
    from tasks.distributed import leave_unless_writer
    from tasks.model_dir import save_model_dir
    from tasks.n2path.train import model_config, train_parser

    encoded = io.read_table(path(p, "encoded"))
    vocabs = io.read_json(path(p, "vocab"))
    config = model_config(vocabs, p["train"])
    model, history = train_parser(encoded, config, p["train"])
    leave_unless_writer()  # under torchrun only rank 0 goes on to write (tasks/distributed.py)
    tok = p["tokenize"]
    save_model_dir(
        path(p, "model"),
        model,
        config,
        {
            "vocab.json": vocabs,
            "relation_schema.json": io.read_json(path(p, "relation_schema")),
            # Raw text has no treebank analysis: prediction always uses the tagger named here.
            "tokenizer.json": {
                "morphemes": tok["morphemes"],
                "predict_morphemes": "tagger",
                **{k: tok[k] for k in ("tagger", "norm", "stem")},
            },
            "params.json": p,
            "train_metrics.json": history,
        },
    )
    # best_dev_*: absent when no epoch ran (EarlyStopping.restore)
    return {
        k: history.get(k)
        for k in (
            "best_epoch",
            "best_dev_las",
            "best_dev_uas",
            "stopped_early",
            "seconds_per_epoch",
            # sentences over train.max_len are left out of training
            "train_sentences",
            "skipped_over_max_len",
        )
    }


def evaluate(p: dict) -> dict:
    from tasks.class_review import review_markdown
    from tasks.n2path.evaluate import evaluate_encoded, relation_confusions
    from tasks.n2path.formats import write_conllu

    split = p["evaluate"]["split"]
    table = io.read_table(path(p, "encoded"))
    rows = table.filter(pc.equal(table.column("split"), split))
    if rows.num_rows == 0:
        raise ValueError(f"no rows in split {split!r} to evaluate (params key n2path.evaluate.split)")
    metrics, parsed = evaluate_encoded(rows, path(p, "model"), p["evaluate"])
    metrics["split"] = split
    io.write_json(metrics, path(p, "metrics"))
    write_headline(headline(metrics), "right_neighbour_uas", p)
    io.write_text(write_conllu(parsed), path(p, "predictions"))
    # The class design review again, with the relations the parser confuses.
    confused = relation_confusions(rows, parsed, split, int(p["evaluate"]["confused_pairs"]))
    io.write_text(review_markdown(io.read_json(path(p, "relation_schema"))["review"], confused), path(p, "review"))
    return headline(metrics)


def publish_parse(problem: str, metrics: dict) -> None:
    """Per-relation table and a Markdown summary on the Prefect dashboard."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    rows = [
        {"relation": rel, "count": m["count"], "uas": round(m["uas"], 4), "las": round(m["las"], 4)}
        for rel, m in sorted(metrics["per_relation"].items(), key=lambda kv: -kv[1]["count"])
    ]
    create_table_artifact(
        rows, key=f"{problem}-per-relation", description=f"{problem} attachment scores per gold relation"
    )
    baseline = metrics["right_neighbour_baseline"]["uas"]
    lines = [
        f"# {problem} evaluation on split `{metrics['split']}` ({metrics['rows']} sentences, "
        f"{metrics['tokens']} words, punctuation {metrics['punctuation']})",
        "",
        f"- UAS: **{metrics['uas']:.4f}**",
        f"- LAS: **{metrics['las']:.4f}** (relation subtypes dropped: {metrics['las_base_relation']:.4f})",
        f"- baseline (every word headed by the next one) UAS: {baseline:.4f}",
        f"- morphemes: {metrics['morphemes']}",
    ]
    if "with_tagger_morphemes" in metrics:
        t = metrics["with_tagger_morphemes"]
        lines.append(
            f"- same words with the tagger's morphemes (what raw text gets): UAS {t['uas']:.4f}, LAS {t['las']:.4f}"
        )
    lines += ["", "| relation | count | UAS | LAS |", "|---|---|---|---|"]
    lines += [f"| {r['relation']} | {r['count']} | {r['uas']} | {r['las']} |" for r in rows]
    create_markdown_artifact(markdown="\n".join(lines), key=f"{problem}-metrics")


def publish_metrics(report: dict, p: dict) -> None:
    publish_parse(PROBLEM, io.read_json(path(p, "metrics")))
    publish_review(report, p)


publish_review = markdown_file_hook(PROBLEM, "class-design-review", A["review"])


# ---- what `hanflow run | evaluate --problem n2path` call (predict: tasks/predict.py)


def headline(metrics: dict) -> dict:
    out = {k: metrics[k] for k in ("uas", "las", "rows", "split") if k in metrics}
    if "right_neighbour_baseline" in metrics:
        out["right_neighbour_uas"] = metrics["right_neighbour_baseline"]["uas"]
    return out


def format_for(data: Path) -> str:
    return {".conllu": "conllu", ".tsv": "klue_dp"}.get(Path(data).suffix, "conllu")


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
    """`hanflow evaluate --problem n2path`: --data is a file or a folder of files in one format."""
    from tasks.evaluate_data import check_column_keys
    from tasks.n2path.evaluate import evaluate_file

    check_column_keys(PROBLEM, mapping, (), header=header)
    return evaluate_file(model, data, fmt, encoding, quarantine_path=quarantine_path)


def write_eval_set(rows: list[dict], out_dir: Path) -> tuple[Path, str, dict]:
    """The champion comparison set as CoNLL-U: the words and gold trees, re-read by evaluate_command."""
    from tasks.n2path.formats import write_conllu

    path = out_dir / "eval_set.conllu"
    path.write_text(write_conllu(rows), encoding="utf-8")
    return path, "conllu", {}


STAGES = (
    Stage("ingest", ingest, params=("data",), deps=("${data.path}",), outs=(A["ingested"], A["quarantine"])),
    Stage("tokenize", tokenize, params=("tokenize",), deps=(A["ingested"],), outs=(A["tokens"],)),
    Stage(
        "encode",
        encode,
        params=("encode", "class_design.schema"),
        deps=(A["tokens"], A["schema"]),
        outs=(A["encoded"], A["vocab"]),
    ),
    Stage(
        "validate",
        validate,
        code=("tasks/n2path/suite.yaml",),
        params=("validate",),
        deps=(A["encoded"], A["vocab"]),
        outs=(A["validation_docs"],),
        reports=(A["validation"],),
        publish=validation_hook(PROBLEM, A["validation"], A["validation_docs"]),
    ),
    Stage(
        "class_design",
        class_design,
        params=("class_design",),
        deps=(A["ingested"], A["schema"]),
        outs=(A["relation_schema"], A["class_design"]),
        publish=markdown_file_hook(PROBLEM, "class-design", A["class_design"]),
    ),
    Stage(
        "train",
        train,
        code=("models/n2path.py",),
        params=("train", "tokenize"),
        deps=(A["encoded"], A["vocab"], A["relation_schema"], A["validation"]),
        outs=(A["model"],),
    ),
    Stage(
        "evaluate",
        evaluate,
        code=("models/n2path.py",),
        params=("evaluate",),
        deps=(A["model"], A["encoded"], A["relation_schema"]),
        outs=(A["predictions"], A["review"]),
        reports=(A["metrics"],),
        metrics=(HEADLINE,),
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
        formats=imported("tasks.n2path.ingest", "FORMATS"),
        evaluate_command=evaluate_command,
        write_eval_set=write_eval_set,
        predictor=imported("tasks.n2path.predict", "N2PathPredictor"),
        data_folders=True,
    )
)
