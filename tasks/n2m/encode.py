"""N2M encode: tokens -> vocabulary ids, and new questions through the same steps as the training data.

Vocabularies come from the train split only, so dev and test see unknown tokens as a new question would.
Optional retrieval (tasks/n2m/retrieval.py, tasks/n2m/rerank.py) adds a known answer to each question's
source before it is encoded.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tasks.vocab import SPECIALS, Vocab, build_vocab

PAD, UNK, BOS, EOS = (SPECIALS.index(s) for s in ("<pad>", "<unk>", "<bos>", "<eos>"))


def build_vocabs(table: pa.Table, cfg: dict) -> dict:
    """Vocabularies from the train split only: one for both sides (shared_vocab) or one per side."""
    train = table.filter(pc.equal(table.column("split"), "train"))
    if train.num_rows == 0:
        raise ValueError("no train rows to build the vocabulary from; check n2m.data.split")
    min_freq, max_size = int(cfg["min_freq"]), int(cfg["max_size"])
    src, tgt = train.column("src_tokens").to_pylist(), train.column("tgt_tokens").to_pylist()
    if cfg["shared_vocab"]:
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
    retrieval: (memory, reranker) of tasks.n2m.rerank.load_retrieval, for a caller that encodes many batches."""
    from tasks.n2m.tokenize import tokenize_pairs

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
    # .get: a model directory trained before retrieval has no retrieve/retrieve_k in its vocab.json.
    if bundle["vocab.json"].get("retrieve"):
        from tasks.n2m.rerank import load_retrieval
        from tasks.n2m.retrieval import with_retrieved

        memory, reranker = retrieval or load_retrieval(bundle)
        tokens, _ = with_retrieved(tokens, memory, k=int(bundle["vocab.json"].get("retrieve_k", 1)), reranker=reranker)
    encoded, _ = encode_pairs(tokens, bundle["vocab.json"])
    return encoded
