"""The training kit every trainer shares: device, seeding, length-bucketed batches, early stopping, AdamW.

Token ids go from Arrow to tensors through the list column's flat values and
offsets: one numpy gather per batch instead of a Python list per document.
"""

from __future__ import annotations

import random
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from tasks.distributed import Replicas

# Batches are sorted by length inside windows this many batches wide: wide enough
# that neighbours have similar lengths, narrow enough that epochs still differ.
BUCKET_WINDOW = 50


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

    def end_epoch(
        self,
        model: nn.Module,
        epoch: int,
        row: dict,
        score: float,
        history: dict,
        replicas: Replicas,
        log: Callable[[str], None],
        line: str,
        metric: str,
    ) -> bool:
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


def adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # The fused kernel is ~10x faster on CPU; with a dense embedding the optimizer
    # step otherwise costs as much as the forward pass.
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
