"""Sequence (n) to sequence (m): a question in, an answer out (attentive RNN encoder-decoder).

Token ids: tgt_in = <bos> y1 .. yn and tgt_out = y1 .. yn <eos>, both padded with pad_id. Decoding
returns y1 .. yn only (no bos, no eos). Attention:
- "bahdanau" (additive): the previous decoder state queries the source before each step, so the
  decoder runs step by step even under teacher forcing;
- "luong" (general, without input feeding): the decoder RNN runs over the whole target at once and
  attention follows in one batched product, which makes training noticeably faster on CPU.
Both end in a tanh projection to emb_dim, so the output layer can share the target embedding
(tie_embeddings) whatever hidden_dim is.

With "copy" (a pointer-generator, See et al. 2017) each step mixes the output distribution with the
attention weights over source tokens: p = g * softmax(logits) + (1 - g) * attention summed per token.
A retrieved answer in the source (tasks/retrieval.py) can then be reproduced word for word, which a
decoder that must regenerate every token from its own vocabulary learns slowly. `copy_map` gives the
target id of every source id (<unk> where the answer vocabulary lacks it); copying models return
log-probabilities where others return logits, which the loss and decoding treat alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from models.encoders import BiLSTMEncoder, ModelConfig, TokenEmbedding

ENCODERS = ("bilstm", "bigru")
RNNS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong")
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class N2MConfig(ModelConfig):
    src_vocab_size: int
    tgt_vocab_size: int
    pad_id: int
    bos_id: int
    eos_id: int
    emb_dim: int = 256
    hidden_dim: int = 256
    num_layers: int = 1
    dropout: float = 0.2
    encoder: str = "bilstm"  # or "bigru"
    rnn: str = "gru"  # decoder cell: "gru" or "lstm"
    attention: str = "bahdanau"  # or "luong"
    # One vocabulary and one embedding for question and answer (src_vocab_size == tgt_vocab_size).
    shared_vocab: bool = False
    # Output layer reuses the target embedding matrix (Press & Wolf 2017): fewer parameters, which
    # small dialogue corpora need more than capacity.
    tie_embeddings: bool = False
    label_smoothing: float = 0.0
    copy: bool = False
    copy_map: list[int] | None = None  # with copy: target id per source id (None: shared vocabulary, ids are the same)
    unk_id: int = 1

    required_from = "the vocabularies"

    def check(self) -> None:
        for key, choices in (("encoder", ENCODERS), ("rnn", RNNS), ("attention", ATTENTIONS)):
            if getattr(self, key) not in choices:
                raise ValueError(f"unknown {key} {getattr(self, key)!r}; choose one of {list(choices)}")
        if self.copy_map is not None:
            if len(self.copy_map) != self.src_vocab_size:
                raise ValueError(
                    f"copy_map has {len(self.copy_map)} ids for {self.src_vocab_size} "
                    "source tokens: rebuild it from the vocabularies"
                )
        elif self.copy and not self.shared_vocab:
            raise ValueError("copy with separate vocabularies needs copy_map (target id per source id)")
        if self.shared_vocab and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                f"shared_vocab needs one vocabulary, but src_vocab_size is {self.src_vocab_size} "
                f"and tgt_vocab_size {self.tgt_vocab_size}; build one vocabulary or set "
                "shared_vocab false"
            )
        specials = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        if len(set(specials.values())) < 3 or not all(0 <= v < self.tgt_vocab_size for v in specials.values()):
            raise ValueError(
                f"pad_id, bos_id and eos_id must be distinct ids below tgt_vocab_size "
                f"({self.tgt_vocab_size}), got {specials}"
            )
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")


class SourceMemory(NamedTuple):
    """EncoderOutput plus the target ids of the source tokens, which the copy distribution needs."""

    states: torch.Tensor
    mask: torch.Tensor
    last: torch.Tensor | None = None
    copy_ids: torch.Tensor | None = None  # [B, S]


class BiGRUEncoder(BiLSTMEncoder):
    """BiLSTMEncoder's padding-safe flip trick with GRU cells (nn.GRU returns (out, h) like nn.LSTM)."""

    def __init__(self, input_dim: int, hidden_dim: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__(input_dim, hidden_dim, num_layers, dropout)
        dims = [input_dim] + [2 * hidden_dim] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(nn.GRU(d, hidden_dim, batch_first=True) for d in dims)
        self.backward_layers = nn.ModuleList(nn.GRU(d, hidden_dim, batch_first=True) for d in dims)


class Seq2Seq(nn.Module):
    architecture = "n2m.Seq2Seq"

    def __init__(self, config: dict[str, Any] | N2MConfig):
        super().__init__()
        self.cfg = c = N2MConfig.from_dict(config)
        self.config = c.as_dict()  # a plain dict: model_config.json, and what callers read
        hidden, emb = c.hidden_dim, c.emb_dim
        self.src_embedding = TokenEmbedding(c.src_vocab_size, emb, c.dropout, padding_idx=c.pad_id)
        self.tgt_embedding = (
            self.src_embedding
            if c.shared_vocab
            else TokenEmbedding(c.tgt_vocab_size, emb, c.dropout, padding_idx=c.pad_id)
        )
        encoder_cls = BiLSTMEncoder if c.encoder == "bilstm" else BiGRUEncoder
        self.encoder = encoder_cls(emb, hidden, c.num_layers, c.dropout)
        enc_dim = self.encoder.out_dim
        # The encoder summary starts the decoder; a question's gist is known before the first word.
        self.bridge = nn.Linear(enc_dim, hidden * c.num_layers)
        rnn_cls = nn.GRU if c.rnn == "gru" else nn.LSTM
        rnn_in = emb + enc_dim if c.attention == "bahdanau" else emb
        self.decoder = rnn_cls(
            rnn_in, hidden, c.num_layers, batch_first=True, dropout=c.dropout if c.num_layers > 1 else 0.0
        )
        if c.attention == "bahdanau":
            self.attn_keys = nn.Linear(enc_dim, hidden, bias=False)
            self.attn_query = nn.Linear(hidden, hidden)
            self.attn_v = nn.Linear(hidden, 1, bias=False)
            self.pre_output = nn.Linear(hidden + enc_dim + emb, emb)
        else:
            self.attn_keys = nn.Linear(enc_dim, hidden, bias=False)
            self.pre_output = nn.Linear(hidden + enc_dim, emb)
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(emb, c.tgt_vocab_size)
        if c.tie_embeddings:
            self.output.weight = self.tgt_embedding.embedding.weight
        if c.copy:
            if c.attention != "luong":
                raise ValueError("copy needs luong attention (its weights come from one batched product)")
            self.copy_gate = nn.Linear(hidden + enc_dim + emb, 1)
            table = torch.tensor(c.copy_map if c.copy_map is not None else range(c.src_vocab_size))
            self.register_buffer("copy_map", table.long(), persistent=False)

    # ------------------------------------------------------------ encoder and one decoder step

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[SourceMemory, torch.Tensor, State]:
        """(encoder output, precomputed attention keys, initial decoder state)."""
        out = self.encoder(self.src_embedding(src), src_lengths)
        enc = SourceMemory(out.states, out.mask, out.last, self.copy_map[src] if self.cfg.copy else None)
        layers, hidden = self.cfg.num_layers, self.cfg.hidden_dim
        h0 = torch.tanh(self.bridge(enc.last)).view(-1, layers, hidden).transpose(0, 1).contiguous()
        state: State = (h0, torch.zeros_like(h0)) if self.cfg.rnn == "lstm" else h0
        return enc, self.attn_keys(enc.states), state

    def _attend(
        self, query: torch.Tensor, keys: torch.Tensor, enc: SourceMemory, with_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Context [B, Tq, enc_dim] for queries [B, Tq, hidden] (and the weights [B, Tq, S]); padding gets 0."""
        if self.cfg.attention == "bahdanau":
            scores = self.attn_v(torch.tanh(keys.unsqueeze(1) + self.attn_query(query).unsqueeze(2))).squeeze(-1)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))
        weights = torch.softmax(scores.masked_fill(~enc.mask.unsqueeze(1), float("-inf")), dim=-1)
        context = torch.bmm(weights, enc.states)
        return (context, weights) if with_weights else context

    def _top(self, state: State) -> torch.Tensor:
        return (state[0] if isinstance(state, tuple) else state)[-1]

    def _decode(
        self, tgt_in: torch.Tensor, state: State, enc: SourceMemory, keys: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """Logits [B, T, V] (log-probabilities when copying) for target inputs [B, T] and the state after them."""
        emb = self.tgt_embedding(tgt_in)
        if self.cfg.attention == "luong":
            out, state = self.decoder(emb, state)
            context, weights = self._attend(out, keys, enc, with_weights=True)
            pre = torch.cat([out, context], dim=-1)
            if self.cfg.copy:
                logits = self.output(self.dropout(torch.tanh(self.pre_output(pre))))
                return self._with_copy(logits, weights, torch.cat([pre, emb], dim=-1), enc.copy_ids), state
        else:
            steps = []
            for t in range(tgt_in.size(1)):
                context = self._attend(self._top(state).unsqueeze(1), keys, enc)
                out, state = self.decoder(torch.cat([emb[:, t : t + 1], context], dim=-1), state)
                steps.append(torch.cat([out, context, emb[:, t : t + 1]], dim=-1))
            pre = torch.cat(steps, dim=1)
        return self.output(self.dropout(torch.tanh(self.pre_output(pre)))), state

    def _with_copy(
        self, logits: torch.Tensor, weights: torch.Tensor, features: torch.Tensor, copy_ids: torch.Tensor
    ) -> torch.Tensor:
        """log(g * softmax(logits) + (1 - g) * copy distribution), [B, T, V]."""
        gate = torch.sigmoid(self.copy_gate(features))  # [B, T, 1]: how much to generate rather than copy
        copied = torch.zeros_like(logits, dtype=torch.float).scatter_add_(
            2, copy_ids.unsqueeze(1).expand(-1, weights.size(1), -1), weights.float()
        )
        probs = gate * torch.softmax(logits.float(), dim=-1) + (1 - gate) * copied
        return torch.log(probs.clamp_min(1e-12))

    # ------------------------------------------------------------ training

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits [B, T, tgt_vocab_size]; rows at padded positions are junk the loss ignores."""
        enc, keys, state = self.encode(src, src_lengths)
        logits, _ = self._decode(tgt_in, state, enc, keys)
        return logits

    def loss(
        self, logits: torch.Tensor, tgt_out: torch.Tensor, label_smoothing: float | None = None, reduction: str = "mean"
    ) -> torch.Tensor:
        """Cross-entropy over real target tokens (pad ignored); reduction "sum" gives the NLL for perplexity."""
        smoothing = self.cfg.label_smoothing if label_smoothing is None else float(label_smoothing)
        return F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)),
            tgt_out.reshape(-1),
            ignore_index=self.cfg.pad_id,
            label_smoothing=smoothing,
            reduction=reduction,
        )

    # ------------------------------------------------------------ decoding

    def _next_logprobs(
        self,
        logits: torch.Tensor,
        history: torch.Tensor,
        step: int,
        min_len: int,
        no_repeat_ngram_size: int,
        repetition_penalty: float,
    ) -> torch.Tensor:
        """Log-probabilities [N, V] after the decoding rules; history [N, step] holds generated ids."""
        c = self.cfg
        logits = logits.float().clone()
        if repetition_penalty != 1.0 and step > 0:
            # CTRL (Keskar et al. 2019): make every already generated token less likely, whatever its sign.
            seen = logits.gather(1, history)
            logits.scatter_(1, history, torch.where(seen > 0, seen / repetition_penalty, seen * repetition_penalty))
        banned = torch.zeros_like(logits, dtype=torch.bool)
        banned[:, [c.pad_id, c.bos_id]] = True
        if step < min_len:
            banned[:, c.eos_id] = True
        if no_repeat_ngram_size > 0:
            banned |= _repeated_ngram_ban(history, no_repeat_ngram_size, logits.size(1))
        # A row with every token banned (tiny vocabulary, min_len past what no-repeat allows) may end:
        # stopping early beats emitting pad from an all -inf row.
        banned[banned.all(-1), c.eos_id] = False
        return torch.log_softmax(logits.masked_fill(banned, float("-inf")), dim=-1)

    @torch.no_grad()
    def greedy(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        max_len: int = 40,
        min_len: int = 0,
        no_repeat_ngram_size: int = 0,
        repetition_penalty: float = 1.0,
    ) -> list[list[int]]:
        """The most likely next token at every step, batched; ids without bos/eos, at most max_len each."""
        was_training = self.training
        self.eval()  # dropout would make decoding random
        try:
            c = self.cfg
            enc, keys, state = self.encode(src, src_lengths)
            batch = src.size(0)
            prev = torch.full((batch,), c.bos_id, dtype=torch.long, device=src.device)
            history = torch.zeros((batch, 0), dtype=torch.long, device=src.device)
            done = torch.zeros(batch, dtype=torch.bool, device=src.device)
            for step in range(max_len):
                logits, state = self._decode(prev.unsqueeze(1), state, enc, keys)
                logp = self._next_logprobs(
                    logits[:, 0], history, step, min_len, no_repeat_ngram_size, repetition_penalty
                )
                prev = torch.where(done, c.eos_id, logp.argmax(-1))
                history = torch.cat([history, prev.unsqueeze(1)], dim=1)
                done |= prev == c.eos_id
                if bool(done.all()):
                    break
            return [_until_eos(row, c.eos_id) for row in history.tolist()]
        finally:
            self.train(was_training)

    @torch.no_grad()
    def beam_search(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        beam_width: int = 5,
        max_len: int = 40,
        length_penalty: float = 0.6,
        no_repeat_ngram_size: int = 0,
        min_len: int = 0,
        repetition_penalty: float = 1.0,
    ) -> list[list[int]]:
        """Best hypothesis per sentence, all sentences' beams in one batch; ids without bos/eos.

        Finished hypotheses are ranked by log p / lp with GNMT's lp = ((5 + len) / 6) ** alpha, len counting
        eos; alpha = length_penalty (0: raw log-probability, which favours short answers). A sentence stops
        once it has beam_width finished hypotheses (fairseq-style early stop); at max_len the live beams
        join the finished ones. beam_width 1 gives exactly the greedy answer.
        """
        if beam_width < 1:
            raise ValueError(f"beam_width must be >= 1, got {beam_width}")
        was_training = self.training
        self.eval()
        try:
            return self._beam(
                src, src_lengths, beam_width, max_len, length_penalty, no_repeat_ngram_size, min_len, repetition_penalty
            )
        finally:
            self.train(was_training)

    def _beam(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        k: int,
        max_len: int,
        alpha: float,
        no_repeat: int,
        min_len: int,
        rep_penalty: float,
    ) -> list[list[int]]:
        c = self.cfg
        eos, device = c.eos_id, src.device
        batch, vocab = src.size(0), c.tgt_vocab_size
        enc, keys, state = self.encode(src, src_lengths)
        # Every sentence's k beams sit next to each other: row b * k + j is beam j of sentence b.
        enc = SourceMemory(*(x.repeat_interleave(k, dim=0) if x is not None else None for x in enc))
        keys = keys.repeat_interleave(k, dim=0)
        state = _reorder(state, torch.arange(batch, device=device).repeat_interleave(k))
        scores = torch.full((batch, k), float("-inf"), device=device)
        scores[:, 0] = 0.0  # all beams start identical: keep one, or the first step picks k copies
        prev = torch.full((batch * k,), c.bos_id, dtype=torch.long, device=device)
        history = torch.zeros((batch * k, 0), dtype=torch.long, device=device)
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
        offsets = (torch.arange(batch, device=device) * k).unsqueeze(1)

        def lp(length: int) -> float:
            return ((5.0 + length) / 6.0) ** alpha

        for step in range(max_len):
            logits, state = self._decode(prev.unsqueeze(1), state, enc, keys)
            logp = self._next_logprobs(logits[:, 0], history, step, min_len, no_repeat, rep_penalty)
            total = (scores.view(-1, 1) + logp).view(batch, k * vocab)
            top_scores, top_index = total.topk(min(2 * k, k * vocab), dim=1)
            top_beam, top_token = top_index // vocab, top_index % vocab
            is_eos = top_token == eos
            # Finished: eos among the k best candidates (fairseq's rule; an eos ranked lower would have
            # displaced a better live beam).
            for b, j in (is_eos[:, :k] & torch.isfinite(top_scores[:, :k])).nonzero().tolist():
                if len(finished[b]) < k:
                    tokens = history[b * k + top_beam[b, j]].tolist()
                    finished[b].append((top_scores[b, j].item() / lp(step + 1), tokens))
            if all(len(f) >= k for f in finished):
                break
            # Live beams: the k best candidates that are not eos (at most k of the 2k are eos).
            live = top_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=1).indices
            scores = top_scores.gather(1, live)
            rows = (offsets + top_beam.gather(1, live)).view(-1)
            prev = top_token.gather(1, live).view(-1)
            history = torch.cat([history[rows], prev.unsqueeze(1)], dim=1)
            state = _reorder(state, rows)
        else:
            for b in range(batch):
                for j in range(k):
                    if len(finished[b]) < k and torch.isfinite(scores[b, j]):
                        finished[b].append((scores[b, j].item() / lp(max_len), history[b * k + j].tolist()))
        return [max(f, key=lambda h: h[0])[1] if f else [] for f in finished]


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids


def _reorder(state: State, rows: torch.Tensor) -> State:
    if isinstance(state, tuple):
        return tuple(s.index_select(1, rows) for s in state)  # type: ignore[return-value]
    return state.index_select(1, rows)


def _repeated_ngram_ban(history: torch.Tensor, n: int, vocab: int) -> torch.Tensor:
    """Bool [N, V]: tokens that would complete an n-gram already present in that row's history."""
    rows, length = history.shape
    banned = torch.zeros((rows, vocab), dtype=torch.bool, device=history.device)
    if length < n - 1 or length == 0:
        return banned
    if n == 1:
        return banned.scatter_(1, history, True)
    prefix = history[:, length - n + 1 :]  # the last n-1 tokens
    windows = history.unfold(1, n - 1, 1)[:, : length - n + 1]  # each earlier (n-1)-gram with a successor
    if windows.size(1) == 0:
        return banned
    hits = (windows == prefix.unsqueeze(1)).all(-1)
    counts = torch.zeros((rows, vocab), device=history.device)
    counts.scatter_add_(1, history[:, n - 1 :], hits.float())  # scatter_add: duplicate successors all count
    return counts > 0
