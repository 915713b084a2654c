"""Training, prediction and the model directory; plain functions, no Prefect.

Token ids go from Arrow to tensors through the list column's flat values and
offsets: one numpy gather per batch instead of a Python list per document.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from models import architecture
from tasks.distributed import Replicas
from tasks.folders import MARKER, check_model_dir, mark
from tasks.io import atomic_path, read_json, remove_stale_temps, swap_in, temp_prefix, write_json

WEIGHTS = "weights.pt"
MODEL_CONFIG = "model_config.json"
MANIFEST = "manifest.json"
# Batches are sorted by length inside windows this many batches wide: wide enough
# that neighbours have similar lengths, narrow enough that epochs still differ.
BUCKET_WINDOW = 50
MONITORS = ("macro_f1", "accuracy")
UNK_ID = 1


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; use device: auto or cpu")
    return torch.device(name)


class TokenIds:
    """A list<int> column as flat numpy values + offsets, sliced into padded batches."""

    def __init__(self, column: pa.ChunkedArray | pa.Array, max_len: int | None = None):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if array.null_count:
            # A null list would silently become an empty document; the validate stage should catch it first.
            raise ValueError(f"token id column has {array.null_count} null rows")
        # .offsets honours a sliced array's start; .values does not, so index values by offsets.
        self.offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        self.values = array.values.to_numpy(zero_copy_only=False).astype(np.int64)
        raw = np.diff(self.offsets)
        self.lengths = np.minimum(raw, max_len) if max_len else raw

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, index: np.ndarray, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad to this batch's longest (truncated) document only, or to `width`; keep each document's head."""
        lengths = self.lengths[index]
        if width is None:
            width = max(1, int(lengths.max())) if len(index) else 1
        lengths = np.minimum(lengths, width)
        steps = np.arange(width)
        real = steps[None, :] < lengths[:, None]
        positions = self.offsets[index][:, None] + steps[None, :]
        ids = np.zeros((len(index), width), dtype=np.int64)
        ids[real] = self.values[positions[real]]
        return torch.from_numpy(ids), torch.from_numpy(lengths.astype(np.int64))

    def bag(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows as nn.EmbeddingBag wants them: all values flat, plus each row's start."""
        starts, ends = self.offsets[index], self.offsets[np.asarray(index) + 1]
        sizes = ends - starts
        flat = np.concatenate([self.values[a:b] for a, b in zip(starts, ends)]) if len(index) else np.zeros(0)
        row_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(index) else np.zeros(0)
        return torch.from_numpy(flat.astype(np.int64)), torch.from_numpy(row_starts.astype(np.int64))


class ModelInputs:
    """Everything the classifier reads per row: token ids and, if it uses them, n-gram ids."""

    def __init__(self, ids: pa.ChunkedArray | pa.Array, max_len: int | None = None,
                 ngram_ids: pa.ChunkedArray | pa.Array | None = None):
        self.tokens = TokenIds(ids, max_len)
        self.ngrams = TokenIds(ngram_ids) if ngram_ids is not None else None
        self.lengths = self.tokens.lengths

    @classmethod
    def from_table(cls, table: pa.Table, model_config: dict[str, Any], max_len: int | None) -> "ModelInputs":
        ngram_ids = None
        if int(model_config.get("ngram_buckets", 0)) > 0:
            if "ngram_ids" not in table.column_names:
                raise ValueError("the model uses n-gram features (ngram_buckets > 0) but the encoded table has "
                                 "no ngram_ids column: set encode.ngrams.buckets to the same value and re-encode")
            ngram_ids = table.column("ngram_ids")
        return cls(table.column("ids"), max_len, ngram_ids)

    def __len__(self) -> int:
        return len(self.tokens)

    def batch(self, index: np.ndarray, device: torch.device, token_dropout: float = 0.0,
              ngram_dropout: float = 0.0) -> tuple[torch.Tensor, ...]:
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


def bucket_batches(
    lengths: np.ndarray, batch_size: int, generator: torch.Generator | None = None, window: int = BUCKET_WINDOW
) -> list[np.ndarray]:
    """Batches of similar-length indices; every index appears exactly once.

    With a generator: shuffle, sort by length within windows of `window` batches,
    then shuffle batch order. Without: one global length sort (for prediction).
    """
    n = len(lengths)
    if n == 0:
        return []
    if generator is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    perm = torch.randperm(n, generator=generator).numpy()
    span = batch_size * window
    batches = []
    for start in range(0, n, span):
        chunk = perm[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    batch_order = torch.randperm(len(batches), generator=generator).numpy()
    return [batches[i] for i in batch_order]


class EarlyStopping:
    """Keeps the best epoch's weights and says when `patience` epochs (0: never) passed without a gain.

    Shared by every trainer; scores are higher-is-better (negate a loss), and the first epoch always counts.
    """

    def __init__(self, patience: int):
        self.patience = patience
        self.best, self.best_epoch, self.stale = float("-inf"), 0, 0
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, model: nn.Module, score: float, epoch: int) -> bool:
        """Record one epoch's dev score; True when it is the best so far."""
        if self.best_epoch and not score > self.best:
            self.stale += 1
            return False
        self.best, self.best_epoch, self.stale = score, epoch, 0
        # Copy to CPU so the kept state neither aliases the live weights nor holds GPU memory.
        self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return True

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.stale >= self.patience

    def end_epoch(self, model: nn.Module, epoch: int, row: dict, score: float, history: dict, replicas: Replicas,
                  log: Callable[[str], None], line: str, metric: str) -> bool:
        """Every trainer's end of an epoch: record `row`, update on the score all replicas agree on, log `line`
        (starred when it is the best so far); True when training should stop."""
        history["epochs"].append(row)
        improved = self.update(model, replicas.agree(score), epoch)
        history["best_epoch"] = self.best_epoch
        log(line + (" *" if improved else ""))
        if self.should_stop:
            log(f"no dev {metric} gain for {self.patience} epochs: stopping, keeping epoch {self.best_epoch}")
        return self.should_stop

    def restore(self, model: nn.Module) -> bool:
        """Load the best epoch's weights back into `model`; False when no epoch ran."""
        if self.state is None:
            return False
        model.load_state_dict(self.state)
        return True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start_training(cfg: dict[str, Any]) -> Replicas:
    """What every trainer does first: seed, set the thread count, pick the device and, under
    torchrun, join the process group (tasks/distributed.py)."""
    seed_everything(int(cfg.get("seed", 13)))
    if int(cfg.get("threads", 0)) > 0:
        torch.set_num_threads(int(cfg["threads"]))
    return Replicas.setup(pick_device(cfg.get("device", "auto")))


def build_model(model_config: dict[str, Any]) -> nn.Module:
    return architecture(model_config["architecture"])(model_config)


def train_classifier(
    encoded: pa.Table, model_config: dict[str, Any], cfg: dict[str, Any], log: Callable[[str], Any] = print
) -> tuple[nn.Module, dict[str, Any]]:
    seed = int(cfg.get("seed", 13))
    replicas = start_training(cfg)
    device = replicas.device
    monitor = cfg.get("monitor", "macro_f1")
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
    tokens = ModelInputs.from_table(encoded, model_config, int(cfg.get("max_len", 0)) or None)
    _check_ranges(tokens.tokens, labels, model_config)

    model = build_model(model_config).to(device)
    net = replicas.wrap(model, seed)  # what the training steps run through: DDP under torchrun
    optimizer = _adamw(model, float(cfg.get("lr", 2e-3)), float(cfg.get("weight_decay", 0.0)))
    # Per-epoch multiplicative decay; 1.0 keeps the rate constant.
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(cfg.get("lr_decay", 1.0)))
    token_dropout = float(cfg.get("token_dropout", 0.0))
    ngram_dropout = float(cfg.get("ngram_dropout", 0.0))
    loss_fn = nn.CrossEntropyLoss()
    shuffler = torch.Generator().manual_seed(seed)
    # Under torchrun batch_size is per rank: one step averages world × batch_size rows (tasks/distributed.py).
    batch_size, grad_clip = int(cfg.get("batch_size", 32)), float(cfg.get("grad_clip", 0.0))
    patience, epochs = int(cfg.get("patience", 0)), int(cfg.get("epochs", 10))
    log = log if replicas.is_writer else (lambda _: None)
    log(f"training on {device}"
        + (f" × {replicas.world_size} processes" if replicas.active else "")
        + f": {len(train_idx)} train, {len(dev_idx)} dev rows, {sum(p.numel() for p in model.parameters()):,} parameters")

    history: dict[str, Any] = {"epochs": [], "monitor": monitor, "device": str(device), "best_epoch": 0}
    stopper = EarlyStopping(patience)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        batches = [train_idx[b] for b in bucket_batches(tokens.lengths[train_idx], batch_size, shuffler)]
        loss_sum, n_tokens, n_rows = replicas.sum(*_train_epoch(
            net, tokens, labels, replicas.shard(batches), optimizer, loss_fn, device, grad_clip, token_dropout,
            ngram_dropout))
        scheduler.step()
        train_seconds = time.perf_counter() - start
        pred, _ = _predict(model, tokens, dev_idx, max(batch_size, 256), device)
        gold = labels[dev_idx]
        from sklearn.metrics import f1_score  # here, not at the top: predict never scores, and sklearn costs ~1 s to import

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
        line = (f"epoch {epoch}: loss {row['train_loss']:.4f} dev acc {row['dev_accuracy']:.4f} "
                f"macro-F1 {row['dev_macro_f1']:.4f} ({row['seconds']:.1f}s, {row['tokens_per_s']:.0f} tok/s)")
        if stopper.end_epoch(model, epoch, row, row[f"dev_{monitor}"], history, replicas, log, line, monitor):
            break
    history["stopped_early"] = len(history["epochs"]) < epochs
    if stopper.restore(model):
        best = history["epochs"][history["best_epoch"] - 1]
        history["best_dev_accuracy"], history["best_dev_macro_f1"] = best["dev_accuracy"], best["dev_macro_f1"]
    history["distributed"] = replicas.finish(model)
    model.eval()
    return model, history


