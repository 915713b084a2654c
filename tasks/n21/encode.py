"""Encode: tokens -> vocabulary -> ids (list<int32>), labels -> label ids.

The vocabulary (tasks/vocab.py) is built from the train split only, so dev/test words the model never
saw in training map to <unk> exactly as they would for new text at prediction time.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tasks.vocab import UNK, Vocab, build_vocab, encode_ids


def label_values(table: pa.Table, labels_cfg: list[dict]) -> list[str]:
    """The label order that defines label ids: the params list, or sorted train labels."""
    if labels_cfg:
        return [str(entry["value"]) for entry in labels_cfg]
    train = table.filter(pc.equal(table.column("split"), "train"))
    return sorted(set(train.column("label").to_pylist()))


def encode_rows(rows: pa.Table, spec: dict) -> pa.Table:
    """One partition's numbers: `ids`, `label_id` (and `ngram_ids`) appended. Depends on nothing but `spec`
    (vocabulary, labels, n-gram settings), so any runner's worker can take any partition."""
    vocab, labels = spec["vocab"], spec["labels"]
    # Unknown labels get -1 here; the validation stage names them and stops the flow.
    label_ids = pc.fill_null(pc.index_in(rows.column("label"), value_set=pa.array(labels, pa.string())), -1)
    out = rows.append_column("ids", encode_ids(rows.column("tokens"), vocab))
    out = out.append_column("label_id", label_ids.cast(pa.int32()))
    ngram_cfg = spec["ngrams"]
    if ngram_cfg and int(ngram_cfg["buckets"]) > 0:
        from tasks.n21.ngrams import hashed_ngrams

        out = out.append_column("ngram_ids", hashed_ngrams(rows.column("text"), rows.column("tokens"), ngram_cfg))
    return out


def encode_table(
    table: pa.Table, cfg: dict, labels: list[str], vocab: Vocab | None = None
) -> tuple[pa.Table, Vocab, dict]:
    """The encode stage: the vocabulary from the train split (or `vocab`, a trained model's, on new data),
    then every partition of rows encoded on the runner `encode.runner` names."""
    from tasks import partition

    if vocab is None:
        train = table.filter(pc.equal(table.column("split"), "train"))
        vocab = build_vocab(train.column("tokens"), int(cfg["min_freq"]), int(cfg["max_size"]), bool(cfg["lowercase"]))
    # Threads by default: Arrow and numpy release the GIL for this work, so threads scale without a process
    # pool's start-up or copies (process and dask are there for clusters).
    settings = partition.stage_settings({"workers": 0, **cfg}, table.num_rows, default_kind="thread")
    # A model directory's params from before the n-gram bag have no encode.ngrams (prepare_texts): no bag.
    ngrams = cfg.get("ngrams") or {}
    out, partitions = partition.map_rows(
        table, encode_rows, {"vocab": vocab, "labels": labels, "ngrams": ngrams}, settings
    )
    flat = pc.list_flatten(out.column("ids"))
    n_tokens = max(1, len(flat))
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        "vocab_size": len(vocab),
        "unk_share": round(pc.sum(pc.equal(flat, UNK)).as_py() / n_tokens, 4) if len(flat) else 0.0,
        "labels": labels,
        "partitions": partitions,
        "workers": settings["workers"],
        "runner": partition.settings(settings)[0],
    }
    return out, vocab, report
