"""Using a trained N2Path model directory: evaluate on encoded rows or any treebank file, parse raw text.

Everything comes from the model directory (vocabularies, relation schema, morpheme source, tagger, weights).
Scores count every word, punctuation included (CoNLL 2018 / KLUE), with the full relation label
(subtypes such as nsubj:pass kept); `las_base_relation` drops the subtypes as CoNLL 2018's LAS does.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from tasks.model_dir import load_model_dir
from tasks.n2path.encode import encode_parse
from tasks.n2path.ingest import sentences_table
from tasks.n2path.tokenize import tokenize_parse
from tasks.n2path.metrics import attachment_scores, right_neighbour_baseline
from tasks.n2path.train import parse_table
from tasks.training import pick_device


def _base(rels: list[list[str]]) -> list[list[str]]:
    return [[r.split(":")[0] for r in row] for row in rels]


def score(
    gold_heads: list[list[int]],
    gold_rels: list[list[str]],
    pred: list[tuple[list[int], list[str]] | None],
    ids: list[str] | None = None,
) -> dict:
    """UAS/LAS (all words, punctuation included), LAS per gold relation, the right-neighbour baseline.

    A sentence `_parse` left unparsed (None: over the parser's max_len) is not scored; `skipped_over_max_len`
    counts them and names them (ids, else 1-based positions)."""
    skipped = [k for k, p in enumerate(pred) if p is None]
    if skipped:
        keep = [k for k, p in enumerate(pred) if p is not None]
        gold_heads, gold_rels, pred = ([seq[k] for k in keep] for seq in (gold_heads, gold_rels, pred))
    heads, rels = [p[0] for p in pred], [p[1] for p in pred]
    metrics = attachment_scores(gold_heads, gold_rels, heads, rels)
    metrics["las_base_relation"] = attachment_scores(gold_heads, _base(gold_rels), heads, _base(rels))["las"]
    metrics["punctuation"] = "included"
    metrics["rows"] = len(gold_heads)
    metrics["right_neighbour_baseline"] = {
        "name": "every word headed by the next, the last by the root",
        "uas": right_neighbour_baseline(gold_heads),
    }
    if skipped:
        names = [str(ids[k]) if ids is not None else str(k + 1) for k in skipped]
        metrics["skipped_over_max_len"] = {
            "count": len(skipped),
            "ids": names[:MAX_NAMED],
            "note": "sentences longer than the parser's train.max_len words: not parsed, not scored",
        }
    return metrics


MAX_NAMED = 20  # skipped sentences named in the metrics


def max_words(bundle: dict) -> int:
    """The longest sentence (in words) the parser is run on: train.max_len, the longest it was trained on
    (0: no limit). Its arc and relation scores grow with the square of the length and the tree decoder
    faster, so an unbounded sentence (a pasted document) could take minutes and tens of GB."""
    return int(bundle["params.json"]["train"]["max_len"])


def morpheme_settings(bundle: dict, morphemes: str | None = None) -> dict:
    """The tokenize settings the model was trained with; `morphemes` overrides the morpheme source."""
    settings = {**bundle["params.json"]["tokenize"], **bundle["tokenizer.json"]}
    if morphemes:
        settings["morphemes"] = morphemes
    return settings


def prepare_sentences(sentences: list[dict], bundle: dict, morphemes: str | None = None) -> tuple[pa.Table, dict]:
    """Canonical sentences -> an encoded table, tokenized and encoded exactly as the training data was."""
    # Sentences read from a file or typed in have no split.
    table = sentences_table([{**s, "split": s.get("split") or "test"} for s in sentences])
    tokens, report = tokenize_parse(table, morpheme_settings(bundle, morphemes))
    encoded, _ = encode_parse(tokens, bundle["vocab.json"])
    return encoded, report


def _parse(model, bundle: dict, encoded: pa.Table, batch_size: int) -> list[tuple[list[int], list[str]] | None]:
    """(heads, relations) per row; None for a sentence over max_words (predict and evaluate alike)."""
    import pyarrow.compute as pc

    device = pick_device(bundle["params.json"]["train"]["device"])
    limit = max_words(bundle)
    lengths = pc.list_value_length(encoded.column("words")).to_pylist()
    keep = [k for k, n in enumerate(lengths) if not limit or n <= limit]
    if len(keep) == encoded.num_rows:
        return parse_table(model, encoded, batch_size, device)
    out: list[tuple[list[int], list[str]] | None] = [None] * encoded.num_rows
    if keep:
        for k, parsed in zip(keep, parse_table(model, encoded.take(keep), batch_size, device)):
            out[k] = parsed
    return out


def parsed_sentences(rows: pa.Table, pred: list[tuple[list[int], list[str]] | None]) -> list[dict]:
    """Sentence dicts with the predicted tree, ready for tasks.n2path.formats.write_conllu; unparsed rows left out."""
    cols = {c: rows.column(c).to_pylist() for c in ("id", "text", "words", "lemmas", "xpos")}
    return [
        {"id": sid, "text": text, "words": words, "lemmas": lemmas, "xpos": xpos, "heads": p[0], "deprels": p[1]}
        for sid, text, words, lemmas, xpos, p in zip(*cols.values(), pred)
        if p is not None
    ]


def evaluate_encoded(rows: pa.Table, model_dir: str | Path, cfg: dict) -> tuple[dict, list[dict]]:
    """Scores on encoded rows, and the rows with their predicted trees.

    With cfg compare_tagger and a model trained on treebank morphemes, the same rows are parsed again with
    the tagger's morphemes: the figure raw text gets at prediction time, which has no treebank analysis.
    """
    model, bundle = load_model_dir(model_dir)
    batch_size = int(cfg["batch_size"])
    gold_heads, gold_rels = rows.column("heads").to_pylist(), rows.column("deprels").to_pylist()
    pred = _parse(model, bundle, rows, batch_size)
    metrics = score(gold_heads, gold_rels, pred, rows.column("id").to_pylist())
    trained_with = morpheme_settings(bundle)["morphemes"]
    metrics["morphemes"] = trained_with
    if cfg["compare_tagger"] and trained_with == "treebank":
        sentences = [
            {"id": i, "text": t, "words": w, "heads": h, "deprels": r}
            for i, t, w, h, r in zip(*(rows.column(c).to_pylist() for c in ("id", "text", "words", "heads", "deprels")))
        ]
        retagged, _ = prepare_sentences(sentences, bundle, morphemes="tagger")
        raw = score(gold_heads, gold_rels, _parse(model, bundle, retagged, batch_size))
        metrics["with_tagger_morphemes"] = {
            "uas": raw["uas"],
            "las": raw["las"],
            "note": "same words, morphemes from the tagger: what predict gets",
        }
    return metrics, parsed_sentences(rows, pred)


def evaluate_file(
    model_dir: str | Path,
    path: str | Path,
    fmt: str,
    encoding: str = "utf-8",
    batch_size: int = 64,
    quarantine_path: str | Path | None = None,
) -> dict:
    """`hanflow evaluate --problem n2path`: every readable sentence of the file is evaluation data.

    A model trained on treebank morphemes reads the file's LEMMA/XPOS; a file without them (all '_')
    is analysed by the tagger instead, and the metrics say so. The quarantined sentences are written to
    quarantine_path.
    """
    from tasks.evaluate_data import nothing_left, write_quarantine
    from tasks.n2path.ingest import read_treebank

    model, bundle = load_model_dir(model_dir)
    sentences, quarantined = read_treebank(path, fmt, encoding)
    written = write_quarantine(quarantined, quarantine_path)
    if not sentences:
        raise nothing_left(path, f"sentences in format {fmt!r}", quarantined, written)
    morphemes = None
    if morpheme_settings(bundle)["morphemes"] == "treebank" and all(
        x in ("", "_") for s in sentences for x in s["xpos"]
    ):
        morphemes = "tagger"
    encoded, _ = prepare_sentences(sentences, bundle, morphemes)
    pred = _parse(model, bundle, encoded, batch_size)
    metrics = score(
        [s["heads"] for s in sentences], [s["deprels"] for s in sentences], pred, [s["id"] for s in sentences]
    )
    metrics.update(
        morphemes=morphemes or morpheme_settings(bundle)["morphemes"],
        source=str(path),
        rows_quarantined=len(quarantined),
    )
    if written:
        metrics["quarantine_path"] = written
    unknown = sorted({r for s in sentences for r in s["deprels"]} - set(bundle["vocab.json"]["relations"]))
    if unknown:
        metrics["relations_outside_schema"] = unknown  # gold labels the model cannot predict: counted as errors
    return metrics


def predict_texts(model_dir: str | Path, texts: list[str], batch_size: int = 64) -> list[dict]:
    """Parse raw sentences (tasks.n2path.predict: words split as UD Korean does, morphemes from the tagger); a text
    that cannot be parsed gets a row with its `error` and no tree."""
    from tasks.n2path.predict import N2PathPredictor
    from tasks.predict import predict_texts as predict

    return predict(N2PathPredictor, model_dir, texts, batch_size)


def _marked_words(words: list[str], dependent: int, head: int, width: int = 6) -> str:
    """The sentence around a word: the dependent in [brackets], its head in {braces} (0-based; head -1 = root)."""
    lo, hi = (
        max(0, min(dependent, head if head >= 0 else dependent) - width),
        min(len(words), max(dependent, head) + width + 1),
    )
    shown = [f"[{w}]" if i == dependent else f"{{{w}}}" if i == head else w for i, w in enumerate(words)][lo:hi]
    return ("… " if lo else "") + " ".join(shown) + (" …" if hi < len(words) else "")


def relation_confusions(rows: pa.Table, parsed: list[dict], split: str, top_k: int = 5) -> dict:
    """Relation confusions on correctly attached words (right head, wrong relation), with examples:
    the class design review's evaluation part."""
    from tasks.class_review import pairs_table, top_pairs

    items, support, right_head = [], {}, 0
    pending = iter(parsed)  # the rows' trees in order, without the rows left unparsed (parsed_sentences)
    sent = next(pending, None)
    for rid, words, heads, rels in zip(
        rows.column("id").to_pylist(),
        rows.column("words").to_pylist(),
        rows.column("heads").to_pylist(),
        rows.column("deprels").to_pylist(),
    ):
        if sent is None or sent["id"] != rid or len(sent["words"]) != len(words):
            continue
        tree, sent = sent, next(pending, None)
        for i, (head, rel) in enumerate(zip(heads, rels)):
            support[rel] = support.get(rel, 0) + 1
            if int(tree["heads"][i]) != int(head):
                continue
            right_head += 1
            if tree["deprels"][i] != rel:
                items.append((rel, tree["deprels"][i], f"{rid}: {_marked_words(words, i, int(head) - 1)}"))
    return {
        "title": "Most-confused relations",
        "split": split,
        "notes": [
            f"{len(items)} of {right_head} words with the right head got the wrong relation. Examples: id: "
            "sentence with the word in [brackets] and its head in {braces} (no braces: the root)."
        ],
        "tables": [
            pairs_table(
                f"Top {top_k} relation confusions (right head, wrong relation)",
                top_pairs(items, top_k, support=support),
                "arcs",
            )
        ],
    }
