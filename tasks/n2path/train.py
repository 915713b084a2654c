"""Training and parsing with the N2Path biaffine parser; plain functions, no Prefect.

Shares the training kit (tasks/training.py): Arrow list columns sliced into padded batches,
length-bucketed batches, seeding, device choice. Per-word lists (morphemes, tags, syllables) are
list<list<int32>> columns, padded to [batch, words, items] with one numpy gather per batch.
Early stopping watches dev LAS, decoded exactly as evaluation decodes (always a tree).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from tasks.model_dir import build_model
from tasks.n2path.metrics import attachment_scores
from tasks.training import EarlyStopping, TokenIds, bucket_batches, pick_device, start_training

# Items kept per word: longer words keep their first ones (a 40-syllable URL needs no more).
MAX_MORPHS = 16
MAX_CHARS = 24
MODEL_KEYS = (
    "word_emb_dim",
    "morph_emb_dim",
    "tag_emb_dim",
    "char_emb_dim",
    "char_cnn_dim",
    "char_kernel",
    "hidden_dim",
    "num_layers",
    "arc_mlp",
    "rel_mlp",
    "dropout",
)


class NestedIds:
    """A list<list<int>> column (sentence -> word -> ids) as flat numpy arrays, sliced into [B, T, K] batches."""

    def __init__(self, column: pa.ChunkedArray | pa.Array, max_items: int):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if array.null_count:
            raise ValueError(f"nested id column has {array.null_count} null rows")
        # .offsets honours a slice's start; .values is the whole child array, indexed by those offsets.
        self.sentence_offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        words = array.values
        self.word_offsets = words.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        self.values = words.values.to_numpy(zero_copy_only=False).astype(np.int64)
        self.lengths = np.diff(self.sentence_offsets)
        self.max_items = max_items

    def batch(self, index: np.ndarray) -> torch.Tensor:
        lengths = self.lengths[index]
        width = max(1, int(lengths.max())) if len(index) else 1
        real = np.arange(width)[None, :] < lengths[:, None]
        word = (self.sentence_offsets[index][:, None] + np.arange(width)[None, :])[real]
        starts = self.word_offsets[word]
        sizes = np.minimum(self.word_offsets[word + 1] - starts, self.max_items)
        depth = max(1, int(sizes.max())) if len(sizes) else 1
        inner = np.arange(depth)[None, :] < sizes[:, None]
        items = np.zeros((len(word), depth), dtype=np.int64)
        items[inner] = self.values[(starts[:, None] + np.arange(depth)[None, :])[inner]]
        out = np.zeros((len(index), width, depth), dtype=np.int64)
        out[real] = items
        return torch.from_numpy(out)


class ParseInputs:
    """The id columns of an encoded N2Path table as padded tensors per batch."""

    def __init__(self, table: pa.Table):
        self.words = TokenIds(table.column("word_ids"))
        self.morphs = NestedIds(table.column("morph_ids"), MAX_MORPHS)
        self.tags = NestedIds(table.column("tag_ids"), MAX_MORPHS)
        self.chars = NestedIds(table.column("char_ids"), MAX_CHARS)
        self.heads = TokenIds(table.column("heads")) if "heads" in table.column_names else None
        self.rels = TokenIds(table.column("rel_ids")) if "rel_ids" in table.column_names else None
        self.lengths = self.words.lengths

    def batch(self, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        words, lengths = self.words.batch(index)
        parts = (words, self.morphs.batch(index), self.tags.batch(index), self.chars.batch(index), lengths)
        return tuple(p.to(device) for p in parts)

    def gold(self, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads.batch(index)[0].to(device), self.rels.batch(index)[0].to(device)


def model_config(vocabs: dict, cfg: dict) -> dict:
    """The parser's config: sizes from the vocabularies and relation schema, dimensions from params train."""
    return {
        "architecture": "n2path.BiaffineParser",
        "word_vocab_size": len(vocabs["words"]["itos"]),
        "morph_vocab_size": len(vocabs["morphs"]["itos"]),
        "tag_vocab_size": len(vocabs["tags"]["itos"]),
        "char_vocab_size": len(vocabs["chars"]["itos"]),
        "num_rels": len(vocabs["relations"]),
        "rel_names": list(vocabs["relations"]),
        # Keys params.yaml leaves out (char_kernel) keep the model's own default.
        **{k: cfg[k] for k in MODEL_KEYS if k in cfg},
    }


