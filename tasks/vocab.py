"""Vocabulary: tokens -> ids (list<int32>), shared by every problem type's encode stage.

Each encode stage builds its vocabularies from the train split only, so dev/test words the model never
saw in training map to <unk> exactly as they would for new text at prediction time.
"""

from __future__ import annotations

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
    _values: pa.Array | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def ids(self, tokens: list[str]) -> list[int]:
        get = self.stoi.get
        if self.lowercase:
            return [get(t.lower(), UNK) for t in tokens]
        return [get(t, UNK) for t in tokens]

    def values(self) -> pa.Array:
        """The vocabulary as an Arrow array (its position is the id), built once for Arrow lookups."""
        if self._values is None:
            self._values = pa.array(self.itos, pa.string())
        return self._values

    def to_json(self) -> dict:
        return {"itos": self.itos, "lowercase": self.lowercase, "specials": list(SPECIALS)}

    @classmethod
    def from_json(cls, obj: dict) -> "Vocab":
        return cls(itos=list(obj["itos"]), lowercase=bool(obj.get("lowercase", True)))


def build_vocab(
    token_lists: list[list[str]] | pa.Array | pa.ChunkedArray,
    min_freq: int = 1,
    max_size: int = 50000,
    lowercase: bool = True,
) -> Vocab:
    flat = pc.list_flatten(
        token_lists
        if isinstance(token_lists, (pa.Array, pa.ChunkedArray))
        else pa.array(token_lists, pa.list_(pa.string()))
    )
    counts = pc.value_counts(pc.utf8_lower(flat) if lowercase else flat)
    tokens, freqs = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
    # Ties broken by the token itself so the same data always yields the same ids.
    ranked = sorted(
        (item for item in zip(tokens, freqs) if item[1] >= min_freq and item[0] is not None),
        key=lambda kv: (-kv[1], kv[0]),
    )
    words = [tok for tok, _ in ranked if tok not in SPECIALS][: max(0, max_size - len(SPECIALS))]
    return Vocab(itos=[*SPECIALS, *words], lowercase=lowercase)


def encode_ids(token_column: pa.ChunkedArray | pa.Array, vocab: Vocab) -> pa.Array:
    """Each row's tokens as vocabulary ids, <unk> for the rest: one hash lookup in Arrow for all rows."""
    if isinstance(token_column, pa.ChunkedArray):
        token_column = token_column.combine_chunks() if token_column.num_chunks else pa.array([], pa.list_(pa.string()))
    flat = pc.list_flatten(token_column)
    if vocab.lowercase:
        flat = pc.utf8_lower(flat)
    ids = pc.fill_null(pc.index_in(flat, value_set=vocab.values()), UNK).cast(pa.int32())
    offsets = (
        pc.subtract(token_column.offsets, token_column.offsets[0]) if len(token_column) else pa.array([0], pa.int32())
    )
    return pa.ListArray.from_arrays(offsets, ids)
