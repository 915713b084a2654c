"""Sequence (n) to one label (1): sentiment, topic, intent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from models.encoders import BiLSTMEncoder, CNNEncoder, ModelConfig, Pooling, TokenEmbedding, activation

ENCODERS = ("bilstm", "cnn")


@dataclass(frozen=True)
class N21Config(ModelConfig):
    vocab_size: int
    num_classes: int
    emb_dim: int = 128
    hidden_dim: int = 128
    num_layers: int = 1
    encoder: str = "bilstm"
    pooling: str = "max"
    activation: str = "relu"
    dropout: float = 0.3
    kernel_sizes: list[int] = field(default_factory=lambda: [2, 3, 4])
    # Hashed n-gram bag next to the encoder (0: off); must match encode.ngrams.buckets.
    ngram_buckets: int = 0
    ngram_dim: int = 64
    # concat: the bag vector joins the pooled states before the hidden layer;
    # separate: the bag has its own linear head whose logits are added (late fusion).
    ngram_head: str = "concat"

    required_from = "the vocabulary and label schema"

    def check(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {list(ENCODERS)}")
        if self.ngram_head not in ("concat", "separate"):
            raise ValueError(f"unknown ngram_head {self.ngram_head!r}; choose concat or separate")


class SequenceClassifier(nn.Module):
    architecture = "n21.SequenceClassifier"

    def __init__(self, config: dict[str, Any] | N21Config):
        super().__init__()
        self.cfg = c = N21Config.from_dict(config)
        self.config = c.as_dict()  # a plain dict: model_config.json, and what callers read
        self.embedding = TokenEmbedding(c.vocab_size, c.emb_dim, dropout=c.dropout)
        if c.encoder == "bilstm":
            self.encoder = BiLSTMEncoder(c.emb_dim, c.hidden_dim, c.num_layers, c.dropout)
        else:
            self.encoder = CNNEncoder(c.emb_dim, c.hidden_dim, c.kernel_sizes, c.num_layers, c.activation, c.dropout)
        self.pooling = Pooling(c.pooling, self.encoder.out_dim)
        features = self.pooling.out_dim
        if c.ngram_buckets > 0:
            # fastText-style: the mean of the row's n-gram vectors, next to the pooled states.
            self.ngrams = nn.EmbeddingBag(c.ngram_buckets + 1, c.ngram_dim, mode="mean", padding_idx=0)
            if c.ngram_head == "separate":
                self.ngram_output = nn.Linear(c.ngram_dim, c.num_classes)
            else:
                features += c.ngram_dim
        self.hidden = nn.Linear(features, c.hidden_dim)
        self.act = activation(c.activation)
        self.dropout = nn.Dropout(c.dropout)
        # Logits only: softmax lives in the loss (and in predict), where it is numerically safe.
        self.output = nn.Linear(c.hidden_dim, c.num_classes)

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
        if self.cfg.ngram_buckets > 0:
            if ngram_values is None or ngram_offsets is None:
                raise ValueError("this model was trained with n-gram features: pass ngram_values and ngram_offsets")
            bag = self.ngrams(ngram_values, ngram_offsets)
            if self.cfg.ngram_head == "concat":
                pooled, bag = torch.cat([pooled, bag], dim=-1), None
        pooled = self.dropout(pooled)
        logits = self.output(self.dropout(self.act(self.hidden(pooled))))
        if bag is not None:
            logits = logits + self.ngram_output(self.dropout(bag))
        return logits