def _optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    # Dozat & Manning's beta2 = 0.9: the parser's gradients change fast and a long memory slows it down.
    # betas is not in params.yaml: an optional override.
    kwargs = dict(
        lr=float(cfg["lr"]),
        betas=tuple(float(b) for b in cfg.get("betas", (0.9, 0.9))),
        weight_decay=float(cfg["weight_decay"]),
    )
    try:
        return torch.optim.AdamW(model.parameters(), fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(model.parameters(), **kwargs)


def train_parser(
    encoded: pa.Table, config: dict[str, Any], cfg: dict[str, Any], log: Callable[[str], Any] = print
) -> tuple[nn.Module, dict[str, Any]]:
    seed = int(cfg["seed"])
    replicas = start_training(cfg)  # seed, threads, device; DDP under torchrun (tasks/distributed.py)
    device = replicas.device
    split = np.asarray(encoded.column("split").to_numpy(zero_copy_only=False)).astype(str)
    train_idx, dev_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "dev")
    if len(train_idx) == 0 or len(dev_idx) == 0:
        raise ValueError(
            f"training needs 'train' and 'dev' sentences (found {len(train_idx)} and {len(dev_idx)}); "
            "check n2path.data.split and the sources' split_as"
        )
    inputs = ParseInputs(encoded)
    if len(inputs.rels.values) and int(inputs.rels.values.min()) < 0:
        raise ValueError(
            "relation id -1 in the encoded table: a relation is not in the schema; "
            "the validate stage names the sentences"
        )
    max_len = int(cfg["max_len"])
    skipped = 0
    if max_len > 0:
        # A tree cannot be cut: longer sentences are left out of training (parsing handles any length).
        keep = inputs.lengths[train_idx] <= max_len
        skipped, train_idx = int((~keep).sum()), train_idx[keep]
    model = build_model(config).to(device)
    net = replicas.wrap(model, seed)
    optimizer = _optimizer(model, cfg)
    shuffler = torch.Generator().manual_seed(seed)
    batch_size, grad_clip = int(cfg["batch_size"]), float(cfg["grad_clip"])
    patience, epochs = int(cfg["patience"]), int(cfg["epochs"])
    rel_names = model.config["rel_names"]
    gold_heads = encoded.column("heads").take(pa.array(dev_idx)).to_pylist()
    gold_rels = encoded.column("deprels").take(pa.array(dev_idx)).to_pylist()
    log = log if replicas.is_writer else (lambda _: None)
    log(
        f"training on {device}: {len(train_idx)} train ({skipped} over max_len {max_len} left out), "
        f"{len(dev_idx)} dev sentences, {sum(p.numel() for p in model.parameters()):,} parameters"
    )

    history: dict[str, Any] = {
        "epochs": [],
        "monitor": "dev_las",
        "device": str(device),
        "best_epoch": 0,
        "train_sentences": len(train_idx),
        "skipped_over_max_len": skipped,
    }
    stopper = EarlyStopping(patience)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        net.train()
        loss_sum, words, n_rows = 0.0, 0, 0
        for index in replicas.shard(bucket_batches(inputs.lengths[train_idx], batch_size, shuffler)):
            rows = train_idx[index]
            batch = inputs.batch(rows, device)
            heads, rels = inputs.gold(rows, device)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(*net(*batch), heads, rels, batch[-1])
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            loss_sum += loss.item() * len(rows)
            words += int(batch[-1].sum())
            n_rows += len(rows)
        loss_sum, words, n_rows = replicas.sum(loss_sum, words, n_rows)
        train_seconds = time.perf_counter() - start
        pred = predict_parses(model, inputs, dev_idx, max(batch_size, 64), device)
        scores = attachment_scores(
            gold_heads, gold_rels, [h for h, _ in pred], [[rel_names[r] for r in rs] for _, rs in pred]
        )
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / max(1, n_rows),
            "dev_uas": scores["uas"],
            "dev_las": scores["las"],
            "train_seconds": round(train_seconds, 3),
            "words_per_s": round(words / max(train_seconds, 1e-9), 1),
            "seconds": round(time.perf_counter() - start, 3),
        }
        line = (
            f"epoch {epoch}: loss {row['train_loss']:.4f} dev UAS {row['dev_uas']:.4f} LAS {row['dev_las']:.4f} "
            f"({row['seconds']:.1f}s, {row['words_per_s']:.0f} words/s)"
        )
        if stopper.end_epoch(model, epoch, row, row["dev_las"], history, replicas, log, line, "LAS"):
            break
    history["stopped_early"] = len(history["epochs"]) < epochs
    if stopper.restore(model):
        best = history["epochs"][history["best_epoch"] - 1]
        history["best_dev_las"], history["best_dev_uas"] = best["dev_las"], best["dev_uas"]
    history["seconds_per_epoch"] = (
        round(float(np.mean([r["seconds"] for r in history["epochs"]])), 3) if history["epochs"] else 0.0
    )
    history["distributed"] = replicas.finish(model)
    model.eval()
    return model, history


@torch.no_grad()
def predict_parses(
    model: nn.Module, inputs: ParseInputs, index: np.ndarray, batch_size: int, device: torch.device
) -> list[tuple[list[int], list[int]]]:
    """(heads, relation ids) per row of `index`, in that order; every result is one tree."""
    was_training = model.training
    model.eval()
    out: list[tuple[list[int], list[int]]] = [([], []) for _ in index]
    for batch in bucket_batches(inputs.lengths[index], batch_size):
        tensors = inputs.batch(index[batch], device)
        for k, parse in zip(batch, model.decode(*model(*tensors), tensors[-1])):
            out[k] = parse
    model.train(was_training)
    return out


def parse_table(
    model: nn.Module, encoded: pa.Table, batch_size: int = 64, device: str | torch.device = "auto"
) -> list[tuple[list[int], list[str]]]:
    """(heads, relation names) per row of an encoded table."""
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device)
    names = model.config["rel_names"]
    pred = predict_parses(model, ParseInputs(encoded), np.arange(encoded.num_rows), batch_size, device)
    return [(heads, [names[r] for r in rels]) for heads, rels in pred]
