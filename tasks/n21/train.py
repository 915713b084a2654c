"""N21 training and prediction: the sentence classifier's inputs, epochs and predictions; no Prefect.

The shared kit (device, batches, early stopping, AdamW) is tasks/training.py; the model directory is
tasks/model_dir.py.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from tasks.model_dir import build_model
from tasks.training import EarlyStopping, TokenIds, adamw, bucket_batches, pick_device, start_training
from tasks.vocab import UNK

MONITORS = ("macro_f1", "accuracy")


class ModelInputs:
    """Everything the classifier reads per row: token ids and, if it uses them, n-gram ids."""

    def __init__(
        self,
        ids: pa.ChunkedArray | pa.Array,
        max_len: int | None = None,
        ngram_ids: pa.ChunkedArray | pa.Array | None = None,
    ):
        self.tokens = TokenIds(ids, max_len)
        self.ngrams = TokenIds(ngram_ids) if ngram_ids is not None else None
        self.lengths = self.tokens.lengths

    @classmethod
    def from_table(cls, table: pa.Table, model_config: dict[str, Any], max_len: int | None) -> "ModelInputs":
        ngram_ids = None
        # A model config from before the n-gram bag has no ngram_buckets (models/n21.py: 0).
        if int(model_config.get("ngram_buckets", 0)) > 0:
            if "ngram_ids" not in table.column_names:
                raise ValueError(
                    "the model uses n-gram features (ngram_buckets > 0) but the encoded table has "
                    "no ngram_ids column: set encode.ngrams.buckets to the same value and re-encode"
                )
            ngram_ids = table.column("ngram_ids")
        return cls(table.column("ids"), max_len, ngram_ids)

    def __len__(self) -> int:
        return len(self.tokens)

    def batch(
        self, index: np.ndarray, device: torch.device, token_dropout: float = 0.0, ngram_dropout: float = 0.0
    ) -> tuple[torch.Tensor, ...]:
        ids, lengths = self.tokens.batch(index)
        if token_dropout > 0:
            ids = _drop_tokens(ids, token_dropout)
        args = [ids, lengths]
        if self.ngrams is not None:
            values, offsets = self.ngrams.bag(index)
            if ngram_dropout > 0:
                # Id 0 is the bag's padding: excluded from the mean, so a dropped n-gram simply is not there.
                values = values.masked_fill(torch.rand(values.shape) < ngram_dropout, 0)
            args.extend((values, offsets))
        return tuple(a.to(device) for a in args)


def train_classifier(
    encoded: pa.Table,
    model_config: dict[str, Any],
    cfg: dict[str, Any],
    log: Callable[[str], Any] = print,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """vectors: (vocabulary rows, their pretrained vectors) the embedding starts from (tasks/vectors.py)."""
    seed = int(cfg["seed"])
    replicas = start_training(cfg)
    device = replicas.device
    monitor = cfg["monitor"]
    if monitor not in MONITORS:
        raise ValueError(f"monitor {monitor!r}: choose one of {list(MONITORS)}")

    split = np.asarray(encoded.column("split").to_numpy(zero_copy_only=False)).astype(str)
    train_idx, dev_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "dev")
    if len(train_idx) == 0 or len(dev_idx) == 0:
        raise ValueError(
            f"training needs rows with split 'train' and 'dev' (found {len(train_idx)} and {len(dev_idx)}); "
            "check the ingest split settings"
        )
    labels = encoded.column("label_id").to_numpy().astype(np.int64)
    tokens = ModelInputs.from_table(encoded, model_config, int(cfg["max_len"]) or None)
    _check_ranges(tokens.tokens, labels, model_config)

    model = build_model(model_config)
    if vectors is not None:
        from models.encoders import start_from

        start_from(model.embedding.embedding, *vectors)
    model = model.to(device)
    net = replicas.wrap(model, seed)  # what the training steps run through: DDP under torchrun
    optimizer = adamw(model, float(cfg["lr"]), float(cfg["weight_decay"]))
    # Per-epoch multiplicative decay; 1.0 keeps the rate constant.
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(cfg["lr_decay"]))
    token_dropout = float(cfg["token_dropout"])
    ngram_dropout = float(cfg["ngram_dropout"])
    loss_fn = nn.CrossEntropyLoss()
    shuffler = torch.Generator().manual_seed(seed)
    # Under torchrun batch_size is per rank: one step averages world × batch_size rows (tasks/distributed.py).
    batch_size, grad_clip = int(cfg["batch_size"]), float(cfg["grad_clip"])
    patience, epochs = int(cfg["patience"]), int(cfg["epochs"])
    log = log if replicas.is_writer else (lambda _: None)
    log(
        f"training on {device}"
        + (f" × {replicas.world_size} processes" if replicas.active else "")
        + f": {len(train_idx)} train, {len(dev_idx)} dev rows, {sum(p.numel() for p in model.parameters()):,} parameters"
        + (f", {len(vectors[0]):,} pretrained token vectors" if vectors is not None else "")
    )

    history: dict[str, Any] = {"epochs": [], "monitor": monitor, "device": str(device), "best_epoch": 0}
    stopper = EarlyStopping(patience)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        batches = [train_idx[b] for b in bucket_batches(tokens.lengths[train_idx], batch_size, shuffler)]
        loss_sum, n_tokens, n_rows = replicas.sum(
            *_train_epoch(
                net,
                tokens,
                labels,
                replicas.shard(batches),
                optimizer,
                loss_fn,
                device,
                grad_clip,
                token_dropout,
                ngram_dropout,
            )
        )
        scheduler.step()
        train_seconds = time.perf_counter() - start
        pred, _ = _predict(model, tokens, dev_idx, max(batch_size, 256), device)
        gold = labels[dev_idx]
        from sklearn.metrics import (
            f1_score,
        )  # here, not at the top: predict never scores, and sklearn costs ~1 s to import

        row = {
            "epoch": epoch,
            "train_loss": loss_sum / max(1, n_rows),
            "dev_accuracy": float((pred == gold).mean()),
            "dev_macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
            "seconds": round(time.perf_counter() - start, 3),
            "train_seconds": round(train_seconds, 3),
            "tokens_per_s": round(n_tokens / max(train_seconds, 1e-9), 1),
            "sentences_per_s": round(n_rows / max(train_seconds, 1e-9), 1),
        }
        line = (
            f"epoch {epoch}: loss {row['train_loss']:.4f} dev acc {row['dev_accuracy']:.4f} "
            f"macro-F1 {row['dev_macro_f1']:.4f} ({row['seconds']:.1f}s, {row['tokens_per_s']:.0f} tok/s)"
        )
        if stopper.end_epoch(model, epoch, row, row[f"dev_{monitor}"], history, replicas, log, line, monitor):
            break
    history["stopped_early"] = len(history["epochs"]) < epochs
    if stopper.restore(model):
        best = history["epochs"][history["best_epoch"] - 1]
        history["best_dev_accuracy"], history["best_dev_macro_f1"] = best["dev_accuracy"], best["dev_macro_f1"]
    history["distributed"] = replicas.finish(model)
    model.eval()
    return model, history


def _train_epoch(
    model: nn.Module,
    tokens: ModelInputs,
    labels: np.ndarray,
    batches: list[np.ndarray],
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    device: torch.device,
    grad_clip: float,
    token_dropout: float,
    ngram_dropout: float = 0.0,
) -> tuple[float, int, int]:
    """One pass; returns the example-weighted loss sum, the real tokens and the rows seen."""
    model.train()
    loss_sum, n_tokens, n_rows = 0.0, 0, 0
    for index in batches:
        inputs = tokens.batch(index, device, token_dropout, ngram_dropout)
        target = torch.from_numpy(labels[index]).to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(*inputs), target)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        loss_sum += loss.item() * len(index)
        n_tokens += int(inputs[1].sum())
        n_rows += len(index)
    return loss_sum, n_tokens, n_rows


def _drop_tokens(ids: torch.Tensor, rate: float) -> torch.Tensor:
    """Replace real tokens by <unk> at `rate`: the model then cannot lean on any single
    word, and it sees <unk> in training as it will for unseen words at test time."""
    drop = (torch.rand(ids.shape) < rate) & (ids > UNK)
    return ids.masked_fill(drop, UNK)


def _check_ranges(tokens: TokenIds, labels: np.ndarray, model_config: dict[str, Any]) -> None:
    # An out-of-range id fails deep inside nn.Embedding with an opaque index error.
    if len(tokens.values) and int(tokens.values.max()) >= int(model_config["vocab_size"]):
        raise ValueError(
            f"token id {int(tokens.values.max())} >= vocab_size {model_config['vocab_size']}: "
            "the vocabulary and the encoded table are out of sync; rerun the encode stage"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= int(model_config["num_classes"])):
        raise ValueError(
            f"label ids span {labels.min()}..{labels.max()} but num_classes is {model_config['num_classes']}"
        )


@torch.no_grad()
def _predict(
    model: nn.Module, tokens: ModelInputs, index: np.ndarray, batch_size: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    was_training = model.training
    model.eval()
    probs = None
    for batch in bucket_batches(tokens.lengths[index], batch_size):
        p = torch.softmax(model(*tokens.batch(index[batch], device)).float(), dim=-1).cpu().numpy()
        if probs is None:
            probs = np.zeros((len(index), p.shape[1]), dtype=np.float32)
        probs[batch] = p  # batches come length-sorted; writing by position restores input order
    model.train(was_training)
    if probs is None:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return probs.argmax(axis=1), probs


def predict_classifier(
    model: nn.Module,
    ids_column: pa.ChunkedArray | pa.Array,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    max_len: int | None = None,
    ngram_ids: pa.ChunkedArray | pa.Array | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted label ids [N] and class probabilities [N, C], in the column's row order."""
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device)
    tokens = ModelInputs(ids_column, max_len or None, ngram_ids)
    return _predict(model, tokens, np.arange(len(tokens)), batch_size, device)
