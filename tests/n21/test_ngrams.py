"""The hashed n-gram bag: features, encode column, model branch, training with it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from models.n21 import SequenceClassifier
from tasks.n21.encode import encode_table
from tasks.n21.ngrams import _features, hashed_ngrams
from tasks.n21.train import ModelInputs, predict_classifier, train_classifier
from tests.n21.test_encode import CFG as ENCODE_CFG
from tests.n21.test_train import CFG, MODEL, synthetic_table


def test_features_are_word_bounded_char_ngrams_and_token_ngrams():
    feats = _features("영화 최고", ["영화", "최고"], [2, 3], [1, 2])
    assert "c:< 영" in feats and "c:화 >" in feats and "c:영 화 >" in feats
    assert "c:화 최" not in feats  # no n-gram crosses a space
    assert {"t:영화", "t:최고", "t:영화 최고"} <= set(feats)


def test_ids_are_stable_in_range_and_distinct_per_row():
    texts, tokens = ["영화 정말 재밌다", "별로", ""], [["영화", "정말", "재밌", "다"], ["별로"], []]
    first = hashed_ngrams(texts, tokens, {"buckets": 1000}).to_pylist()
    assert first == hashed_ngrams(texts, tokens, {"buckets": 1000}).to_pylist()
    assert first[2] == [] and all(1 <= i <= 1000 for row in first for i in row)
    assert all(len(row) == len(set(row)) for row in first)
    with pytest.raises(ValueError, match="buckets must be > 0"):
        hashed_ngrams(texts, tokens, {"buckets": 0})


def test_encode_adds_the_column_only_when_asked():
    table = pa.table(
        {
            "id": ["1", "2"],
            "text": ["좋다", "싫다"],
            "label": ["p", "n"],
            "split": ["train", "train"],
            "tokens": pa.array([["좋", "다"], ["싫", "다"]], pa.list_(pa.string())),
        }
    )
    cfg = {**ENCODE_CFG, "max_size": 100}  # n-grams off
    assert "ngram_ids" not in encode_table(table, cfg, ["n", "p"])[0].column_names
    out = encode_table(table, {**cfg, "ngrams": {**cfg["ngrams"], "buckets": 64}}, ["n", "p"])[0]
    assert str(out.schema.field("ngram_ids").type) == "list<item: int32>"


@pytest.mark.parametrize("head", ["concat", "separate"])
def test_model_branch_needs_its_inputs(head):
    model = SequenceClassifier(
        dict(vocab_size=20, num_classes=2, emb_dim=8, hidden_dim=8, ngram_buckets=50, ngram_dim=4, ngram_head=head)
    ).eval()
    ids, lengths = torch.tensor([[3, 4, 5], [6, 0, 0]]), torch.tensor([3, 1])
    values, offsets = torch.tensor([1, 7, 9, 50]), torch.tensor([0, 3])
    assert model(ids, lengths, values, offsets).shape == (2, 2)
    with pytest.raises(ValueError, match="n-gram features"):
        model(ids, lengths)


def test_bag_batches_match_the_rows():
    inputs = ModelInputs(
        pa.array([[2, 3], [4]], pa.list_(pa.int32())), None, pa.array([[1, 2, 3], []], pa.list_(pa.int32()))
    )
    ids, lengths, values, offsets = inputs.batch(np.array([1, 0]), torch.device("cpu"))
    assert values.tolist() == [1, 2, 3] and offsets.tolist() == [0, 0]
    assert ids.tolist() == [[4, 0], [2, 3]]


def test_training_with_the_bag_learns_and_predicts():
    table = synthetic_table(n=600)
    # The bag sees the marker token 5 too: the task stays learnable through either branch.
    table = table.append_column("ngram_ids", table.column("ids"))
    config = {**MODEL, "ngram_buckets": 40, "ngram_dim": 8}
    model, history = train_classifier(table, config, {**CFG, "ngram_dropout": 0.3}, log=lambda _: None)
    assert history["best_dev_accuracy"] > 0.9
    test = table.slice(510)
    pred, _ = predict_classifier(model, test.column("ids"), 64, "cpu", 30, test.column("ngram_ids"))
    assert (pred == test.column("label_id").to_numpy()).mean() > 0.9
    with pytest.raises(ValueError, match="no ngram_ids column"):
        train_classifier(synthetic_table(n=60), config, CFG, log=lambda _: None)


def _poly64_reference(text: str, tokens: list[str], buckets: int, char_n=(2, 4), token_n=(1, 2)) -> list[int]:
    """poly64 written the slow, obvious way: one Python int per n-gram, 64-bit wrap by masking."""
    from hashlib import blake2b

    from tasks.n21.ngrams import _finish

    mask, prime = (1 << 64) - 1, 0x100000001B3

    def poly(values: list[int], space: int) -> int:
        acc = values[0]
        for v in values[1:]:
            acc = (acc * prime + v) & mask
        return ((acc * prime + space) * prime + len(values)) & mask

    hashes = []
    for word in (text or "").split():
        points = [ord(c) for c in f"<{word}>"]
        hashes += [
            poly(points[i : i + n], 0x5C) for n in range(char_n[0], char_n[1] + 1) for i in range(len(points) - n + 1)
        ]
    token_hashes = [int.from_bytes(blake2b(t.encode(), digest_size=8).digest(), "little") for t in tokens]
    hashes += [
        poly(token_hashes[i : i + n], 0xA7)
        for n in range(token_n[0], token_n[1] + 1)
        for i in range(len(token_hashes) - n + 1)
    ]
    finished = _finish(np.array(hashes, np.uint64)) if hashes else np.array([], np.uint64)
    return sorted({int(h) % buckets + 1 for h in finished})


def test_poly64_vectorized_matches_the_per_ngram_reference():
    texts = ["영화 정말 재밌다", "별로", "", "  ㅋㅋ 😀 a<b>  공백  ", None, "끝"]
    tokens = [["영화", "정말", "재밌", "다"], ["별로"], [], ["ㅋㅋ", "😀", "a"], ["x"], []]
    got = hashed_ngrams(texts, tokens, {"buckets": 1000, "hash": "poly64"}).to_pylist()
    assert got == [_poly64_reference(t, k, 1000) for t, k in zip(texts, tokens)]
    # A slice of an Arrow table (what a partition is) gives the same ids as the rows on their own.
    table = pa.table({"text": texts, "tokens": pa.array(tokens, pa.list_(pa.string()))}).slice(2, 3)
    part = hashed_ngrams(table.column("text"), table.column("tokens"), {"buckets": 1000, "hash": "poly64"})
    assert part.to_pylist() == got[2:5]


def test_models_without_a_hash_key_keep_their_murmur3_ids():
    texts, tokens = ["영화 최고"], [["영화", "최고"]]
    old = hashed_ngrams(texts, tokens, {"buckets": 512}).to_pylist()
    assert old == hashed_ngrams(texts, tokens, {"buckets": 512, "hash": "murmur3"}).to_pylist()
    assert old != hashed_ngrams(texts, tokens, {"buckets": 512, "hash": "poly64"}).to_pylist()
    with pytest.raises(ValueError, match="poly64, murmur3"):
        hashed_ngrams(texts, tokens, {"buckets": 512, "hash": "md5"})
