"""Training and decoding for the N2M Seq2Seq model; plain functions, no Prefect.

Shares the training kit (tasks/training.py): Arrow list columns sliced into padded
batches, length-bucketed batches, seeding, device choice, fused AdamW. Teacher forcing on
tgt_ids = <bos> answer <eos>: the decoder reads tgt_ids[:-1] and predicts tgt_ids[1:].
Early stopping watches dev perplexity or dev chrF of greedy answers (params n2m.train.monitor).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from tasks.n2m.metrics import perplexity
from tasks.model_dir import build_model
from tasks.n2m.spacing import detokenize
from tasks.training import EarlyStopping, TokenIds, adamw, bucket_batches, pick_device, start_training
from tasks.vocab import UNK

MONITORS = ("chrf", "perplexity")
DECODE_METHODS = ("greedy", "beam")
# The dev answers that early stopping scores: plain greedy decoding (params' evaluate.decode is for the model's
# answers once trained), with each decode setting given so that decode_ids needs no defaults of its own.
GREEDY = {"method": "greedy", "min_len": 0, "no_repeat_ngram_size": 0, "repetition_penalty": 1.0}
MODEL_KEYS = (
    "emb_dim",
    "hidden_dim",
    "num_layers",
    "dropout",
    "encoder",
    "rnn",
    "attention",
    "tie_embeddings",
    "label_smoothing",
)


class PairInputs:
    """src_ids and tgt_ids of an encoded N2M table as padded tensors per batch."""

    def __init__(self, table: pa.Table, max_src_len: int | None = None):
        self.src = TokenIds(table.column("src_ids"), max_src_len)
        self.tgt = TokenIds(table.column("tgt_ids")) if "tgt_ids" in table.column_names else None
        # Batches group pairs of similar total length: the decoder's steps cost as much as the encoder's.
        self.lengths = self.src.lengths + (self.tgt.lengths if self.tgt is not None else 0)

    def source(self, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        src, lengths = self.src.batch(index)
        return src.to(device), lengths.to(device)

    def target(self, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(tgt_in, tgt_out): <bos> y1..yn and y1..yn <eos>, padded with 0."""
        tgt, _ = self.tgt.batch(index)
        tgt = tgt.to(device)
        return tgt[:, :-1], tgt[:, 1:]


def model_config(vocabs: dict, cfg: dict) -> dict[str, Any]:
    from tasks.n2m.encode import special_ids

    return {
        "architecture": "n2m.Seq2Seq",
        "src_vocab_size": len(vocabs["src"]["itos"]),
        "tgt_vocab_size": len(vocabs["tgt"]["itos"]),
        "shared_vocab": bool(vocabs.get("shared")),
        **special_ids(vocabs),
        **{k: cfg[k] for k in MODEL_KEYS},
    }


