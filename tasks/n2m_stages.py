"""N2M (question -> answer): ingest, tokenize, encode and class design as pure functions, no Prefect.

The canonical table (ingest) has one row per question/answer pair: id, question, answer, label (the
Chatbot file's 0/1/2, null where a file has none), split, source_file, source_row. Splits are a seeded
hash of the question, so every copy of a repeated question (Chatbot_data repeats questions with
different answers) lands in one split and no test question was seen in training.

Tokens are morphemes with SentencePiece-style word-start marks (tasks/spacing.py), so a generated
answer can be turned back into spaced Korean text. Vocabularies come from the train split only.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from tasks.splits import SPLITS, assign_splits, refuse_all_quarantined, same_text_key
from tasks.vocab import SPECIALS, Vocab, build_vocab

PAD, UNK, BOS, EOS = (SPECIALS.index(s) for s in ("<pad>", "<unk>", "<bos>", "<eos>"))
CANONICAL = pa.schema(
    [
        ("id", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("label", pa.string()),
        ("split", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
QUARANTINE = pa.schema(
    [("source_file", pa.string()), ("source_row", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)
NO_LABEL = "(none)"


def _norm(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- ingest


def column_mapping(columns: dict | None) -> dict | None:
    """params data.columns -> read_pairs' columns: null entries mean the format's default name."""
    chosen = {k: v for k, v in (columns or {}).items() if v is not None}
    return chosen or None


def pairs_table(rows: list[dict], split_cfg: dict) -> pa.Table:
    """Canonical rows -> the canonical table, with splits hashed on the (whitespace-normalized) question.

    With split.block_rows > 0 the hash is of the row's block of that many source rows instead: files that
    list paraphrases next to each other (Chatbot_data) then keep each neighbourhood in one split, as a
    held-back block of the file would; a question hash scatters paraphrases and flatters retrieval.
    """
    block = int(split_cfg.get("block_rows") or 0)
    keys = [f"block {int(r['source_row']) // block}" if block > 0 else _norm(r["question"]) for r in rows]
    splits = assign_splits(keys, float(split_cfg["dev"]), float(split_cfg["test"]), int(split_cfg["seed"]))
    if block > 0:
        splits = one_split_per_question([r["question"] for r in rows], splits)
    return pa.table(
        {
            "id": [str(r["id"]) for r in rows],
            "question": [r["question"] for r in rows],
            "answer": [r["answer"] for r in rows],
            "label": [r.get("label") for r in rows],
            "split": splits,
            "source_file": [str(r["source_file"]) for r in rows],
            "source_row": [int(r["source_row"]) for r in rows],
        },
        schema=CANONICAL,
    )


def one_split_per_question(questions: list[str], splits: list[str]) -> list[str]:
    """Blocks hold paraphrases, but the same question can recur in blocks far apart: all its rows take the
    most training-side split any of them has (train, then dev), so no test question is one train has seen."""
    rank = {name: i for i, name in enumerate(SPLITS)}
    first: dict[str, str] = {}
    for question, split in zip(questions, splits):
        key = same_text_key(question)
        if key not in first or rank[split] < rank[first[key]]:
            first[key] = split
    return [first[same_text_key(q)] for q in questions]


def dedupe_pairs(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the first copy of each identical (question, answer) pair; the others go to quarantine."""
    first: dict[tuple[str, str], dict] = {}
    kept, dropped = [], []
    for row in rows:
        key = (_norm(row["question"]), _norm(row["answer"]))
        if key in first:
            dropped.append(
                {
                    "source_file": row["source_file"],
                    "source_row": row["source_row"],
                    "raw": f"{row['question']}\t{row['answer']}"[:2000],
                    "reason": f"duplicate pair: same question and answer as line {first[key]['source_row']}",
                }
            )
            continue
        first[key] = row
        kept.append(row)
    return kept, dropped


def read_pairs_cfg(data_cfg: dict) -> tuple[list[dict], list[dict]]:
    """params `data` (path, format, columns, encoding, header) -> read_pairs' (rows, quarantined rows)."""
    from tasks.dialogue import read_pairs

    return read_pairs(
        data_cfg["path"],
        data_cfg["format"],
        column_mapping(data_cfg.get("columns")),
        data_cfg.get("encoding", "utf-8"),
        header=bool(data_cfg.get("header", True)),
    )


