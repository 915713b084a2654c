"""N2M (sequence -> sequence, a Korean dialogue model): the stage runners and their place in the stage graph.

Same shape as flows/n21.py and flows/n2n.py: a runner moves data between files and the pure functions
in tasks/n2m/, one module per stage (ingest.py, tokenize.py, encode.py, validate.py, ...).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc

from flows.artifacts import markdown_file_hook, validation_hook
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
    write_headline,
)
from tasks import io
from tasks.token_cache import cached

PROBLEM = "n2m"
A = {
    "ingested": "${work_dir}/ingested.parquet",
    "quarantine": "${work_dir}/quarantine.parquet",
    "tokens": "${work_dir}/tokens.parquet",
    "encoded": "${work_dir}/encoded.parquet",
    "vocab": "${work_dir}/vocab.json",
    "reranker": "${work_dir}/reranker",  # reranker.json (+ reranker.skops): tasks/n2m/rerank.py
    "validation": "${work_dir}/validation.json",
    "validation_docs": "${work_dir}/validation_docs",  # GX Data Docs, readable offline
    "class_design_json": "${work_dir}/class_design.json",
    "class_design": "${work_dir}/class_design.md",
    "review": "${work_dir}/class_design_review.md",
    "schema": "${class_design.schema}",
    "model": "${model_dir}",
    "metrics": "${work_dir}/eval/metrics.json",
    "samples": "${work_dir}/eval/samples.jsonl",
}


def path(p: dict, name: str) -> Path:
    return Path(resolve(A[name], p))


def _split(table, name: str):
    return table.filter(pc.equal(table.column("split"), name))


# Imported when the stage runs: `hanflow stage` pays only for the stage it runs.
def _ingest_pairs(data: dict):
    from tasks.n2m.ingest import ingest_pairs

    return ingest_pairs(data)


def _tokenize_pairs(table, cfg: dict):
    from tasks.n2m.tokenize import tokenize_pairs

    return tokenize_pairs(table, cfg)


ingest = ingest_runner(A, _ingest_pairs, PROBLEM)
tokenize = cached(table_runner(A, _tokenize_pairs, "ingested", "tokens", "tokenize"))


def encode(p: dict) -> dict:
    from tasks.label_schema import check_known, load_classes
    from tasks.n2m.encode import build_vocabs, encode_pairs
    from tasks.partition import stage_settings

    tokens = io.read_table(path(p, "tokens"))
    classes = load_classes(p["class_design"], PROBLEM)
    if classes:  # The one place N2M refuses labels the schema does not know (pairs without a label are fine).
        check_known(tokens, "label", [c["value"] for c in classes], PROBLEM, p["class_design"]["schema"], unit="pairs")
    from tasks.n2m import rerank

    retrieval, reranker, fitted = {}, None, {}
    if p["encode"]["retrieve"]:
        from tasks.n2m.retrieval import memory_from, with_retrieved

        memory = memory_from(tokens)
        if p["encode"]["rerank"]:
            reranker, fitted = rerank.fit_for_table(tokens, memory, p["encode"], p["data"]["split"])
        tokens, retrieval = with_retrieved(
            tokens,
            memory,
            float(p["encode"]["retrieve_gold_share"]),
            k=int(p["encode"]["retrieve_k"]),
            reranker=reranker,
        )
    rerank.save(reranker, path(p, "reranker"))
    vocabs = build_vocabs(tokens, p["encode"])
    vocabs["retrieve"] = bool(p["encode"]["retrieve"])
    vocabs["retrieve_k"] = int(p["encode"]["retrieve_k"])
    out, report = encode_pairs(tokens, vocabs, stage_settings(p["encode"], tokens.num_rows, "process"))
    io.write_table(out, path(p, "encoded"))
    io.write_json(vocabs, path(p, "vocab"))
    return {
        **report,
        **{f"retrieval_{k}": v for k, v in retrieval.items()},
        **{f"reranker_{k}": v for k, v in fitted.items()},
    }


def validate(p: dict) -> dict:
    from tasks.label_schema import load_classes
    from tasks.n2m.validate import check, validate_n2m

    report = validate_n2m(
        io.read_table(path(p, "encoded")),
        p["validate"],
        load_classes(p["class_design"], PROBLEM),
        docs_dir=path(p, "validation_docs"),
    )
    io.write_json(report, path(p, "validation"))
    check(report, source=str(p["data"]["path"]))
    return {"rows_in": report["rows"], "success": report["success"], "expectations": len(report["expectations"])}


def class_design(p: dict) -> dict:
    from tasks.class_review import data_version, save_review
    from tasks.label_schema import load_classes
    from tasks.n2m.class_design import class_design as design_of, n2m_review

    table = io.read_table(path(p, "ingested"))
    cfg = p["class_design"]
    design = design_of(table, {**cfg, "labels": load_classes(cfg, PROBLEM)})
    review = n2m_review(design, cfg, data_version(table))
    save_review(design, review, p["work_dir"], path(p, "class_design_json"), path(p, "class_design"))
    train = design["answer_diversity"].get("train", {})
    return {
        "labels": len(design["labels"]),
        "imbalance_warnings": design["imbalance_warnings"],
        "drift_warnings": review["drift"]["warnings"],
        "train_unique_answers": train.get("unique_answers"),
        "train_top_answer_share": train.get("top_answer_share"),
    }


def train(p: dict) -> dict:
    from tasks.model_dir import save_model_dir
    from tasks.tokenize import tokenizer_settings
    from tasks.n2m.train import model_config, train_seq2seq

    encoded = io.read_table(path(p, "encoded"))
    vocabs = io.read_json(path(p, "vocab"))
    if p["tokenize"]["join_pos"]:
        raise ValueError(
            "n2m.tokenize.join_pos must be false: answers are generated as morphemes and joined back "
            "into text, which 'morpheme/TAG' tokens cannot be"
        )
    config = model_config(vocabs, p["train"])
    if p["train"]["copy"]:
        from tasks.n2m.retrieval import copy_map

        config.update(
            copy=True,
            unk_id=vocabs["tgt"]["itos"].index("<unk>"),
            copy_map=None if vocabs.get("shared") else copy_map(vocabs),
        )
    model, history = train_seq2seq(encoded, config, p["train"], vocabs["tgt"]["itos"])
    from tasks.distributed import leave_unless_writer

    leave_unless_writer()  # under torchrun only rank 0 writes the model directory
    train_rows = _split(encoded, "train")
    train_answers = [" ".join(a.split()) for a in train_rows.column("answer").to_pylist()]
    extra = {}
    if vocabs.get("retrieve"):
        # predict and evaluate retrieve from the same train answers the model learnt to refine.
        from tasks.n2m.retrieval import memory_from

        extra["retrieval.json"] = memory_from(train_rows).to_json()
        # The reranker that chose the dev/test candidates (tasks/n2m/rerank.py) chooses them at predict time too.
        folder = path(p, "reranker")
        extra["reranker.json"] = io.read_json(folder / "reranker.json")
        if (folder / "reranker.skops").exists():
            extra["reranker.skops"] = (folder / "reranker.skops").read_bytes()
    save_model_dir(
        path(p, "model"),
        model,
        config,
        {
            **extra,
            "vocab.json": vocabs,
            "tokenizer.json": tokenizer_settings(p["tokenize"]),
            "params.json": p,
            "train_metrics.json": history,
            # The constant-answer baseline for `hanflow evaluate` on files without a train split.
            "baseline.json": {"constant_answer": Counter(train_answers).most_common(1)[0][0]},
        },
    )
    return {
        k: history.get(k)
        for k in ("best_epoch", "best_dev_chrf", "best_dev_perplexity", "stopped_early", "seconds_per_epoch")
    }


def evaluate(p: dict) -> dict:
    from tasks.class_review import review_markdown
    from tasks.n2m.evaluate import evaluate_encoded, label_breakdown

    split = p["evaluate"]["split"]
    table = io.read_table(path(p, "encoded"))
    rows = _split(table, split)
    if rows.num_rows == 0:
        raise ValueError(f"no rows in split {split!r} to evaluate (params key n2m.evaluate.split)")
    metrics, samples = evaluate_encoded(
        rows, path(p, "model"), p["evaluate"], train_pairs=_split(table, "train").select(["question", "answer"])
    )
    metrics["split"] = split
    io.write_json(metrics, path(p, "metrics"))
    write_headline(headline(metrics), "constant_baseline_chrf", p)
    io.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), path(p, "samples"))
    # The class design review again, now with how the answers fare per label.
    review = io.read_json(path(p, "class_design_json"))["review"]
    breakdown = label_breakdown(samples, review["classes"], split, int(p["evaluate"]["confused_pairs"]))
    io.write_text(review_markdown(review, breakdown), path(p, "review"))
    return {
        "chrf": metrics["chrf"],
        "bleu": metrics["bleu"],
        "perplexity": metrics["perplexity"],
        "rows": metrics["rows"],
        "constant_baseline_chrf": metrics["constant_baseline"]["chrf"],
        "retrieval_baseline_chrf": metrics["retrieval_baseline"]["chrf"],
        **(
            {"retrieved_candidate_chrf": metrics["retrieved_candidate"]["chrf"]}
            if "retrieved_candidate" in metrics
            else {}
        ),
    }


# ---- Prefect artifacts (only the flow calls these)


def publish_metrics(report: dict, p: dict) -> None:
    from prefect.artifacts import create_table_artifact

    from flows.artifacts import publish_markdown

    metrics = io.read_json(path(p, "metrics"))
    samples = [
        json.loads(line)
        for line in path(p, "samples").read_text(encoding="utf-8").splitlines()[: int(p["evaluate"]["samples"])]
    ]
    create_table_artifact(
        [{k: s[k] for k in ("id", "question", "reference", "generated")} for s in samples],
        key=f"{PROBLEM}-samples",
        description=f"{PROBLEM}: questions of split {metrics['split']!r}, the reference answer and the generated one",
    )
    publish_markdown(f"{PROBLEM}-metrics", metrics_markdown(metrics))
    publish_review(report, p)


publish_review = markdown_file_hook(PROBLEM, "class-design-review", A["review"])


def metrics_markdown(metrics: dict) -> str:
    decode = metrics["decode"]
    lines = [
        f"# {PROBLEM} evaluation on split `{metrics.get('split', '?')}` ({metrics['rows']} pairs)",
        "",
        f"Decoding: {decode.get('method')}"
        + (
            f" (beam {decode.get('beam_width')}, length penalty {decode.get('length_penalty')})"
            if decode.get("method") == "beam"
            else ""
        )
        + f"; BLEU tokenizer: {metrics['bleu_tokenize']}",
        "",
        "| system | chrF | BLEU | avg length | distinct-1 | distinct-2 |",
        "|---|---|---|---|---|---|",
    ]
    rows = [("model", metrics)]
    for key, name in (
        ("constant_baseline", "constant answer (most frequent train answer)"),
        ("retrieval_baseline", "retrieval (answer of the nearest train question)"),
        ("retrieved_candidate", "the retrieved answer handed to the model (reranked), not generated"),
    ):
        if key in metrics:
            rows.append((name, metrics[key]))
    lines += [
        f"| {name} | {m['chrf']:.2f} | {m['bleu']:.2f} | {m['avg_length']:.2f} | {m['distinct_1']:.3f} "
        f"| {m['distinct_2']:.3f} |"
        for name, m in rows
    ]
    lines += [
        "",
        f"- perplexity (teacher forced): **{metrics['perplexity']:.2f}**",
        f"- reference average length: {metrics['ref_avg_length']:.2f} words",
        f"- empty answers: {metrics['empty_answers']}, distinct answers: {metrics['unique_answers']}",
    ]
    return "\n".join(lines)


# ---- what `hanflow run | evaluate --problem n2m` call (predict: tasks/predict.py)


def headline(metrics: dict) -> dict:
    out = {k: metrics[k] for k in ("chrf", "bleu", "perplexity", "rows", "split") if k in metrics}
    if "constant_baseline" in metrics:
        out["constant_baseline_chrf"] = metrics["constant_baseline"]["chrf"]
    return out


def format_for(data: Path) -> str:
    from tasks.n2m.formats import format_for as default_format

    return default_format(data)


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
    """`hanflow evaluate --problem n2m`: mapping is --column (question, answer, label); unmapped ones take the
    training file's column names when the file has its format, else the format's defaults."""
    from tasks.evaluate_data import check_column_keys
    from tasks.n2m.evaluate import N2M_FIELDS, evaluate_file

    check_column_keys(PROBLEM, mapping, N2M_FIELDS, "--column question=Q --column answer=A")
    metrics, samples = evaluate_file(
        model, data, fmt, encoding, mapping, header=header, quarantine_path=quarantine_path
    )
    io.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), Path(out_dir) / "samples.jsonl")
    metrics["samples_path"] = str(Path(out_dir) / "samples.jsonl")
    return metrics


write_eval_set = jsonl_eval_set(("question", "answer", "label"))


STAGES = (
    Stage("ingest", ingest, params=("data",), deps=("${data.path}",), outs=(A["ingested"], A["quarantine"])),
    Stage("tokenize", tokenize, params=("tokenize",), deps=(A["ingested"],), outs=(A["tokens"],)),
    Stage(
        "encode",
        encode,
        params=("encode", "class_design.schema", "data.split"),
        deps=(A["tokens"], A["schema"]),
        outs=(A["encoded"], A["vocab"], A["reranker"]),
    ),
    Stage(
        "validate",
        validate,
        code=("tasks/n2m/suite.yaml",),
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
        outs=(A["class_design_json"], A["class_design"]),
        publish=markdown_file_hook(PROBLEM, "class-design", A["class_design"]),
    ),
    Stage(
        "train",
        train,
        code=("models/n2m.py",),
        params=("train",),
        deps=(A["encoded"], A["vocab"], A["reranker"], A["validation"]),
        outs=(A["model"],),
    ),
    Stage(
        "evaluate",
        evaluate,
        code=("models/n2m.py",),
        params=("evaluate",),
        deps=(A["model"], A["encoded"], A["class_design_json"]),
        outs=(A["samples"], A["review"]),
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
        formats=imported("tasks.n2m.formats", "FORMATS"),
        evaluate_command=evaluate_command,
        write_eval_set=write_eval_set,
        predictor=imported("tasks.n2m.predict", "N2MPredictor"),
    )
)
