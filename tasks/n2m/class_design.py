"""N2M class design: the label column as a class distribution per split, and how varied the answers are.

The label (the Chatbot file's kind of conversation) does not steer generation; the design shows which kinds
each split holds and how many stock answers cover the data, which tells what a generator can hope for.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from tasks.n2m.ingest import norm
from tasks.splits import SPLITS

NO_LABEL = "(none)"


def class_design(table: pa.Table, cfg: dict) -> dict:
    """The label column as a class distribution per split, and how varied the answers are.

    Answer diversity tells what a generator can hope for: when a few stock answers cover most rows,
    a model that learns them scores well, and the constant-answer baseline is strong.
    """
    from tasks.n2m.metrics import distinct_n

    schema = {str(e["value"]): e for e in cfg.get("labels") or []}  # the schema file's classes, in id order
    labels = [NO_LABEL if v is None else str(v) for v in table.column("label").to_pylist()]
    splits = table.column("split").to_pylist()
    questions = [norm(q) for q in table.column("question").to_pylist()]
    answers = [norm(a) for a in table.column("answer").to_pylist()]
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
    ratio = float(cfg["imbalance_ratio"])
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
    top = [{"answer": a, "count": n} for a, n in train_answers.most_common(int(cfg["top_answers"]))]
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
