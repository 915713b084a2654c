"""Training and prediction for the N2N syllable tagger; plain functions, no Prefect.

Shares the training kit (tasks/training.py): Arrow list columns sliced into
padded batches, length-bucketed batches, seeding, device choice; and the model directory (tasks/model_dir.py).
Early stopping watches entity F1 on dev, the metric the stage reports. An optional second phase
fine-tunes on one source's rows (n2n.train.finetune).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from tasks.model_dir import build_model
from tasks.n2n.metrics import entity_metrics, spans_from_tags
from tasks.training import EarlyStopping, TokenIds, adamw, bucket_batches, pick_device, start_training

FEATURE_COLUMNS = {"morphs": "morph_ids", "pos": "pos_ids", "boundary": "boundary", "domain": "domain_ids"}
SIZE_KEYS = {
    "morphs": "morph_vocab_size",
    "pos": "pos_vocab_size",
    "boundary": "boundary_vocab_size",
    "domain": "domain_vocab_size",
}


class TaggerInputs:
    """The id columns of an encoded N2N table as padded tensors per batch."""

    def __init__(self, table: pa.Table, max_len: int | None, use: dict[str, bool]):
        self.chars = TokenIds(table.column("char_ids"), max_len)
        self.features = {
            name: TokenIds(table.column(col), max_len) for name, col in FEATURE_COLUMNS.items() if use.get(name)
        }
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


def train_tagger(
    encoded: pa.Table,
    model_config: dict[str, Any],
    cfg: dict[str, Any],
    log: Callable[[str], Any] = print,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train on the 'train' rows, early-stopping on dev entity F1; with `finetune.domain` set, go on
    training on that source's rows alone (see `_finetune_rows` for why). vectors: (morpheme vocabulary rows,
    their pretrained vectors) the morpheme feature's embedding starts from (tasks/vectors.py)."""
    replicas = start_training(cfg)  # seed, threads, device; DDP under torchrun (tasks/distributed.py)
    split = np.asarray(encoded.column("split").to_numpy(zero_copy_only=False)).astype(str)
    train_idx, dev_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "dev")
    if len(train_idx) == 0 or len(dev_idx) == 0:
        raise ValueError(
            f"training needs 'train' and 'dev' rows (found {len(train_idx)} and {len(dev_idx)}); "
            "check n2n.data.split and the sources' split"
        )
    finetune = _finetune_rows(encoded, cfg["finetune"], train_idx, dev_idx)
    fit = _TaggerFit(encoded, model_config, cfg, replicas, log)
    if vectors is not None and "morphs" in fit.model.feature_embeddings:
        from models.encoders import start_from

        start_from(fit.model.feature_embeddings["morphs"], *vectors)
    fit.log(
        f"training on {fit.device}: {len(train_idx)} train, {len(dev_idx)} dev sentences, "
        f"{sum(p.numel() for p in fit.model.parameters()):,} parameters"
    )

    history: dict[str, Any] = {"epochs": [], "monitor": "entity_f1", "device": str(fit.device), "best_epoch": 0}
    stopper = EarlyStopping(int(cfg["patience"]))
    epochs = int(cfg["epochs"])
    fit.run("joint", train_idx, dev_idx, float(cfg["lr"]), 1, epochs, stopper, history)
    history["stopped_early"] = len(history["epochs"]) < epochs
    if stopper.restore(fit.model):
        history["best_dev_f1"] = stopper.best
    if finetune is not None and stopper.best_epoch:
        history["finetune"] = fit.finetune(*finetune, cfg["finetune"], history)
        history["best_dev_f1"] = history["finetune"]["best_dev_f1"]
    history["distributed"] = replicas.finish(fit.model)
    fit.model.eval()
    return fit.model, history


