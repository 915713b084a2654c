import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch

from tasks.model_dir import load_model_dir, save_model_dir
from tasks.n21.train import predict_classifier, train_classifier
from tasks.training import TokenIds, bucket_batches, pick_device
from tests.conftest import n21_defaults

VOCAB = 40
MODEL = dict(
    architecture="n21.SequenceClassifier",
    vocab_size=VOCAB,
    num_classes=2,
    emb_dim=16,
    hidden_dim=16,
    encoder="bilstm",
    pooling="max",
    activation="relu",
    dropout=0.1,
)
CFG = dict(
    n21_defaults()["train"],
    batch_size=32,
    epochs=6,
    lr=0.01,
    weight_decay=0.0,
    patience=3,
    seed=7,
    max_len=30,
    device="cpu",
    threads=1,
    grad_clip=5.0,
)


def synthetic_table(n=900, seed=0):
    """Label 1 exactly when token 5 occurs: learnable by any encoder with max pooling."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for i in range(n):
        length = int(rng.integers(3, 25))
        doc = rng.integers(6, VOCAB, size=length)
        if i % 2:
            doc[rng.integers(0, length)] = 5
        docs.append(doc.astype(np.int32).tolist())
        labels.append(i % 2)
    split = ["train"] * int(n * 0.7) + ["dev"] * int(n * 0.15)
    split += ["test"] * (n - len(split))
    return pa.table(
        {
            "id": [str(i) for i in range(n)],
            "split": split,
            "label_id": pa.array(labels, pa.int32()),
            "ids": pa.array(docs, pa.list_(pa.int32())),
        }
    )


@pytest.fixture(scope="module")
def table():
    return synthetic_table()


@pytest.fixture(scope="module")
def trained(table):
    return train_classifier(table, MODEL, CFG, log=lambda _: None)


def test_learns_synthetic_task(trained, table):
    model, history = trained
    assert history["best_dev_accuracy"] >= 0.95
    test = table.filter(pc.equal(table["split"], "test"))
    pred, probs = predict_classifier(model, test["ids"], batch_size=64, device="cpu", max_len=30)
    assert (pred == test["label_id"].to_numpy()).mean() >= 0.95
    assert probs.shape == (test.num_rows, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    row = history["epochs"][0]
    assert set(row) == {
        "epoch",
        "train_loss",
        "dev_accuracy",
        "dev_macro_f1",
        "seconds",
        "train_seconds",
        "tokens_per_s",
        "sentences_per_s",
    }
    assert history["distributed"] == {"world_size": 1, "rank": 0, "backend": None}
    assert 1 <= history["best_epoch"] <= len(history["epochs"])


def test_same_seed_same_history(trained, table):
    _, again = train_classifier(table, MODEL, CFG, log=lambda _: None)
    timing = ("seconds", "train_seconds", "tokens_per_s", "sentences_per_s")
    timing_free = lambda h: [{k: v for k, v in r.items() if k not in timing} for r in h["epochs"]]
    assert timing_free(again) == timing_free(trained[1])
    assert again["best_epoch"] == trained[1]["best_epoch"]


def test_early_stopping_keeps_best_epoch(table):
    cfg = {**CFG, "epochs": 30, "patience": 1, "lr": 0.05}
    model, history = train_classifier(table, MODEL, cfg, log=lambda _: None)
    assert history["stopped_early"]
    best = history["epochs"][history["best_epoch"] - 1]
    assert best["dev_macro_f1"] == max(r["dev_macro_f1"] for r in history["epochs"])
    dev = table.filter(pc.equal(table["split"], "dev"))
    pred, _ = predict_classifier(model, dev["ids"], 64, "cpu", 30)
    assert (pred == dev["label_id"].to_numpy()).mean() == pytest.approx(best["dev_accuracy"])


def test_requires_dev_split(table):
    no_dev = table.filter(pc.not_equal(table["split"], "dev"))
    with pytest.raises(ValueError, match="dev"):
        train_classifier(no_dev, MODEL, CFG, log=lambda _: None)


def test_rejects_ids_beyond_vocabulary(table):
    with pytest.raises(ValueError, match="vocab_size"):
        train_classifier(table, {**MODEL, "vocab_size": 10}, CFG, log=lambda _: None)


def test_save_load_round_trip(trained, table, tmp_path):
    model, history = trained
    files = {
        "vocab.json": {"<pad>": 0, "<unk>": 1},
        "label_schema.json": {"labels": ["neg", "pos"]},
        "train_metrics.json": history,
    }
    target = tmp_path / "model"
    save_model_dir(target, model, {**MODEL, "architecture": "n21.SequenceClassifier"}, files)
    save_model_dir(target, model, MODEL, files)  # replacing an existing directory works too
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind
    loaded, bundle = load_model_dir(target)
    assert bundle["vocab.json"] == files["vocab.json"]
    assert bundle["model_config.json"]["architecture"] == "n21.SequenceClassifier"
    before = predict_classifier(model, table["ids"], 128, "cpu", 30)
    after = predict_classifier(loaded, table["ids"], 128, "cpu", 30)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_load_names_missing_file(trained, tmp_path):
    target = tmp_path / "model"
    save_model_dir(target, trained[0], MODEL, {"vocab.json": {}})
    (target / "vocab.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"vocab\.json.*retrain"):
        load_model_dir(target)
    with pytest.raises(FileNotFoundError, match="train a model first"):
        load_model_dir(tmp_path / "nowhere")


def test_bucketed_batches_cover_every_index_once():
    lengths = np.random.default_rng(1).integers(0, 60, size=1037)
    batches = bucket_batches(lengths, 16, torch.Generator().manual_seed(3), window=8)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1037))
    assert all(len(b) <= 16 for b in batches)
    # sorting within windows makes batches much more uniform than random batches
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 15
    again = bucket_batches(lengths, 16, torch.Generator().manual_seed(3), window=8)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert sorted(np.concatenate(bucket_batches(lengths, 16)).tolist()) == list(range(1037))


def test_token_ids_pad_per_batch_truncate_and_respect_slices():
    column = pa.chunked_array(
        [pa.array([[9, 9], [1, 2, 3, 4]], pa.list_(pa.int32())), pa.array([[], [7]], pa.list_(pa.int32()))]
    )
    tokens = TokenIds(column.slice(1), max_len=3)  # a sliced column must not read the dropped row
    ids, lengths = tokens.batch(np.array([1, 2]))
    assert ids.tolist() == [[0], [7]] and lengths.tolist() == [0, 1]
    ids, lengths = tokens.batch(np.array([0, 2]))
    assert ids.tolist() == [[1, 2, 3], [7, 0, 0]] and lengths.tolist() == [3, 1]
    ids, lengths = tokens.batch(np.array([2, 0]), width=5)  # the padded-to-max baseline's fixed width
    assert ids.tolist() == [[7, 0, 0, 0, 0], [1, 2, 3, 0, 0]] and lengths.tolist() == [1, 3]


def test_shards_give_every_rank_equal_steps_in_the_shared_order():
    from tasks.distributed import Replicas

    batches = [np.array([i]) for i in range(7)]
    shards = [Replicas(torch.device("cpu"), rank, 3).shard(batches) for rank in range(3)]
    # 7 batches over 3 ranks: filled up to 9 (batches 0 and 1 again), 3 steps each, r::3 in the shared order.
    assert [[int(b[0]) for b in shard] for shard in shards] == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]
    single = Replicas(torch.device("cpu"))
    assert single.shard(batches) is batches and single.agree(0.5) == 0.5 and single.sum(1, 2) == (1.0, 2.0)
    assert Replicas(torch.device("cpu"), 1, 4).shard([np.array([0])]) == [np.array([0])]


def test_predict_keeps_input_order(trained):
    model = trained[0]
    docs = [[6, 7, 5, 8, 9, 10, 11], [6], [7, 8, 9, 10], [5]]
    pred, probs = predict_classifier(model, pa.array(docs, pa.list_(pa.int32())), 2, "cpu", 30)
    single = [predict_classifier(model, pa.array([d], pa.list_(pa.int32())), 1, "cpu", 30)[1][0] for d in docs]
    assert np.allclose(probs, np.stack(single), atol=1e-5)


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_token_dropout_only_replaces_real_tokens_with_unk():
    from tasks.n21.train import _drop_tokens

    torch.manual_seed(0)
    ids = torch.tensor([[5] * 1000 + [0] * 200])
    dropped = _drop_tokens(ids, 0.2)
    assert torch.all(dropped[0, 1000:] == 0)
    share = (dropped[0, :1000] == 1).float().mean().item()
    assert 0.15 < share < 0.25 and set(dropped.unique().tolist()) == {0, 1, 5}


def test_regularized_training_still_learns(table):
    cfg = {**CFG, "token_dropout": 0.1, "lr_decay": 0.8}
    _, history = train_classifier(table, MODEL, cfg, log=lambda _: None)
    assert history["best_dev_accuracy"] >= 0.9


def test_training_starts_from_the_pretrained_vectors_and_moves_them(table):
    rows, vectors = np.array([5, 6]), np.full((2, MODEL["emb_dim"]), 0.5, np.float32)
    still, _ = train_classifier(
        table, MODEL, {**CFG, "epochs": 1, "lr": 0.0}, log=lambda _: None, vectors=(rows, vectors)
    )
    assert torch.equal(still.embedding.embedding.weight.detach()[rows], torch.from_numpy(vectors))
    moved, _ = train_classifier(table, MODEL, {**CFG, "epochs": 1}, log=lambda _: None, vectors=(rows, vectors))
    # token 5 decides the label, so training moves its row away from where the vectors put it
    assert not torch.allclose(moved.embedding.embedding.weight.detach()[5], torch.from_numpy(vectors[0]))