def ingest_pairs(data_cfg: dict) -> tuple[pa.Table, pa.Table, dict]:
    """The ingest stage: params `data` -> (kept pairs, quarantined records, report)."""
    from tasks.dialogue import last_read_notes

    rows, quarantined = read_pairs_cfg(data_cfg)
    if data_cfg.get("drop_duplicate_pairs", True):
        rows, duplicates = dedupe_pairs(rows)
        quarantined = quarantined + duplicates
    table = pairs_table(rows, data_cfg["split"])
    quarantine = pa.Table.from_pylist([{k: q[k] for k in QUARANTINE.names} for q in quarantined], schema=QUARANTINE)
    splits = Counter(table.column("split").to_pylist())
    report = {
        "rows_in": table.num_rows + quarantine.num_rows,
        "rows_kept": table.num_rows,
        "rows_quarantined": quarantine.num_rows,
        # "record at FILE line N: answer ('A') is empty ..." -> "answer ('A') is empty ..."
        "quarantine_reasons": dict(Counter(_reason_kind(q["reason"]) for q in quarantined)),
        "splits": {s: splits.get(s, 0) for s in SPLITS},
        "questions": len({_norm(q) for q in table.column("question").to_pylist()}),
        "answers": len({_norm(a) for a in table.column("answer").to_pylist()}),
        "source": str(data_cfg["path"]),
        **dict(last_read_notes),  # e.g. label_spellings_normalized: '2   ' and 2.0 read as '2'
    }
    refuse_all_quarantined(report, quarantine)
    if report["splits"]["train"] == 0:
        raise ValueError(
            f"{data_cfg['path']}: no training pairs after splitting ({table.num_rows} kept, "
            f"{quarantine.num_rows} quarantined); check n2m.data.split, n2m.data.format and "
            "n2m.data.columns"
        )
    return table, quarantine, report


def _reason_kind(reason: str) -> str:
    text = reason.split(": ", 1)[1] if reason.startswith("record at ") and ": " in reason else reason
    return text.split(";")[0].split(":")[0][:80]


# ---------------------------------------------------------------- tokenize


def tokenize_pairs(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """Both sides -> morphemes with word-start marks: `src_tokens` (question) and `tgt_tokens` (answer)."""
    from tasks.spacing import spaced_tokens

    src = spaced_tokens(table.column("question").to_pylist(), cfg)
    tgt = spaced_tokens(table.column("answer").to_pylist(), cfg)
    out = table.append_column("src_tokens", pa.array(src, pa.list_(pa.string())))
    out = out.append_column("tgt_tokens", pa.array(tgt, pa.list_(pa.string())))
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        "tagger": cfg["tagger"],
        "src_tokens_total": sum(map(len, src)),
        "tgt_tokens_total": sum(map(len, tgt)),
        "src_tokens_max": max(map(len, src), default=0),
        "tgt_tokens_max": max(map(len, tgt), default=0),
        "rows_without_tokens": sum(1 for a, b in zip(src, tgt) if not a or not b),
    }
    return out, report


# ---------------------------------------------------------------- encode


def build_vocabs(table: pa.Table, cfg: dict) -> dict:
    """Vocabularies from the train split only: one for both sides (shared_vocab) or one per side."""
    train = table.filter(pc.equal(table.column("split"), "train"))
    if train.num_rows == 0:
        raise ValueError("no train rows to build the vocabulary from; check n2m.data.split")
    min_freq, max_size = int(cfg.get("min_freq", 1)), int(cfg.get("max_size", 50000))
    src, tgt = train.column("src_tokens").to_pylist(), train.column("tgt_tokens").to_pylist()
    if cfg.get("shared_vocab", True):
        vocab = build_vocab(src + tgt, min_freq, max_size, lowercase=False).to_json()
        return {"shared": True, "src": vocab, "tgt": vocab}
    return {
        "shared": False,
        "src": build_vocab(src, min_freq, max_size, lowercase=False).to_json(),
        "tgt": build_vocab(tgt, min_freq, max_size, lowercase=False).to_json(),
    }


def special_ids(vocabs: dict) -> dict:
    itos = vocabs["tgt"]["itos"]
    return {"pad_id": itos.index("<pad>"), "bos_id": itos.index("<bos>"), "eos_id": itos.index("<eos>")}


