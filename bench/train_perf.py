"""N21 training throughput: length-bucketed batches against a padded-to-max baseline, and 1 vs 2 threads.

    python -m bench.train_perf --datasets ../shared/datasets --train-rows 8000 --epochs 2

prepares NSMC (`ratings_train_small.txt`, the n21_nsmc benchmark entry's overlay, seed 13) through the
real ingest/tokenize/encode stages into data/bench/perf_n21 (reused while its params are unchanged), then
measures and writes reports/train_perf.json. Both measurements interleave what they compare in one
process, so a change in machine load hits both sides alike; the load average is recorded with them.
Both sides run the same training loop (this file's `train_epoch`); only the batches differ.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch
from torch import nn

WORK_DIR = Path("data/bench/perf_n21")  # ignored by git, as the bench work dirs are
STAMP = "perf_prepared.json"


def prepare_nsmc(
    datasets: Path,
    params_file: Path = Path("params.yaml"),
    work_dir: Path = WORK_DIR,
    log: Callable[[str], Any] = print,
) -> dict:
    """The n21 params section for NSMC with its encoded table in `work_dir` (built when missing or stale)."""
    from bench.overlays import entry_overrides, load_overlay
    from flows.pipeline import run_stage
    from tasks import io
    from tasks.params import load_params

    overrides = entry_overrides(load_overlay("n21_nsmc"), datasets, seed=13, work_dir=work_dir)
    section = load_params(params_file, overrides)["n21"]
    if not Path(section["data"]["path"]).exists():
        raise FileNotFoundError(f"{section['data']['path']} not found (--datasets)")
    key = json.dumps({k: section[k] for k in ("data", "tokenize", "encode")}, sort_keys=True, default=str)
    stamp = work_dir / STAMP
    if (work_dir / "encoded.parquet").exists() and stamp.exists() and io.read_json(stamp).get("key") == key:
        return section
    for stage in ("ingest", "tokenize", "encode"):
        log(f"train_perf: {stage} {section['data']['path']} …")
        run_stage("n21", stage, section)
    io.write_json({"key": key}, stamp)
    return section


def model_config_for(section: dict, encoded: pa.Table) -> dict:
    """The model flows/n21.py's train stage builds, sized from this encoded table."""
    from tasks import io

    cfg = section["train"]
    return {
        "architecture": "n21.SequenceClassifier",
        "vocab_size": len(io.read_json(Path(section["work_dir"]) / "vocab.json")["itos"]),
        "num_classes": int(np.max(encoded.column("label_id").to_numpy())) + 1,
        **{
            k: cfg[k]
            for k in (
                "encoder",
                "pooling",
                "activation",
                "emb_dim",
                "hidden_dim",
                "num_layers",
                "kernel_sizes",
                "dropout",
            )
        },
        "ngram_buckets": int((section["encode"].get("ngrams") or {}).get("buckets", 0)),
        "ngram_dim": int(cfg.get("ngram_dim", 64)),
    }


def adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW as the N21 trainer builds it: the fused kernel where torch has one for this device."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def batch_inputs(inputs, index: np.ndarray, width: int | None, cfg: dict) -> list[torch.Tensor]:
    """The model's inputs for one batch, padded to its own longest row (width None) or to `width`, with the
    trainer's token and n-gram dropout."""
    from tasks.vocab import UNK

    ids, lengths = inputs.tokens.batch(index, width)
    token_dropout, ngram_dropout = float(cfg.get("token_dropout", 0.0)), float(cfg.get("ngram_dropout", 0.0))
    if token_dropout > 0:
        ids = ids.masked_fill((torch.rand(ids.shape) < token_dropout) & (ids > UNK), UNK)
    args = [ids, lengths]
    if inputs.ngrams is not None:
        values, offsets = inputs.ngrams.bag(index)
        if ngram_dropout > 0:  # id 0 is the bag's padding: a dropped n-gram is simply not there
            values = values.masked_fill(torch.rand(values.shape) < ngram_dropout, 0)
        args.extend((values, offsets))
    return args


def train_epoch(
    model: nn.Module,
    inputs,
    labels: np.ndarray,
    batches: list[np.ndarray],
    optimizer: torch.optim.Optimizer,
    cfg: dict,
    width: int | None,
) -> tuple[int, int]:
    """One pass over `batches`; returns the real tokens and the rows seen."""
    loss_fn, grad_clip = nn.CrossEntropyLoss(), float(cfg.get("grad_clip", 0.0))
    model.train()
    tokens = rows = 0
    for index in batches:
        args = batch_inputs(inputs, index, width, cfg)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(*args), torch.from_numpy(labels[index])).backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        tokens += int(args[1].sum())
        rows += len(index)
    return tokens, rows