def train_seq2seq(
    encoded: pa.Table, config: dict[str, Any], cfg: dict[str, Any], itos: list[str], log: Callable[[str], Any] = print
) -> tuple[nn.Module, dict[str, Any]]:
    """Train on the 'train' rows, pick the epoch by dev chrF or perplexity; `itos` is the target vocabulary."""
    seed = int(cfg["seed"])
    replicas = start_training(cfg)  # seed, threads, device; DDP under torchrun (tasks/distributed.py)
    device = replicas.device
    monitor = cfg["monitor"]
    if monitor not in MONITORS:
        raise ValueError(f"n2m.train.monitor {monitor!r}: choose one of {list(MONITORS)}")
    split = np.asarray(encoded.column("split").to_numpy(zero_copy_only=False)).astype(str)
    train_idx, dev_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "dev")
    if len(train_idx) == 0 or len(dev_idx) == 0:
        raise ValueError(
            f"training needs 'train' and 'dev' pairs (found {len(train_idx)} and {len(dev_idx)}); check n2m.data.split"
        )
    inputs = PairInputs(encoded, int(cfg["max_src_len"]) or None)
    for name, ids, size in (
        ("src", inputs.src, config["src_vocab_size"]),
        ("tgt", inputs.tgt, config["tgt_vocab_size"]),
    ):
        if len(ids.values) and int(ids.values.max()) >= int(size):
            raise ValueError(
                f"{name} id {int(ids.values.max())} >= vocabulary size {size}: the vocabulary and the "
                "encoded table are out of sync; rerun the encode stage"
            )
    model = build_model(config).to(device)
    net = replicas.wrap(model, seed)
    optimizer = adamw(model, float(cfg["lr"]), float(cfg["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(cfg["lr_decay"]))
    shuffler = torch.Generator().manual_seed(seed)
    batch_size, grad_clip = int(cfg["batch_size"]), float(cfg["grad_clip"])
    patience, epochs = int(cfg["patience"]), int(cfg["epochs"])
    # Word dropout: a question seen with some words hidden is closer to the paraphrases of test time, and
    # an answer prefix with holes makes the decoder lean on the question instead of its own history.
    src_dropout, tgt_dropout = float(cfg["src_token_dropout"]), float(cfg["tgt_token_dropout"])
    first_real = max(config["pad_id"], config["bos_id"], config["eos_id"], UNK) + 1
    answers = encoded.column("answer").to_pylist()
    dev_refs = [answers[i] for i in dev_idx]
    # Dev answers are decoded greedily, a little longer than any train answer needs.
    max_len = int(inputs.tgt.lengths[train_idx].max()) + 4
    log = log if replicas.is_writer else (lambda _: None)
    log(
        f"training on {device}: {len(train_idx)} train, {len(dev_idx)} dev pairs, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, monitor dev {monitor}"
    )

    history: dict[str, Any] = {"epochs": [], "monitor": monitor, "device": str(device), "best_epoch": 0}
    stopper = EarlyStopping(patience)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        net.train()
        loss_sum, n_tokens = 0.0, 0
        for index in replicas.shard(bucket_batches(inputs.lengths[train_idx], batch_size, shuffler)):
            rows = train_idx[index]
            src, src_lengths = inputs.source(rows, device)
            tgt_in, tgt_out = inputs.target(rows, device)
            src = drop_tokens(src, src_dropout, first_real=first_real)
            tgt_in = drop_tokens(tgt_in, tgt_dropout, first_real=first_real)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(net(src, src_lengths, tgt_in), tgt_out)
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            real = int((tgt_out != config_pad(model)).sum())
            loss_sum += loss.item() * real
            n_tokens += real
        scheduler.step()
        loss_sum, n_tokens = replicas.sum(loss_sum, n_tokens)
        train_seconds = time.perf_counter() - start
        nll, tokens = nll_sum(model, inputs, dev_idx, max(batch_size, 128), device)
        row = {"epoch": epoch, "train_loss": loss_sum / max(1, n_tokens), "dev_perplexity": perplexity(nll, tokens)}
        if monitor == "chrf":
            hyps = [
                detokenize([itos[i] for i in ids])
                for ids in decode_ids(
                    model, inputs, dev_idx, {**GREEDY, "max_len": max_len}, max(batch_size, 128), device
                )
            ]
            row["dev_chrf"] = chrf(hyps, dev_refs)
        row["train_seconds"] = round(train_seconds, 3)
        row["seconds"] = round(time.perf_counter() - start, 3)
        row["train_tokens_per_s"] = round(n_tokens / max(train_seconds, 1e-9), 1)
        score = row["dev_chrf"] if monitor == "chrf" else -row["dev_perplexity"]
        line = (
            f"epoch {epoch}: loss {row['train_loss']:.4f} dev ppl {row['dev_perplexity']:.2f}"
            + (f" dev chrF {row['dev_chrf']:.2f}" if "dev_chrf" in row else "")
            + f" ({row['seconds']:.1f}s, {row['train_tokens_per_s']:.0f} tok/s)"
        )
        if stopper.end_epoch(model, epoch, row, score, history, replicas, log, line, monitor):
            break
    history["stopped_early"] = len(history["epochs"]) < epochs
    if stopper.restore(model):
        chosen = history["epochs"][history["best_epoch"] - 1]
        history["best_dev_perplexity"] = chosen["dev_perplexity"]
        if "dev_chrf" in chosen:
            history["best_dev_chrf"] = chosen["dev_chrf"]
    history["seconds_per_epoch"] = round(sum(e["seconds"] for e in history["epochs"]) / len(history["epochs"]), 3)
    history["distributed"] = replicas.finish(model)
    model.eval()
    return model, history


def drop_tokens(ids: torch.Tensor, rate: float, first_real: int = 4) -> torch.Tensor:
    """Replace real tokens (ids >= first_real: not pad, <unk>, <bos>, <eos>) by <unk> at `rate`."""
    if rate <= 0:
        return ids
    drop = (torch.rand(ids.shape, device=ids.device) < rate) & (ids >= first_real)
    return ids.masked_fill(drop, UNK)


def config_pad(model: nn.Module) -> int:
    return int(model.config["pad_id"])


def chrf(hypotheses: list[str], references: list[str]) -> float:
    from sacrebleu.metrics import CHRF

    return float(
        CHRF()
        .corpus_score([" ".join(h.split()) for h in hypotheses], [[" ".join(r.split()) for r in references]])
        .score
    )


@torch.no_grad()
def nll_sum(
    model: nn.Module, inputs: PairInputs, index: np.ndarray, batch_size: int, device: torch.device
) -> tuple[float, int]:
    """Summed target NLL (no label smoothing; <eos> counted, padding not) and the token count."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for batch in bucket_batches(inputs.lengths[index], batch_size):
        rows = index[batch]
        src, src_lengths = inputs.source(rows, device)
        tgt_in, tgt_out = inputs.target(rows, device)
        total += float(model.loss(model(src, src_lengths, tgt_in), tgt_out, label_smoothing=0.0, reduction="sum"))
        tokens += int((tgt_out != config_pad(model)).sum())
    model.train(was_training)
    return total, tokens


def check_decode(cfg: dict) -> dict:
    method = cfg["method"]
    if method not in DECODE_METHODS:
        raise ValueError(f"n2m.evaluate.decode.method {method!r}: choose one of {list(DECODE_METHODS)}")
    return cfg


@torch.no_grad()
def decode_ids(
    model: nn.Module, inputs: PairInputs, index: np.ndarray, cfg: dict, batch_size: int, device: torch.device
) -> list[list[int]]:
    """Answer ids (no <bos>/<eos>) per row of `index`, in that order, by greedy or beam search."""
    cfg = check_decode(cfg)
    common = {
        "max_len": int(cfg["max_len"]),
        "min_len": int(cfg["min_len"]),
        "no_repeat_ngram_size": int(cfg["no_repeat_ngram_size"]),
        "repetition_penalty": float(cfg["repetition_penalty"]),
    }
    out: list[list[int]] = [[] for _ in index]
    for batch in bucket_batches(inputs.src.lengths[index], batch_size):
        src, src_lengths = inputs.source(index[batch], device)
        if cfg["method"] == "beam":
            got = model.beam_search(
                src,
                src_lengths,
                beam_width=int(cfg["beam_width"]),
                length_penalty=float(cfg["length_penalty"]),
                **common,
            )
        else:
            got = model.greedy(src, src_lengths, **common)
        for k, ids in zip(batch, got):
            out[k] = ids
    return out


def answers_for(
    model: nn.Module,
    encoded: pa.Table,
    itos: list[str],
    cfg: dict,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    max_src_len: int | None = None,
) -> list[str]:
    """Readable answers (spaced Korean text, never space-separated morphemes) for every row of `encoded`."""
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device)
    inputs = PairInputs(encoded, max_src_len or None)
    ids = decode_ids(model, inputs, np.arange(encoded.num_rows), cfg, batch_size, device)
    return [detokenize([itos[i] for i in row]) for row in ids]


def table_perplexity(
    model: nn.Module,
    encoded: pa.Table,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    max_src_len: int | None = None,
) -> tuple[float, int]:
    device = pick_device(device) if isinstance(device, str) else device
    model.to(device)
    nll, tokens = nll_sum(
        model, PairInputs(encoded, max_src_len or None), np.arange(encoded.num_rows), batch_size, device
    )
    return (perplexity(nll, tokens) if tokens else math.nan), tokens