def _train_epoch(model: nn.Module, tokens: ModelInputs, labels: np.ndarray, batches: list[np.ndarray],
                 optimizer: torch.optim.Optimizer, loss_fn: nn.Module, device: torch.device,
                 grad_clip: float, token_dropout: float, ngram_dropout: float = 0.0) -> tuple[float, int, int]:
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
    drop = (torch.rand(ids.shape) < rate) & (ids > UNK_ID)
    return ids.masked_fill(drop, UNK_ID)


def _adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # The fused kernel is ~10x faster on CPU; with a dense embedding the optimizer
    # step otherwise costs as much as the forward pass.
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def _check_ranges(tokens: TokenIds, labels: np.ndarray, model_config: dict[str, Any]) -> None:
    # An out-of-range id fails deep inside nn.Embedding with an opaque index error.
    if len(tokens.values) and int(tokens.values.max()) >= int(model_config["vocab_size"]):
        raise ValueError(f"token id {int(tokens.values.max())} >= vocab_size {model_config['vocab_size']}: "
                         "the vocabulary and the encoded table are out of sync; rerun the encode stage")
    if len(labels) and (labels.min() < 0 or labels.max() >= int(model_config["num_classes"])):
        raise ValueError(f"label ids span {labels.min()}..{labels.max()} but num_classes is "
                         f"{model_config['num_classes']}")


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


