"""Sequence (n) to one label (1): sentiment, topic, intent."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.encoders import BiLSTMEncoder, CNNEncoder, Pooling, TokenEmbedding, activation

DEFAULTS: dict[str, Any] = {
    "emb_dim": 128,
    "hidden_dim": 128,
    "num_layers": 1,
    "encoder": "bilstm",
    "pooling": "max",
    "activation": "relu",
    "dropout": 0.3,
    "kernel_sizes": [2, 3, 4],
    # Hashed n-gram bag next to the encoder (0: off); must match encode.ngrams.buckets.
    "ngram_buckets": 0,
    "ngram_dim": 64,
    # concat: the bag vector joins the pooled states before the hidden layer;
    # separate: the bag has its own linear head whose logits are added (late fusion).
    "ngram_head": "concat",
}
REQUIRED = ("vocab_size", "num_classes")
ENCODERS = ("bilstm", "cnn")


class SequenceClassifier(nn.Module):
    architecture = "n21.SequenceClassifier"

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = resolve_config(config)
        c = self.config
        self.embedding = TokenEmbedding(c["vocab_size"], c["emb_dim"], dropout=c["dropout"])
        if c["encoder"] == "bilstm":
            self.encoder = BiLSTMEncoder(c["emb_dim"], c["hidden_dim"], c["num_layers"], c["dropout"])
        else:
            self.encoder = CNNEncoder(
                c["emb_dim"], c["hidden_dim"], c["kernel_sizes"], c["num_layers"], c["activation"], c["dropout"]
            )
        self.pooling = Pooling(c["pooling"], self.encoder.out_dim)
        features = self.pooling.out_dim
        if c["ngram_buckets"] > 0:
            # fastText-style: the mean of the row's n-gram vectors, next to the pooled states.
            self.ngrams = nn.EmbeddingBag(c["ngram_buckets"] + 1, c["ngram_dim"], mode="mean", padding_idx=0)
            if c["ngram_head"] == "separate":
                self.ngram_output = nn.Linear(c["ngram_dim"], c["num_classes"])
            else:
                features += c["ngram_dim"]
        self.hidden = nn.Linear(features, c["hidden_dim"])
        self.act = activation(c["activation"])
        self.dropout = nn.Dropout(c["dropout"])
        # Logits only: softmax lives in the loss (and in predict), where it is numerically safe.
        self.output = nn.Linear(c["hidden_dim"], c["num_classes"])

    def forward(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        ngram_values: torch.Tensor | None = None,
        ngram_offsets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        enc = self.encoder(self.embedding(ids), lengths)
        pooled = self.pooling(enc)
        bag = None
        if self.config["ngram_buckets"] > 0:
            if ngram_values is None or ngram_offsets is None:
                raise ValueError("this model was trained with n-gram features: pass ngram_values and ngram_offsets")
            bag = self.ngrams(ngram_values, ngram_offsets)
            if self.config["ngram_head"] == "concat":
                pooled, bag = torch.cat([pooled, bag], dim=-1), None
        pooled = self.dropout(pooled)
        logits = self.output(self.dropout(self.act(self.hidden(pooled))))
        if bag is not None:
            logits = logits + self.ngram_output(self.dropout(bag))
        return logits


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and reject typos, so a saved model_config.json is complete and exact."""
    config = {k: v for k, v in config.items() if k != "architecture"}
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"model config lacks {missing}: they come from the vocabulary and label schema")
    unknown = sorted(set(config) - set(DEFAULTS) - set(REQUIRED))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; known: {sorted(set(DEFAULTS) | set(REQUIRED))}")
    resolved = {**DEFAULTS, **config}
    if resolved["encoder"] not in ENCODERS:
        raise ValueError(f"unknown encoder {resolved['encoder']!r}; choose one of {list(ENCODERS)}")
    if resolved["ngram_head"] not in ("concat", "separate"):
        raise ValueError(f"unknown ngram_head {resolved['ngram_head']!r}; choose concat or separate")
    resolved["kernel_sizes"] = [int(k) for k in resolved["kernel_sizes"]]
    for key in ("vocab_size", "num_classes", "emb_dim", "hidden_dim", "num_layers", "ngram_buckets", "ngram_dim"):
        resolved[key] = int(resolved[key])
    resolved["dropout"] = float(resolved["dropout"])
    return resolved
