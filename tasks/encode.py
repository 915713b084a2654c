"""Encode: tokens -> vocabulary -> ids (list<int32>), labels -> label ids.

The vocabulary is built from the train split only, so dev/test words the model never saw in
training map to <unk> exactly as they would for new text at prediction time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD, UNK = 0, 1


@dataclass
class Vocab:
    itos: list[str]
    lowercase: bool = True
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def ids(self, tokens: list[str]) -> list[int]:
        get = self.stoi.get
        if self.lowercase:
            return [get(t.lower(), UNK) for t in tokens]
        return [get(t, UNK) for t in tokens]

    def to_json(self) -> dict:
        return {"itos": self.itos, "lowercase": self.lowercase, "specials": list(SPECIALS)}

    @classmethod
    def from_json(cls, obj: dict) -> "Vocab":
        return cls(itos=list(obj["itos"]), lowercase=bool(obj.get("lowercase", True)))


def build_vocab(token_lists: list[list[str]], min_freq: int = 1, max_size: int = 50000, lowercase: bool = True) -> Vocab:
    counts = Counter(t.lower() if lowercase else t for tokens in token_lists for t in tokens)
    # Ties broken by the token itself so the same data always yields the same ids.
    ranked = sorted((item for item in counts.items() if item[1] >= min_freq), key=lambda kv: (-kv[1], kv[0]))
    words = [tok for tok, _ in ranked if tok not in SPECIALS][: max(0, max_size - len(SPECIALS))]
    return Vocab(itos=[*SPECIALS, *words], lowercase=lowercase)


def encode_ids(token_column: pa.ChunkedArray | pa.Array, vocab: Vocab) -> pa.Array:
    return pa.array([vocab.ids(tokens) for tokens in token_column.to_pylist()], pa.list_(pa.int32()))


def label_values(table: pa.Table, labels_cfg: list[dict]) -> list[str]:
    """The label order that defines label ids: the params list, or sorted train labels."""
    if labels_cfg:
        return [str(entry["value"]) for entry in labels_cfg]
    train = table.filter(pc.equal(table.column("split"), "train"))
    return sorted(set(train.column("label").to_pylist()))


def encode_table(table: pa.Table, cfg: dict, labels: list[str], vocab: Vocab | None = None) -> tuple[pa.Table, Vocab, dict]:
    """The encode stage. Pass `vocab` to reuse a trained model's vocabulary on new data."""
    if vocab is None:
        train = table.filter(pc.equal(table.column("split"), "train"))
        vocab = build_vocab(train.column("tokens").to_pylist(), int(cfg["min_freq"]), int(cfg["max_size"]),
                            bool(cfg.get("lowercase", True)))
    ids = encode_ids(table.column("tokens"), vocab)
    index = {value: i for i, value in enumerate(labels)}
    # Unknown labels get -1 here; the validation stage names them and stops the flow.
    label_ids = pa.array([index.get(v, -1) for v in table.column("label").to_pylist()], pa.int32())
    out = table.append_column("ids", ids).append_column("label_id", label_ids)
    ngram_cfg = cfg.get("ngrams") or {}
    if int(ngram_cfg.get("buckets", 0)) > 0:
        from tasks.ngrams import hashed_ngrams

        out = out.append_column("ngram_ids", hashed_ngrams(table.column("text").to_pylist(),
                                                           table.column("tokens").to_pylist(), ngram_cfg))
    flat = pc.list_flatten(ids)
    n_tokens = max(1, len(flat))
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        "vocab_size": len(vocab),
        "unk_share": round(pc.sum(pc.equal(flat, UNK)).as_py() / n_tokens, 4) if len(flat) else 0.0,
        "labels": labels,
    }
    return out, vocab, report
