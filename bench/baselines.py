"""The baseline of each benchmark entry, built on the same split as the model, and both systems' per-unit
statistics for the paired bootstrap (bench/stats.py).

A finished run leaves its split and the model's per-row outputs in the work folder (encoded.parquet,
eval/predictions.parquet, eval/samples.jsonl, eval/predictions.conllu); `paired(problem, section)` reads
them, builds the baseline on that run's train split and scores both on the same test units.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench import stats
from tasks import io

NAMES = {
    "tfidf_logreg": "TF-IDF char_wb 1-4-grams + logistic regression",
    "retrieval": "retrieval (answer of the nearest train question, TF-IDF char 1-3)",
    "gazetteer": "gazetteer (train entity strings)",
    "right_neighbour": "right neighbour (every word headed by the next)",
}


@dataclass
class Paired:
    """Both systems on one run's test set: unit keys and [units, d] statistics, row k = unit k."""

    units: list
    model: np.ndarray
    baseline: np.ndarray
    metrics: tuple[str, ...]  # what stats.METRICS computes from the model's statistics
    baseline_metrics: tuple[str, ...]  # ... and from the baseline's
    baseline_seconds: float
    rows: int  # test rows (N2M: pairs; the units are blocks of them)
    scores: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Sorted by unit: seeds scored on the same fixed test file then list the same units in the same order.
        order = sorted(range(len(self.units)), key=lambda k: str(self.units[k]))
        self.units, self.model, self.baseline = [self.units[k] for k in order], self.model[order], self.baseline[order]
        self.scores = {
            "model": {m: stats.score(self.model, m) for m in self.metrics},
            "baseline": {m: stats.score(self.baseline, m) for m in self.baseline_metrics},
        }


# ---------------------------------------------------------------- the baselines