class _Run:
    """One model and its optimizer, trained an epoch at a time with a given batching."""

    def __init__(self, name: str, model_config: dict, cfg: dict, seed: int):
        from tasks.model_dir import build_model
        from tasks.training import seed_everything

        seed_everything(seed)  # same seed: both runs start from the same weights
        self.name, self.cfg, self.ngrams = name, cfg, int(model_config.get("ngram_buckets", 0)) > 0
        self.model = build_model(model_config)
        self.optimizer = adamw(self.model, float(cfg.get("lr", 2e-3)), float(cfg.get("weight_decay", 0.0)))
        self.shuffler = torch.Generator().manual_seed(seed)
        self.seconds: list[float] = []
        self.rows = self.tokens = self.padded_positions = 0
        self.dev_curve: list[float] = []
        self.stopper = None

    def epoch(self, inputs, labels: np.ndarray, train_idx: np.ndarray, pad_to: int | None) -> float:
        from tasks.training import bucket_batches

        batch_size = int(self.cfg.get("batch_size", 64))
        if pad_to is None:  # hanflow's batches: similar lengths, each padded to its own longest row
            order = bucket_batches(inputs.lengths[train_idx], batch_size, self.shuffler)
        else:  # the baseline: random batches, every one padded to the dataset's longest row
            perm = torch.randperm(len(train_idx), generator=self.shuffler).numpy()
            order = [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]
        batches = [train_idx[b] for b in order]
        started = time.perf_counter()
        tokens, rows = train_epoch(self.model, inputs, labels, batches, self.optimizer, self.cfg, pad_to)
        seconds = time.perf_counter() - started
        self.seconds.append(seconds)
        self.rows += rows
        self.tokens += tokens
        self.padded_positions += sum(len(b) * (pad_to or int(inputs.lengths[b].max())) for b in batches)
        return seconds

    def accuracy(self, encoded: pa.Table, labels: np.ndarray, index: np.ndarray) -> float:
        from tasks.n21.train import predict_classifier

        ngrams = encoded.column("ngram_ids").take(index) if self.ngrams else None
        pred, _ = predict_classifier(
            self.model, encoded.column("ids").take(index), 256, "cpu", int(self.cfg.get("max_len", 0)) or None, ngrams
        )
        return float((pred == labels[index]).mean())

    def track_dev(self, encoded: pa.Table, labels: np.ndarray, dev_idx: np.ndarray) -> None:
        """Dev accuracy after this epoch (untimed); the best epoch's weights are kept, as train_classifier does."""
        from tasks.training import EarlyStopping

        self.stopper = self.stopper or EarlyStopping(0)
        self.dev_curve.append(self.accuracy(encoded, labels, dev_idx))
        self.stopper.update(self.model, self.dev_curve[-1], len(self.dev_curve))

    def summary(self, encoded: pa.Table, labels: np.ndarray, test_idx: np.ndarray) -> dict:
        self.stopper.restore(self.model)
        return {
            "sentences_per_s": round(self.rows / sum(self.seconds), 1),
            "epoch_seconds": [round(s, 2) for s in self.seconds],
            "padding_share": round(1 - self.tokens / max(1, self.padded_positions), 3),
            "dev_accuracy_per_epoch": [round(a, 4) for a in self.dev_curve],
            "best_epoch": self.stopper.best_epoch,
            "best_dev_accuracy": round(self.stopper.best, 4),
            "test_accuracy": round(self.accuracy(encoded, labels, test_idx), 4),
        }


def _splits(encoded: pa.Table, train_rows: int | None, seed: int) -> dict[str, np.ndarray]:
    split = np.asarray(encoded.column("split").to_numpy(zero_copy_only=False)).astype(str)
    out = {name: np.flatnonzero(split == name) for name in ("train", "dev", "test")}
    if train_rows and train_rows < len(out["train"]):
        rng = np.random.default_rng(seed)
        out["train"] = np.sort(rng.choice(out["train"], size=train_rows, replace=False))
    return out