def encode_pairs(table: pa.Table, vocabs: dict, partitions: dict | None = None) -> tuple[pa.Table, dict]:
    """Tokens -> ids: `src_ids` (question as is) and `tgt_ids` (<bos> answer <eos>), both list<int32>.
    `partitions` (workers/chunk_size/runner, as encode.* in params): slices of rows on that runner."""
    from tasks import partition

    out, parts = partition.map_rows(table, _pair_ids, {"vocabs": vocabs}, partitions)
    src_flat = pc.list_flatten(out.column("src_ids"))
    tgt_flat = pc.list_flatten(out.column("tgt_ids"))
    tgt_tokens = len(tgt_flat) - 2 * out.num_rows  # <bos> and <eos> are not answer tokens (and never <unk>)
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        "shared_vocab": bool(vocabs.get("shared")),
        "src_vocab": len(vocabs["src"]["itos"]),
        "tgt_vocab": len(vocabs["tgt"]["itos"]),
        "src_unk_share": round((pc.sum(pc.equal(src_flat, UNK)).as_py() or 0) / max(1, len(src_flat)), 4),
        "tgt_unk_share": round((pc.sum(pc.equal(tgt_flat, UNK)).as_py() or 0) / max(1, tgt_tokens), 4),
        "partitions": parts,
    }
    return out, report


def _pair_ids(table: pa.Table, spec: dict) -> pa.Table:
    """One partition's `src_ids`/`tgt_ids` (a module-level function: process and Dask runners pickle it)."""
    vocabs = spec["vocabs"]
    src_vocab, tgt_vocab = Vocab.from_json(vocabs["src"]), Vocab.from_json(vocabs["tgt"])
    ids = special_ids(vocabs)
    src_ids = [src_vocab.ids(t) for t in table.column("src_tokens").to_pylist()]
    tgt_ids = [[ids["bos_id"], *tgt_vocab.ids(t), ids["eos_id"]] for t in table.column("tgt_tokens").to_pylist()]
    out = table.append_column("src_ids", pa.array(src_ids, pa.list_(pa.int32())))
    return out.append_column("tgt_ids", pa.array(tgt_ids, pa.list_(pa.int32())))


def tokens_and_ids(
    questions: list[str], answers: list[str] | None, bundle: dict, retrieval: tuple | None = None
) -> pa.Table:
    """New pairs (answers may be None: predict) tokenized and encoded exactly as the model's training data.
    retrieval: (memory, reranker) of tasks.rerank.load_retrieval, for a caller that encodes many batches."""
    n = len(questions)
    table = pa.table(
        {
            "id": [str(i) for i in range(n)],
            "question": questions,
            "answer": answers if answers is not None else [""] * n,
            "split": ["test"] * n,
        }
    )
    cfg = {**bundle["params.json"]["tokenize"], **bundle["tokenizer.json"]}
    tokens, _ = tokenize_pairs(table, cfg)
    if bundle["vocab.json"].get("retrieve"):
        from tasks.rerank import load_retrieval
        from tasks.retrieval import with_retrieved

        memory, reranker = retrieval or load_retrieval(bundle)
        tokens, _ = with_retrieved(tokens, memory, k=int(bundle["vocab.json"].get("retrieve_k", 1)), reranker=reranker)
    encoded, _ = encode_pairs(tokens, bundle["vocab.json"])
    return encoded


# ---------------------------------------------------------------- class design


