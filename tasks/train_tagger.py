"""Training and prediction for the N2N syllable tagger; plain functions, no Prefect.

Shares the classifier's machinery (tasks/train.py): Arrow list columns sliced into
padded batches, length-bucketed batches, seeding, device choice and the model directory.
Early stopping watches entity F1 on dev, the metric the stage reports.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from tasks.ner import spans_from_tags, entity_metrics
from tasks.train import EarlyStopping, TokenIds, _adamw, bucket_batches, build_model, pick_device, start_training

FEATURE_COLUMNS = {"morphs": "morph_ids", "pos": "pos_ids", "boundary": "boundary", "domain": "domain_ids"}
SIZE_KEYS = {"morphs": "morph_vocab_size", "pos": "pos_vocab_size", "boundary": "boundary_vocab_size",
             "domain": "domain_vocab_size"}


class TaggerInputs:
    """The id columns of an encoded N2N table as padded tensors per batch."""

    def __init__(self, table: pa.Table, max_len: int | None, use: dict[str, bool]):
        self.chars = TokenIds(table.column("char_ids"), max_len)
        self.features = {name: TokenIds(table.column(col), max_len) for name, col in FEATURE_COLUMNS.items()
                         if use.get(name)}
        self.tags = TokenIds(table.column("tag_ids"), max_len) if "tag_ids" in table.column_names else None
        self.lengths = self.chars.lengths

    @classmethod
    def for_model(cls, table: pa.Table, config: dict[str, Any], max_len: int | None) -> "TaggerInputs":
        use = {name: config.get(SIZE_KEYS[name], 0) > 0 for name in FEATURE_COLUMNS}
        return cls(table, max_len, use)

    def batch(self, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, dict]:
        chars, lengths = self.chars.batch(index)
        feats = {name: ids.batch(index)[0].to(device) for name, ids in self.features.items()}
        return chars.to(device), lengths.to(device), feats

    def gold(self, index: np.ndarray, device: torch.device) -> torch.Tensor:
        return self.tags.batch(index)[0].to(device)


def train_tagger(encoded: pa.Table, model_config: dict[str, Any], cfg: dict[str, Any],
                 log: Callable[[str], Any] = print) -> tuple[nn.Module, dict[str, Any]]:
    seed = int(cfg.get("seed", 13))
    replicas = start_training(cfg)  # seed, threads, device; DDP under torchrun (tasks/distributed.py)
    device = replicas.device
    split = np.asarray(encoded.column("split").to_numpy(zero_copy_only=False)).astype(str)
    train_idx, dev_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "dev")
    if len(train_idx) == 0 or len(dev_idx) == 0:
        raise ValueError(f"training needs 'train' and 'dev' rows (found {len(train_idx)} and {len(dev_idx)}); "
                         "check n2n.data.split and the sources' split")
    max_len = int(cfg.get("max_len", 0)) or None
    inputs = TaggerInputs.for_model(encoded, model_config, max_len)
    if len(inputs.tags.values) and int(inputs.tags.values.min()) < 0:
        raise ValueError("tag id -1 in the encoded table: an entity type is not in the schema; "
                         "the validate stage names it")
    model = build_model(model_config).to(device)
    net = replicas.wrap(model, seed)
    optimizer = _adamw(model, float(cfg.get("lr", 2e-3)), float(cfg.get("weight_decay", 0.0)))
    shuffler = torch.Generator().manual_seed(seed)
    batch_size, grad_clip = int(cfg.get("batch_size", 32)), float(cfg.get("grad_clip", 5.0))
    patience, epochs = int(cfg.get("patience", 0)), int(cfg.get("epochs", 10))
    texts = encoded.column("text").to_pylist()
    tag_names = model_config["tag_names"]
    types = sorted({t[2:] for t in tag_names if t != "O"})
    gold_dev = [spans_from_tags([tag_names[i] for i in row], texts[j])
                for j, row in zip(dev_idx, encoded.column("tag_ids").take(pa.array(dev_idx)).to_pylist())]
    log = log if replicas.is_writer else (lambda _: None)
    log(f"training on {device}: {len(train_idx)} train, {len(dev_idx)} dev sentences, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")

    history: dict[str, Any] = {"epochs": [], "monitor": "entity_f1", "device": str(device), "best_epoch": 0}
    stopper = EarlyStopping(patience)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        net.train()
        loss_sum, n_rows = 0.0, 0
        for index in replicas.shard(bucket_batches(inputs.lengths[train_idx], batch_size, shuffler)):
            rows = train_idx[index]
            chars, lengths, feats = inputs.batch(rows, device)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(net(chars, lengths, **feats), inputs.gold(rows, device), lengths)
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            loss_sum += loss.item() * len(rows)
            n_rows += len(rows)
        loss_sum, n_rows = replicas.sum(loss_sum, n_rows)
        pred = predict_tag_ids(model, inputs, dev_idx, max(batch_size, 128), device)
        scores = entity_metrics(gold_dev, [spans_from_tags([tag_names[i] for i in row], texts[j])
                                           for j, row in zip(dev_idx, pred)], types)
        row = {"epoch": epoch, "train_loss": loss_sum / max(1, n_rows), "dev_f1": scores["f1"],
               "dev_precision": scores["precision"], "dev_recall": scores["recall"],
               "seconds": round(time.perf_counter() - start, 3)}
        line = (f"epoch {epoch}: loss {row['train_loss']:.4f} dev entity F1 {row['dev_f1']:.4f} "
                f"(P {row['dev_precision']:.3f} R {row['dev_recall']:.3f}, {row['seconds']:.1f}s)")
        if stopper.end_epoch(model, epoch, row, row["dev_f1"], history, replicas, log, line, "F1"):
            break
    history["stopped_early"] = len(history["epochs"]) < epochs
    if stopper.restore(model):
        history["best_dev_f1"] = stopper.best
    history["distributed"] = replicas.finish(model)
    model.eval()
    return model, history


@torch.no_grad()
def predict_tag_ids(model: nn.Module, inputs: TaggerInputs, index: np.ndarray, batch_size: int,
                    device: torch.device) -> list[list[int]]:
    """Tag ids per row of `index`, in that order; rows longer than max_len get O past the cut."""
    was_training = model.training
    model.eval()
    out: list[list[int]] = [[] for _ in index]
    full = np.diff(inputs.chars.offsets)[index]
    for batch in bucket_batches(inputs.lengths[index], batch_size):
        chars, lengths, feats = inputs.batch(index[batch], device)
        for k, tags in zip(batch, model.decode(model(chars, lengths, **feats), lengths)):
            out[k] = list(tags) + [0] * int(full[k] - len(tags))
    model.train(was_training)
    return out


def predict_table(model: nn.Module, encoded: pa.Table, max_len: int | None, batch_size: int = 128,
                  device: str | torch.device = "auto") -> list[list[tuple[int, int, str]]]:
    """Entity spans (start, end, type) per row of an encoded table."""
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device)
    inputs = TaggerInputs.for_model(encoded, model.config, max_len)
    names = model.config["tag_names"]
    texts = encoded.column("text").to_pylist()
    rows = predict_tag_ids(model, inputs, np.arange(encoded.num_rows), batch_size, device)
    return [spans_from_tags([names[i] for i in row], text) for row, text in zip(rows, texts)]