def n21_throughput(
    encoded: pa.Table,
    model_config: dict,
    cfg: dict,
    epochs: int = 2,
    train_rows: int | None = None,
    threads: int = 1,
    log: Callable[[str], Any] = print,
) -> dict:
    """Sentences/s of N21 training with length-bucketed batches and with the padded-to-max baseline.

    Same model, same initial weights, same epochs, same batch size; the two alternate epoch by epoch
    (the order flips each epoch) so that load changes hit both. Dev accuracy is measured after every
    epoch (not timed); test accuracy is that of the best dev epoch, the weights train_classifier keeps.
    """
    from tasks.n21.train import ModelInputs

    torch.set_num_threads(threads)
    seed = int(cfg.get("seed", 13))
    idx = _splits(encoded, train_rows, seed)
    inputs = ModelInputs.from_table(encoded, model_config, int(cfg.get("max_len", 0)) or None)
    labels = encoded.column("label_id").to_numpy().astype(np.int64)
    width = int(inputs.lengths.max())
    # Untimed warm-up (allocator, kernels, page cache), so that neither side pays for it.
    _Run("warm-up", model_config, cfg, seed).epoch(
        inputs, labels, idx["train"][: 10 * int(cfg.get("batch_size", 64))], width
    )
    runs = {"bucketed": _Run("bucketed", model_config, cfg, seed), "padded": _Run("padded", model_config, cfg, seed)}
    load_before = os.getloadavg()
    for epoch in range(epochs):
        for name in ("bucketed", "padded") if epoch % 2 == 0 else ("padded", "bucketed"):
            seconds = runs[name].epoch(inputs, labels, idx["train"], None if name == "bucketed" else width)
            runs[name].track_dev(encoded, labels, idx["dev"])
            log(f"train_perf: epoch {epoch + 1} {name}: {seconds:.1f}s, dev accuracy {runs[name].dev_curve[-1]:.4f}")
    result: dict[str, Any] = {
        "train_rows": len(idx["train"]),
        "dev_rows": len(idx["dev"]),
        "test_rows": len(idx["test"]),
        "epochs": epochs,
        "threads": threads,
        "batch_size": int(cfg.get("batch_size", 64)),
        "padded_width": width,
    }
    for name, run in runs.items():
        result[name] = run.summary(encoded, labels, idx["test"])
    result["ratio"] = round(result["bucketed"]["sentences_per_s"] / result["padded"]["sentences_per_s"], 2)
    result["load_average"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    return result


def thread_comparison(
    encoded: pa.Table,
    model_config: dict,
    cfg: dict,
    train_rows: int | None = None,
    counts: tuple[int, ...] = (1, 2),
    repeats: int = 2,
    log: Callable[[str], Any] = print,
) -> dict:
    """Seconds of one bucketed N21 epoch (fresh model, same seed) per thread count, interleaved `repeats` times."""
    from tasks.n21.train import ModelInputs

    seed = int(cfg.get("seed", 13))
    idx = _splits(encoded, train_rows, seed)
    inputs = ModelInputs.from_table(encoded, model_config, int(cfg.get("max_len", 0)) or None)
    labels = encoded.column("label_id").to_numpy().astype(np.int64)
    seconds: dict[int, list[float]] = {n: [] for n in counts}
    load_before = os.getloadavg()
    for repeat in range(repeats):
        for n in counts if repeat % 2 == 0 else tuple(reversed(counts)):
            torch.set_num_threads(n)
            seconds[n].append(_Run(f"threads={n}", model_config, cfg, seed).epoch(inputs, labels, idx["train"], None))
            log(f"train_perf: {n} thread(s), one epoch: {seconds[n][-1]:.1f}s")
    out: dict[str, Any] = {
        "train_rows": len(idx["train"]),
        "repeats": repeats,
        "epoch_seconds": {str(n): [round(s, 2) for s in v] for n, v in seconds.items()},
        "median_epoch_seconds": {str(n): round(statistics.median(v), 2) for n, v in seconds.items()},
        "cpu_count": os.cpu_count(),
    }
    out["load_average"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR)
    parser.add_argument("--train-rows", type=int, default=0, help="subsample the train split (0: all of it)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads for the batching comparison")
    parser.add_argument("--thread-repeats", type=int, default=2, help="0 skips the 1-vs-2-thread comparison")
    parser.add_argument("--thread-rows", type=int, default=2000, help="train rows per epoch in the thread comparison")
    parser.add_argument("--out", type=Path, default=Path("reports/train_perf.json"))
    args = parser.parse_args(argv)
    from tasks import io

    section = prepare_nsmc(args.datasets, args.params, args.work_dir)
    encoded = io.read_table(Path(section["work_dir"]) / "encoded.parquet")
    config, cfg = model_config_for(section, encoded), section["train"]
    result: dict[str, Any] = {
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "command": "python -m bench.train_perf " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    result["batching"] = n21_throughput(encoded, config, cfg, args.epochs, args.train_rows or None, args.threads)
    if args.thread_repeats:
        result["threads"] = thread_comparison(
            encoded, config, cfg, args.thread_rows or None, repeats=args.thread_repeats
        )
    io.write_json(result, args.out)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main()