def _finetune_rows(
    encoded: pa.Table, spec: dict[str, Any], train_idx: np.ndarray, dev_idx: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The train and dev rows of the source named by n2n.train.finetune.domain (None when unset).

    Corpora annotate differently (KLP tags 하루 and 밤 as DT/TI, KMOU only dates and clock times): joint
    training learns from both, and a few epochs on the target source alone then pull the boundaries back
    to its convention. Dev is that source's dev rows when it has some, else all dev rows.
    """
    domain = spec["domain"]
    if not domain:
        return None
    domains = np.asarray(
        encoded.column("domain").to_pylist() if "domain" in encoded.column_names else [""] * encoded.num_rows
    ).astype(str)
    own_train = train_idx[domains[train_idx] == str(domain)]
    if len(own_train) == 0:
        known = sorted(map(str, set(domains[train_idx])))
        raise ValueError(
            f"n2n.train.finetune.domain: no train rows come from {domain!r}; the train rows' "
            f"sources are {known} (a source's domain is its `domain` key or its format)"
        )
    own_dev = dev_idx[domains[dev_idx] == str(domain)]
    return str(domain), own_train, own_dev if len(own_dev) else dev_idx


class _TaggerFit:
    """One training run's model, inputs and dev gold, shared by its phases (joint, then fine-tune)."""

    def __init__(
        self, encoded: pa.Table, model_config: dict[str, Any], cfg: dict[str, Any], replicas, log: Callable[[str], Any]
    ):
        self.cfg, self.replicas, self.device = cfg, replicas, replicas.device
        self.inputs = TaggerInputs.for_model(encoded, model_config, int(cfg["max_len"]) or None)
        if len(self.inputs.tags.values) and int(self.inputs.tags.values.min()) < 0:
            raise ValueError(
                "tag id -1 in the encoded table: an entity type is not in the schema; the validate stage names it"
            )
        seed = int(cfg["seed"])
        self.model = build_model(model_config).to(self.device)
        self.net = replicas.wrap(self.model, seed)
        self.shuffler = torch.Generator().manual_seed(seed)
        self.batch_size, self.grad_clip = int(cfg["batch_size"]), float(cfg["grad_clip"])
        self.texts = encoded.column("text").to_pylist()
        self.tag_names = model_config["tag_names"]
        self.types = sorted({t[2:] for t in self.tag_names if t != "O"})
        self.tag_rows = encoded.column("tag_ids")
        self.log = log if replicas.is_writer else (lambda _: None)

    def spans(self, rows: np.ndarray, tag_ids: list[list[int]]) -> list:
        return [spans_from_tags([self.tag_names[i] for i in tags], self.texts[j]) for j, tags in zip(rows, tag_ids)]

    def gold_spans(self, rows: np.ndarray) -> list:
        return self.spans(rows, self.tag_rows.take(pa.array(rows)).to_pylist())

    def dev_scores(self, dev_idx: np.ndarray, gold: list) -> dict[str, float]:
        pred = predict_tag_ids(self.model, self.inputs, dev_idx, max(self.batch_size, 128), self.device)
        return entity_metrics(gold, self.spans(dev_idx, pred), self.types)

    def train_epoch(self, optimizer: torch.optim.Optimizer, train_idx: np.ndarray) -> float:
        self.net.train()
        loss_sum, n_rows = 0.0, 0
        for index in self.replicas.shard(
            bucket_batches(self.inputs.lengths[train_idx], self.batch_size, self.shuffler)
        ):
            rows = train_idx[index]
            chars, lengths, feats = self.inputs.batch(rows, self.device)
            optimizer.zero_grad(set_to_none=True)
            loss = self.model.loss(self.net(chars, lengths, **feats), self.inputs.gold(rows, self.device), lengths)
            loss.backward()
            if self.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            optimizer.step()
            loss_sum += loss.item() * len(rows)
            n_rows += len(rows)
        loss_sum, n_rows = self.replicas.sum(loss_sum, n_rows)
        return loss_sum / max(1, n_rows)

    def run(
        self,
        phase: str,
        train_idx: np.ndarray,
        dev_idx: np.ndarray,
        lr: float,
        first: int,
        last: int,
        stopper: EarlyStopping,
        history: dict[str, Any],
    ) -> None:
        """Epochs first..last of one phase; each phase has its own optimizer (fine-tuning starts with fresh
        Adam moments, not the joint phase's)."""
        optimizer = adamw(self.model, lr, float(self.cfg["weight_decay"]))
        gold = self.gold_spans(dev_idx)  # once per phase, not per epoch
        for epoch in range(first, last + 1):
            start = time.perf_counter()
            loss = self.train_epoch(optimizer, train_idx)
            scores = self.dev_scores(dev_idx, gold)
            row = {
                "epoch": epoch,
                "phase": phase,
                "train_loss": loss,
                "dev_f1": scores["f1"],
                "dev_precision": scores["precision"],
                "dev_recall": scores["recall"],
                "seconds": round(time.perf_counter() - start, 3),
            }
            line = (
                f"{'' if phase == 'joint' else phase + ' '}epoch {epoch}: loss {loss:.4f} dev entity F1 "
                f"{row['dev_f1']:.4f} (P {row['dev_precision']:.3f} R {row['dev_recall']:.3f}, "
                f"{row['seconds']:.1f}s)"
            )
            if stopper.end_epoch(self.model, epoch, row, row["dev_f1"], history, self.replicas, self.log, line, "F1"):
                break

    def finetune(
        self, domain: str, train_idx: np.ndarray, dev_idx: np.ndarray, spec: dict[str, Any], history: dict[str, Any]
    ) -> dict[str, Any]:
        """Go on from the joint phase's best weights on one source's rows; its weights are kept only when
        they beat the joint model on the fine-tune dev rows."""
        joint_epoch = history["best_epoch"]
        baseline = self.replicas.agree(self.dev_scores(dev_idx, self.gold_spans(dev_idx))["f1"])
        stopper = EarlyStopping(int(spec["patience"]))
        stopper.update(self.model, baseline, joint_epoch)
        self.log(
            f"fine-tuning on {len(train_idx)} {domain!r} train rows; joint model's F1 on "
            f"{len(dev_idx)} dev rows: {baseline:.4f}"
        )
        first = len(history["epochs"]) + 1
        self.run(
            f"finetune[{domain}]",
            train_idx,
            dev_idx,
            float(spec["lr"]),
            first,
            first + int(spec["epochs"]) - 1,
            stopper,
            history,
        )
        stopper.restore(self.model)  # end_epoch kept history["best_epoch"] in step
        return {
            "domain": domain,
            "train_rows": int(len(train_idx)),
            "dev_rows": int(len(dev_idx)),
            "joint_best_epoch": joint_epoch,
            "joint_dev_f1": baseline,
            "best_dev_f1": stopper.best,
            "kept": stopper.best_epoch != joint_epoch,
        }


@torch.no_grad()
def predict_tag_ids(
    model: nn.Module, inputs: TaggerInputs, index: np.ndarray, batch_size: int, device: torch.device
) -> list[list[int]]:
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


def predict_table(
    model: nn.Module, encoded: pa.Table, max_len: int | None, batch_size: int = 128, device: str | torch.device = "auto"
) -> list[list[tuple[int, int, str]]]:
    """Entity spans (start, end, type) per row of an encoded table."""
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device)
    inputs = TaggerInputs.for_model(encoded, model.config, max_len)
    names = model.config["tag_names"]
    texts = encoded.column("text").to_pylist()
    rows = predict_tag_ids(model, inputs, np.arange(encoded.num_rows), batch_size, device)
    return [spans_from_tags([names[i] for i in row], text) for row, text in zip(rows, texts)]