def save_model_dir(model_dir: str | Path, model: nn.Module, model_config: dict[str, Any], files: dict[str, Any]) -> Path:
    """Write weights, config and `files` (name -> JSON-able, or bytes) to a fresh folder, then swap it in.

    Readers see the old complete folder or the new complete one, never a mix of
    new weights with an old vocabulary. The folder replaced must be hanflow's (tasks/folders.py): one
    holding anything else is refused, never deleted.
    """
    model_dir = check_model_dir(model_dir)
    reserved = {WEIGHTS, MODEL_CONFIG, MANIFEST, MARKER} & set(files)
    if reserved:
        raise ValueError(f"{sorted(reserved)} are written by save_model_dir itself")
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(model_dir)  # folders left by a run killed mid-save
    tmp = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(model_dir)}new.", dir=model_dir.parent))
    try:
        # The model's own resolved config wins: it is what the weights were shaped by.
        config = {**model_config, **getattr(model, "config", {})}
        config["architecture"] = getattr(model, "architecture", None) or model_config.get("architecture")
        with atomic_path(tmp / WEIGHTS, ".pt") as path:
            # CPU tensors, state only: loadable with weights_only=True on a machine without a GPU.
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
        write_json(config, tmp / MODEL_CONFIG)
        for name, obj in files.items():
            if isinstance(obj, bytes):  # a binary file (e.g. n2m's reranker.skops), kept as is
                (tmp / name).write_bytes(obj)
            else:
                write_json(obj, tmp / name)
        write_json({"files": sorted([WEIGHTS, MODEL_CONFIG, *files])}, tmp / MANIFEST)
        mark(tmp, "model")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        swap_in(tmp, check_model_dir(model_dir))  # again: another process may have filled it meanwhile
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return model_dir


def load_model_dir(
    model_dir: str | Path, device: str | torch.device = "cpu", required: tuple[str, ...] = ()
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model (eval mode) and read every JSON file of the folder into `bundle[file name]` (and the
    bytes of every .skops and .npz file)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model directory {model_dir} does not exist: train a model first "
                                "(`hanflow run` or `dvc repro`).")
    expected = [WEIGHTS, MODEL_CONFIG, *required]
    if (model_dir / MANIFEST).exists():
        expected += read_json(model_dir / MANIFEST)["files"]
    missing = sorted({name for name in expected if not (model_dir / name).exists()})
    if missing:
        raise FileNotFoundError(f"model directory {model_dir} lacks {', '.join(missing)}: it is incomplete or "
                                "from an older version; retrain (`hanflow run` or `dvc repro`).")
    bundle = {p.name: read_json(p) for p in sorted(model_dir.glob("*.json")) if p.name != MANIFEST}
    # skops trees and numpy arrays, kept as bytes: loading either runs no pickled code
    bundle.update({p.name: p.read_bytes() for p in sorted([*model_dir.glob("*.skops"), *model_dir.glob("*.npz")])})
    model = build_model(bundle[MODEL_CONFIG])
    device = pick_device(device) if isinstance(device, str) else device
    state = torch.load(model_dir / WEIGHTS, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), bundle
