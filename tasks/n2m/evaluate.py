"""Using a trained N2M model directory: evaluate on encoded pairs or any dialogue file, answer questions.

Everything comes from the model directory (vocabularies, tokenizer settings, decode settings, weights).
Scores are on detokenized text against the answers as written in the source, never on morphemes.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from tasks.n2m.metrics import constant_answer_baseline, generation_metrics, retrieval_baseline
from tasks.model_dir import load_model_dir
from tasks.n2m.train import answers_for, check_decode, table_perplexity
from tasks.training import pick_device

BASELINE_FILE = "baseline.json"


def decode_settings(bundle: dict, override: dict | None = None) -> dict:
    return check_decode({**bundle["params.json"]["evaluate"]["decode"], **(override or {})})


def evaluate_encoded(
    rows: pa.Table,
    model_dir: str | Path,
    cfg: dict,
    train_pairs: pa.Table | None = None,
) -> tuple[dict, list[dict]]:
    """chrF, BLEU, perplexity, length and distinct-n of decoded answers, the baselines, and every sample.

    train_pairs (question, answer of the train split) adds the constant-answer and retrieval baselines on
    the same rows; without it the constant answer stored in the model directory is used.
    """
    model, bundle = load_model_dir(model_dir)
    params = bundle["params.json"]
    device = pick_device(params["train"]["device"])
    # cfg: params' n2m.evaluate in the flow; `hanflow evaluate` passes only batch_size, and decode and
    # bleu_tokenize then come from the model directory's own params.
    decode = decode_settings(bundle, cfg.get("decode"))
    batch_size = int(cfg["batch_size"])
    bleu_tokenize = cfg.get("bleu_tokenize", params["evaluate"]["bleu_tokenize"])
    itos = bundle["vocab.json"]["tgt"]["itos"]
    cut = int(params["train"]["max_src_len"])  # questions are cut as in training
    hypotheses = answers_for(model, rows, itos, decode, batch_size, device, cut)
    references = rows.column("answer").to_pylist()
    questions = rows.column("question").to_pylist()
    metrics = generation_metrics(hypotheses, references, bleu_tokenize=bleu_tokenize)
    metrics["perplexity"], metrics["target_tokens"] = table_perplexity(model, rows, batch_size, device, cut)
    metrics["rows"] = rows.num_rows
    metrics["decode"] = decode
    metrics["bleu_tokenize"] = bleu_tokenize
    metrics["empty_answers"] = sum(1 for h in hypotheses if not h.strip())
    metrics["unique_answers"] = len(set(hypotheses))
    if train_pairs is not None:
        train_q, train_a = train_pairs.column("question").to_pylist(), train_pairs.column("answer").to_pylist()
        metrics["constant_baseline"] = constant_answer_baseline(train_a, references, bleu_tokenize=bleu_tokenize)
        metrics["retrieval_baseline"] = retrieval_baseline(
            train_q, train_a, questions, references, bleu_tokenize=bleu_tokenize
        )
    if "retrieved_answer" in rows.column_names:  # the candidate handed to the model, without generating
        metrics["retrieved_candidate"] = generation_metrics(
            rows.column("retrieved_answer").to_pylist(), references, bleu_tokenize=bleu_tokenize
        )
    if train_pairs is None and BASELINE_FILE in bundle:
        answer = bundle[BASELINE_FILE]["constant_answer"]
        metrics["constant_baseline"] = generation_metrics(
            [answer] * len(references), references, bleu_tokenize=bleu_tokenize
        )
    labels = rows.column("label").to_pylist() if "label" in rows.column_names else [None] * rows.num_rows
    samples = [
        {"id": rid, "question": q, "reference": r, "generated": h, "label": lab}
        for rid, q, r, h, lab in zip(rows.column("id").to_pylist(), questions, references, hypotheses, labels)
    ]
    return metrics, samples


N2M_FIELDS = ("question", "answer", "label")


def eval_columns(
    path: str | Path, fmt: str, encoding: str, mapping: dict, trained: dict | None, header: bool = True
) -> dict | None:
    """read_pairs' columns for `hanflow evaluate`: --column (mapping) over the training file's names (trained:
    params data section, used for a file of the same format) over the format's defaults. Checked against the
    header line here, so a missing column is named with the option that maps it; a label column the user did
    not ask for is optional."""
    from tasks.n2m.formats import CHATBOT_COLUMNS, DEFAULT_COLUMNS
    from tasks.evaluate_data import header_names

    inherited = {
        k: v
        for k, v in ((trained or {}).get("columns") or {}).items()
        if v is not None and (trained or {}).get("format") == fmt
    }
    columns = {**inherited, **mapping}
    if fmt == "jsonl" or not header:
        return columns or None  # no header line to check: keys missing from a record quarantine it
    names = header_names(path, "\t" if fmt == "tsv" else ",", fmt != "tsv", encoding)
    if names is None:
        return columns or None
    chosen = {**(CHATBOT_COLUMNS if fmt == "chatbot" else DEFAULT_COLUMNS), **columns}
    missing = [
        f
        for f in N2M_FIELDS
        if chosen.get(f) is not None and str(chosen[f]) not in names and (f != "label" or "label" in mapping)
    ]
    if missing:
        raise ValueError(
            f"{path}: header {names} has no column {', '.join(repr(str(chosen[f])) for f in missing)} "
            f"(for {', '.join(missing)}); map the columns with " + " ".join(f"--column {f}=<column>" for f in missing)
        )
    if chosen.get("label") is not None and str(chosen["label"]) not in names:
        columns = {**columns, "label": None}  # the training file had labels; this one has none
    return {k: v for k, v in columns.items() if v is not None} or None


def evaluate_file(
    model_dir: str | Path,
    path: str | Path,
    fmt: str,
    encoding: str = "utf-8",
    columns: dict | None = None,
    batch_size: int = 128,
    *,
    header: bool = True,
    quarantine_path: str | Path | None = None,
) -> tuple[dict, list[dict]]:
    """`hanflow evaluate --problem n2m`: every readable pair of the file is evaluation data; the quarantined
    ones are written to quarantine_path. columns: the --column mapping (see eval_columns)."""
    from tasks.n2m.formats import read_pairs
    from tasks.evaluate_data import nothing_left, write_quarantine
    from tasks.n2m.encode import tokens_and_ids

    _, bundle = load_model_dir(model_dir)
    chosen = eval_columns(path, fmt, encoding, dict(columns or {}), bundle["params.json"].get("data"), header)
    rows, quarantined = read_pairs(path, fmt, chosen, encoding, header)
    written = write_quarantine(quarantined, quarantine_path)
    if not rows:
        raise nothing_left(path, f"question/answer pairs in format {fmt!r}", quarantined, written)
    encoded = tokens_and_ids([r["question"] for r in rows], [r["answer"] for r in rows], bundle)
    encoded = encoded.set_column(0, "id", pa.array([str(r["id"]) for r in rows]))
    encoded = encoded.append_column("label", pa.array([r.get("label") for r in rows], pa.string()))
    metrics, samples = evaluate_encoded(encoded, model_dir, {"batch_size": batch_size})
    metrics.update(source=str(path), format=fmt, rows_quarantined=len(quarantined))
    if written:
        metrics["quarantine_path"] = written
    return metrics, samples


def predict_texts(model_dir: str | Path, texts: list[str], batch_size: int = 128) -> list[dict]:
    """One readable answer per question (tasks.n2m.predict): a training question's own answer, else generated; an
    empty or overlong question gets a row with its `error`."""
    from tasks.n2m.predict import N2MPredictor
    from tasks.predict import predict_texts as predict

    return predict(N2MPredictor, model_dir, texts, batch_size)


def label_breakdown(samples: list[dict], classes: list[dict], split: str, top_k: int = 5) -> dict:
    """The class design review's evaluation part for N2M: per label, chrF of the generated answers and the
    lowest-scoring pairs. The model generates answers and predicts no label, so no class pairs can be confused."""
    from sacrebleu.metrics import CHRF

    names = {c["value"]: c["name"] for c in classes}
    labelled = [s for s in samples if s.get("label") is not None]
    out = {"title": "Answers per label", "split": split, "tables": []}
    if not labelled:
        out["notes"] = [
            "No most-confused pairs: N2M generates answers and predicts no class, and the evaluated "
            "pairs carry no label (the data has no label column), so there is nothing to break down per "
            "class either."
        ]
        return out
    out["notes"] = [
        "No most-confused pairs: N2M generates answers and predicts no class. Instead, per label, how "
        f"close the generated answers are to the references (chrF) and the {min(3, top_k)} lowest-scoring "
        "pairs (id: question → reference / generated)."
    ]
    chrf = CHRF()
    rows = []
    by_label: dict = {}
    for s in labelled:
        by_label.setdefault(str(s["label"]), []).append(s)
    for value, group in sorted(by_label.items(), key=lambda kv: -len(kv[1])):
        hyps = [" ".join(s["generated"].split()) for s in group]
        refs = [" ".join(s["reference"].split()) for s in group]
        scored = sorted(zip((chrf.sentence_score(h, [r]).score for h, r in zip(hyps, refs)), group), key=lambda x: x[0])
        worst = [
            f"{s['id']}: {s['question']} → {s['reference']} / {s['generated']} ({score:.0f})"
            for score, s in scored[: min(3, top_k)]
        ]
        rows.append(
            [names.get(value, value), len(group), f"{chrf.corpus_score(hyps, [refs]).score:.1f}", " ‖ ".join(worst)]
        )
    unlabelled = len(samples) - len(labelled)
    out["tables"].append(
        {
            "title": "chrF per label",
            "columns": ["label", "pairs", "chrF", "lowest-scoring pairs"],
            "rows": rows,
            "note": f"{unlabelled} pairs without a label left out." if unlabelled else "",
        }
    )
    return out