def class_design(table: pa.Table, cfg: dict) -> dict:
    """The label column as a class distribution per split, and how varied the answers are.

    Answer diversity tells what a generator can hope for: when a few stock answers cover most rows,
    a model that learns them scores well, and the constant-answer baseline is strong.
    """
    from tasks.generation_metrics import distinct_n

    schema = {str(e["value"]): e for e in cfg.get("labels") or []}  # the schema file's classes, in id order
    labels = [NO_LABEL if v is None else str(v) for v in table.column("label").to_pylist()]
    splits = table.column("split").to_pylist()
    questions = [_norm(q) for q in table.column("question").to_pylist()]
    answers = [_norm(a) for a in table.column("answer").to_pylist()]
    counts = Counter(zip(labels, splits))
    # Every schema class (0 when the data lacks it), then values outside it: "(none)" for unlabelled pairs.
    values = [*schema, *sorted({v for v in labels if v not in schema}, key=lambda v: (v == NO_LABEL, v))]
    ids = {v: i for i, v in enumerate(schema)}
    distribution = []
    for value in values:
        per_split = {s: counts.get((value, s), 0) for s in SPLITS}
        entry = schema.get(value, {})
        distribution.append(
            {
                "id": ids.get(value, "—"),
                "value": value,
                "name": str(entry.get("name") or value),
                "description": str(entry.get("description") or ("pairs without a label" if value == NO_LABEL else "")),
                "examples": list(entry.get("examples") or []),
                **per_split,
                "total": sum(per_split.values()),
            }
        )
    totals = {s: sum(1 for x in splits if x == s) for s in SPLITS}
    ratio = float(cfg.get("imbalance_ratio", 0.1))
    labelled = [d for d in distribution if d["value"] != NO_LABEL]
    largest = max((d["train"] for d in labelled), default=0)
    warnings = [
        f"label {d['name']!r} has {d['train']} train pairs, under {ratio:.0%} of the largest ({largest})"
        for d in labelled
        if largest and d["train"] < ratio * largest
    ]

    diversity = {}
    for split in SPLITS:
        rows = [i for i, s in enumerate(splits) if s == split]
        if not rows:
            continue
        ans = Counter(answers[i] for i in rows)
        per_question: dict[str, set] = {}
        for i in rows:
            per_question.setdefault(questions[i], set()).add(answers[i])
        diversity[split] = {
            "pairs": len(rows),
            "unique_questions": len(per_question),
            "unique_answers": len(ans),
            "unique_answer_share": round(len(ans) / len(rows), 4),
            "top_answer_share": round(ans.most_common(1)[0][1] / len(rows), 4),
            "questions_with_several_answers": sum(1 for a in per_question.values() if len(a) > 1),
            "distinct_1": round(distinct_n(list(ans.elements()), 1), 4),
            "distinct_2": round(distinct_n(list(ans.elements()), 2), 4),
            "avg_answer_words": round(sum(len(answers[i].split()) for i in rows) / len(rows), 3),
        }
    train_answers = Counter(answers[i] for i, s in enumerate(splits) if s == "train")
    top = [{"answer": a, "count": n} for a, n in train_answers.most_common(int(cfg.get("top_answers", 10)))]
    # A test answer never seen in training can only be matched by generating it, never by retrieval.
    test_answers = [answers[i] for i, s in enumerate(splits) if s == "test"]
    unseen = sum(1 for a in test_answers if a not in train_answers)
    return {
        "labels": distribution,
        "totals": totals,
        "imbalance_warnings": warnings,
        "answer_diversity": diversity,
        "top_train_answers": top,
        "test_answers_unseen_in_train": round(unseen / len(test_answers), 4) if test_answers else None,
    }


def n2m_review(design: dict, cfg: dict, version: str) -> dict:
    """The class design review's data (tasks/class_review.py): labels per split, answer diversity, top answers."""
    from tasks.class_review import design_review

    classes = [{**d, "counts": {s: d[s] for s in SPLITS}} for d in design["labels"]]
    if all(d["value"] == NO_LABEL for d in design["labels"] if d["total"]):
        notes = [
            "The data has no labels (every pair is `(none)`): the classes above come from the schema file "
            "and have no rows."
        ]
    else:
        notes = ["The label column does not steer generation; it shows which kinds of conversation each split holds."]

    def cell(text) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    diversity = [
        "| split | pairs | unique questions | unique answers | unique share | top answer share "
        "| questions with several answers | distinct-1 | distinct-2 | avg answer words |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    diversity += [
        f"| {split} | {d['pairs']} | {d['unique_questions']} | {d['unique_answers']} "
        f"| {d['unique_answer_share']:.3f} | {d['top_answer_share']:.3f} "
        f"| {d['questions_with_several_answers']} "
        f"| {d['distinct_1']:.3f} | {d['distinct_2']:.3f} | {d['avg_answer_words']:.2f} |"
        for split, d in design["answer_diversity"].items()
    ]
    if design.get("test_answers_unseen_in_train") is not None:
        diversity += ["", f"Share of test answers never seen in train: {design['test_answers_unseen_in_train']:.3f}"]
    top = [
        "| count | answer |",
        "|---:|---|",
        *(f"| {a['count']} | {cell(a['answer'])} |" for a in design["top_train_answers"]),
    ]
    return design_review(
        "n2m",
        "sequence → sequence (dialogue)",
        "pairs",
        classes,
        design["imbalance_warnings"],
        cfg,
        version,
        notes=notes,
        sections=[
            {"title": "Answer diversity", "markdown": "\n".join(diversity)},
            {"title": "Most frequent train answers", "markdown": "\n".join(top)},
        ],
    )
