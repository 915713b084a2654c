"""Linear-chain CRF and constrained Viterbi decoding, in plain PyTorch.

Masks are assumed to be length prefixes (True on positions 0..len-1), which is what
`length_mask` produces. Tag constraints enter in two ways on purpose: training adds a
fixed -1e4 to disallowed transitions, so gradients stay finite; decoding masks them
with -inf, so no emission, however large, can buy an invalid sequence.
"""

from __future__ import annotations

import torch
from torch import nn

PENALTY = -1e4


def bio_constraints(tag_names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(allowed [K, K], allowed_start [K]) for BIO tags named "O", "B-XX", "I-XX".

    I-XX may follow only B-XX or I-XX and may not start a sequence. Names in angle
    brackets ("<pad>") are special: nothing may reach them, so they are never decoded.
    """
    k = len(tag_names)
    allowed = torch.ones(k, k, dtype=torch.bool)
    allowed_start = torch.ones(k, dtype=torch.bool)
    for j, name in enumerate(tag_names):
        if name.startswith("<") and name.endswith(">"):
            allowed[:, j] = False
            allowed_start[j] = False
        elif name.startswith("I-"):
            entity = name[2:]
            allowed[:, j] = torch.tensor([prev in (f"B-{entity}", f"I-{entity}") for prev in tag_names])
            allowed_start[j] = False
        elif name != "O" and not name.startswith("B-"):
            # A typo such as "B_PER" would otherwise silently lift every constraint on it.
            raise ValueError(f"tag {name!r} is not BIO: use 'O', 'B-TYPE', 'I-TYPE' or '<special>'")
    return allowed, allowed_start


class CRF(nn.Module):
    """Learned transition, start and end scores over K tags."""

    def __init__(self, num_tags: int, allowed: torch.Tensor | None = None, allowed_start: torch.Tensor | None = None):
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        allowed = _check_shape(allowed, (num_tags, num_tags), "allowed")
        allowed_start = _check_shape(allowed_start, (num_tags,), "allowed_start")
        # Not persistent: the constraints follow from the config (tag names), not from training.
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("allowed_start", allowed_start, persistent=False)

    def _soft_scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        trans = self.transitions + (~self.allowed).to(self.transitions.dtype) * PENALTY
        start = self.start + (~self.allowed_start).to(self.start.dtype) * PENALTY
        return trans, start

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of -log p(tags | emissions); rows with no real token add 0."""
        emissions = emissions.float()  # the forward recursion loses too much in half precision
        mask = mask.bool()
        trans, start = self._soft_scores()
        gold = _path_score(emissions, tags, mask, trans, start, self.end)
        log_z = _log_partition(emissions, mask, trans, start, self.end)
        nll = (log_z - gold) * mask[:, 0].to(emissions.dtype)
        return nll.mean()

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Viterbi best path per row, as long as that row's mask."""
        trans = self.transitions.masked_fill(~self.allowed, float("-inf"))
        start = self.start.masked_fill(~self.allowed_start, float("-inf"))
        return viterbi(emissions.float(), mask.bool(), trans, start, self.end)


def decode_constrained(
    emissions: torch.Tensor,
    mask: torch.Tensor,
    allowed: torch.Tensor | None = None,
    allowed_start: torch.Tensor | None = None,
) -> list[list[int]]:
    """Best valid path under per-token log-softmax scores with no learned transitions.

    For a softmax tagger this is the most probable sequence that obeys the constraints;
    without constraints it equals the per-token argmax.
    """
    k = emissions.size(-1)
    scores = torch.log_softmax(emissions.float(), dim=-1)
    allowed = _check_shape(allowed, (k, k), "allowed").to(scores.device)
    allowed_start = _check_shape(allowed_start, (k,), "allowed_start").to(scores.device)
    zeros = scores.new_zeros(k, k)
    trans = zeros.masked_fill(~allowed, float("-inf"))
    start = scores.new_zeros(k).masked_fill(~allowed_start, float("-inf"))
    return viterbi(scores, mask.bool(), trans, start, scores.new_zeros(k))


def viterbi(
    emissions: torch.Tensor, mask: torch.Tensor, trans: torch.Tensor, start: torch.Tensor, end: torch.Tensor
) -> list[list[int]]:
    """Batched Viterbi; loops over time only. Rows with an empty mask decode to []."""
    batch, max_len, k = emissions.shape
    if max_len == 0:
        return [[] for _ in range(batch)]
    score = start + emissions[:, 0]  # [B, K]
    # Padded steps point each tag at itself, so backtracking walks through padding
    # unchanged and reaches the last real position carrying the best final tag.
    stay = torch.arange(k, device=emissions.device).expand(batch, k)
    pointers = []
    for t in range(1, max_len):
        candidates = score.unsqueeze(2) + trans.unsqueeze(0)  # [B, from, to]
        best, back = candidates.max(dim=1)
        step = mask[:, t].unsqueeze(1)
        score = torch.where(step, best + emissions[:, t], score)
        pointers.append(torch.where(step, back, stay))
    last = (score + end).argmax(dim=1)
    path = [last]
    for back in reversed(pointers):
        last = back.gather(1, last.unsqueeze(1)).squeeze(1)
        path.append(last)
    tags = torch.stack(path[::-1], dim=1).tolist()
    lengths = mask.sum(dim=1).tolist()
    return [row[:n] for row, n in zip(tags, lengths)]


def _path_score(
    emissions: torch.Tensor,
    tags: torch.Tensor,
    mask: torch.Tensor,
    trans: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    # Padding may carry any id (-100, pad); zero it so indexing stays in range, the mask drops it.
    tags = tags.masked_fill(~mask, 0)
    weight = mask.to(emissions.dtype)
    emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
    score = start[tags[:, 0]] + (emitted * weight).sum(1)
    if tags.size(1) > 1:
        score = score + (trans[tags[:, :-1], tags[:, 1:]] * weight[:, 1:]).sum(1)
    last_index = (mask.sum(1) - 1).clamp(min=0)
    last_tag = tags.gather(1, last_index.unsqueeze(1)).squeeze(1)
    return score + end[last_tag]


def _log_partition(
    emissions: torch.Tensor, mask: torch.Tensor, trans: torch.Tensor, start: torch.Tensor, end: torch.Tensor
) -> torch.Tensor:
    alpha = start + emissions[:, 0]
    for t in range(1, emissions.size(1)):
        nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
    return torch.logsumexp(alpha + end, dim=1)


def _check_shape(flags: torch.Tensor | None, shape: tuple[int, ...], name: str) -> torch.Tensor:
    if flags is None:
        return torch.ones(shape, dtype=torch.bool)
    flags = torch.as_tensor(flags, dtype=torch.bool)
    if tuple(flags.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(flags.shape)}, expected {shape}")
    return flags