def tfidf_logreg(train_texts: list[str], train_labels: list[int], test_texts: list[str]) -> np.ndarray:
    """Character n-grams within words (1-4), TF-IDF, logistic regression: the linear model a network must beat."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True)
    classifier = LogisticRegression(C=4.0, max_iter=2000)
    classifier.fit(vectorizer.fit_transform(train_texts), train_labels)
    return classifier.predict(vectorizer.transform(test_texts))


def right_neighbour(lengths: list[int]) -> list[list[int]]:
    from tasks.n2path.metrics import right_neighbour_heads

    return [right_neighbour_heads(n) for n in lengths]


# ---------------------------------------------------------------- one run's paired statistics


def _split(table: pa.Table, name: str) -> pa.Table:
    return table.filter(pc.equal(table.column("split"), name))


def _timed(fn, *args):
    started = time.perf_counter()
    return fn(*args), time.perf_counter() - started


def _n21(section: dict) -> Paired:
    work = Path(section["work_dir"])
    table = io.read_table(work / "encoded.parquet", columns=["id", "text", "label_id", "split"])
    train, test = _split(table, "train"), _split(table, section["evaluate"]["split"])
    names = [entry["name"] for entry in io.read_json(work / "label_schema.json")["labels"]]
    predictions = io.read_table(work / "eval" / "predictions.parquet", columns=["id", "predicted"])
    if predictions.column("id").to_pylist() != test.column("id").to_pylist():
        raise ValueError(f"{work}/eval/predictions.parquet does not hold the test rows of encoded.parquet in order")
    model_pred = [names.index(name) for name in predictions.column("predicted").to_pylist()]
    gold = test.column("label_id").to_numpy()
    base_pred, seconds = _timed(
        tfidf_logreg,
        train.column("text").to_pylist(),
        train.column("label_id").to_numpy(),
        test.column("text").to_pylist(),
    )
    k = len(names)
    return Paired(
        test.column("id").to_pylist(),
        stats.classification_stats(gold, model_pred, k),
        stats.classification_stats(gold, base_pred, k),
        ("accuracy", "macro_f1"),
        ("accuracy", "macro_f1"),
        seconds,
        test.num_rows,
    )


def _n2m_units(section: dict, ids: list[str]) -> list[str]:
    """Each test pair's unit: its block of `data.split.block_rows` source rows, the group the split hashes
    (without blocks: its whitespace-normalized question)."""
    block = int(section["data"]["split"].get("block_rows") or 0)
    ingested = io.read_table(Path(section["work_dir"]) / "ingested.parquet", columns=["id", "question", "source_row"])
    if block > 0:
        key = {
            i: f"block {int(r) // block}"
            for i, r in zip(ingested.column("id").to_pylist(), ingested.column("source_row").to_pylist())
        }
    else:
        key = {
            i: " ".join(q.split())
            for i, q in zip(ingested.column("id").to_pylist(), ingested.column("question").to_pylist())
        }
    return [key[i] for i in ids]


def _n2m(section: dict) -> Paired:
    from tasks.n2m.metrics import retrieval_answers

    work = Path(section["work_dir"])
    table = io.read_table(work / "encoded.parquet", columns=["id", "question", "answer", "split"])
    train = _split(table, "train")
    samples = [json.loads(line) for line in (work / "eval" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    questions, references = [s["question"] for s in samples], [s["reference"] for s in samples]
    answers, seconds = _timed(
        retrieval_answers, train.column("question").to_pylist(), train.column("answer").to_pylist(), questions
    )
    units = _n2m_units(section, [str(s["id"]) for s in samples])
    keys, model = stats.unit_sums(stats.chrf_stats([s["generated"] for s in samples], references), units)
    _, baseline = stats.unit_sums(stats.chrf_stats(answers, references), units)
    return Paired(keys, model, baseline, ("chrf",), ("chrf",), seconds, len(samples))


def _spans(entities: list[dict]) -> list[tuple]:
    return sorted((e["start"], e["end"], e["type"]) for e in entities)


def _n2n(section: dict) -> Paired:
    from tasks.n2n.gazetteer import gazetteer_baseline

    work = Path(section["work_dir"])
    table = io.read_table(work / "encoded.parquet", columns=["id", "text", "entities", "split"])
    predictions = io.read_table(work / "eval" / "predictions.parquet", columns=["id", "gold", "predicted"])
    ids = predictions.column("id").to_pylist()
    gold = [_spans(e) for e in predictions.column("gold").to_pylist()]
    model = [_spans(e) for e in predictions.column("predicted").to_pylist()]
    texts = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    base, seconds = _timed(
        gazetteer_baseline, _split(table, "train").select(["text", "entities"]), [texts[i] for i in ids]
    )
    return Paired(
        ids, stats.entity_stats(gold, model), stats.entity_stats(gold, base), ("f1",), ("f1",), seconds, len(ids)
    )


def _n2path(section: dict) -> Paired:
    from tasks.n2path.formats import read_conllu

    work = Path(section["work_dir"])
    test = _split(
        io.read_table(work / "encoded.parquet", columns=["id", "heads", "deprels", "split"]),
        section["evaluate"]["split"],
    )
    parsed = {str(s["id"]): s for s in read_conllu(work / "eval" / "predictions.conllu")[0]}
    # Sentences the parser skipped (over its max_len) are not scored, by the product nor here.
    rows = [
        (str(i), h, r)
        for i, h, r in zip(*(test.column(c).to_pylist() for c in ("id", "heads", "deprels")))
        if str(i) in parsed
    ]
    ids, heads, rels = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    model = stats.attachment_stats(heads, [parsed[i]["heads"] for i in ids], rels, [parsed[i]["deprels"] for i in ids])
    base, seconds = _timed(right_neighbour, [len(h) for h in heads])
    return Paired(ids, model, stats.attachment_stats(heads, base), ("uas", "las"), ("uas",), seconds, len(ids))


PAIRED = {"n21": _n21, "n2m": _n2m, "n2n": _n2n, "n2path": _n2path}


def paired(problem: str, section: dict) -> Paired:
    """The model's and the baseline's per-unit statistics on the test split of the run in section's work_dir."""
    return PAIRED[problem](section)
