"""Pretrained token vectors (tasks/vectors.py): the Nyström recovery is exact, Kiwi's vectors put related
morphemes together, and the N21 network starts from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.vectors import build_vectors, load_vectors, nystrom_vectors, reduce, save_vectors


def test_nystrom_recovers_the_inner_products_from_landmark_similarities_only():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(60, 8))  # the model's vectors, never shown to nystrom_vectors
    hidden /= np.linalg.norm(hidden, axis=1, keepdims=True)

    def similarity(i: int, j: int) -> float:
        return float(hidden[i] @ hidden[j])

    out = nystrom_vectors(similarity, list(range(60)), landmarks=list(range(40, 60)))
    assert out.shape[1] == 8  # 20 landmarks, but only 8 directions: the rest are dropped
    np.testing.assert_allclose(out @ out.T, hidden @ hidden.T, atol=1e-8)


def test_reduce_keeps_the_top_components_at_unit_scale_and_pads_missing_ones():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(200, 5)) * [10, 5, 1, 0.1, 0.01] + 3
    out = reduce(vectors, 2)
    assert out.shape == (200, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-5)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    # the first component is the direction of largest spread (scaled by 10)
    assert abs(np.corrcoef(out[:, 0], vectors[:, 0])[0, 1]) > 0.99
    padded = reduce(vectors, 7)
    assert padded.shape == (200, 7) and not padded[:, 5:].any()


def test_kiwi_vectors_cover_the_vocabulary_and_put_related_morphemes_together():
    itos = ["<pad>", "<unk>", "재밌", "재미있", "지루", "따분", "감독", "배우들", "봤", "ㅋㅋ", "xq#z"]
    rows, vectors, report = build_vectors(itos, {"source": "kiwi", "landmarks": 384}, 16)
    # specials never get a vector; 봤 (Mecab's fused 보+았) does, from Kiwi's analysis of it
    assert 0 not in rows and 1 not in rows and 8 in rows
    assert report["with_vector"] == len(rows) and report["kiwipiepy_model"]
    unit = {itos[r]: v / np.linalg.norm(v) for r, v in zip(rows, vectors)}
    assert unit["재밌"] @ unit["재미있"] > unit["재밌"] @ unit["감독"]
    assert unit["지루"] @ unit["따분"] > unit["지루"] @ unit["감독"]


def test_source_none_writes_an_empty_file_that_loads_as_none(tmp_path):
    rows, vectors, report = build_vectors(["<pad>", "영화"], {"source": "none", "landmarks": 384}, 16)
    save_vectors(tmp_path / "vectors.npz", rows, vectors)
    assert load_vectors(tmp_path / "vectors.npz") is None and report["with_vector"] == 0
    with pytest.raises(ValueError, match="vectors.source 'glove'"):
        build_vectors(["<pad>"], {"source": "glove", "landmarks": 384}, 16)


def test_the_classifier_starts_from_the_vectors_and_refuses_a_wrong_size():
    from models.encoders import start_from
    from models.n21 import SequenceClassifier

    model = SequenceClassifier({"vocab_size": 10, "num_classes": 2, "emb_dim": 4, "hidden_dim": 4})
    before = model.embedding.embedding.weight.detach().clone()
    rows, vectors = torch.tensor([2, 5]), torch.arange(8, dtype=torch.float32).reshape(2, 4)
    start_from(model.embedding.embedding, rows, vectors)
    weight = model.embedding.embedding.weight.detach()
    assert torch.equal(weight[rows], vectors)
    untouched = [i for i in range(10) if i not in (2, 5)]
    assert torch.equal(weight[untouched], before[untouched])
    with pytest.raises(ValueError, match="rerun the vectors stage"):
        start_from(model.embedding.embedding, rows, torch.zeros(2, 3))


@pytest.mark.parametrize(
    "problem, vocab, dim_key",
    [
        ("n21", {"itos": ["<pad>", "<unk>", "영화", "재밌"]}, "emb_dim"),
        ("n2n", {"morphs": {"itos": ["<pad>", "<unk>", "서울", "삼성전자"]}}, "morph_emb_dim"),
    ],
)
def test_the_vectors_stage_writes_the_vectors_train_reads(tmp_path, problem, vocab, dim_key):
    from flows.pipeline import run_stage
    from tasks import io

    io.write_json(vocab, tmp_path / "vocab.json")
    section = {"work_dir": str(tmp_path), "vectors": {"source": "kiwi", "landmarks": 384}, "train": {dim_key: 8}}
    run_stage(problem, "vectors", section)
    rows, vectors = load_vectors(tmp_path / "vectors.npz")
    assert rows.tolist() == [2, 3] and vectors.shape == (2, 8)
    assert io.read_json(tmp_path / "reports" / "vectors.json")["coverage"] == 0.5
