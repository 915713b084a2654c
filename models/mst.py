"""Maximum spanning arborescence (Chu-Liu/Edmonds) with exactly one child of the root.

A dependency tree in UD and KLUE has one word attached to the root, but the unconstrained maximum
arborescence often hangs several words off it. The fix used here (Gabow & Tarjan 1984; Zmigrod et al.
2020, "Please Mind the Root") is exact and needs one run: every root edge is lowered by a constant
larger than any possible score difference between two trees, so the best tree uses as few root edges
as possible (one is always possible), and among one-root trees the order of scores is unchanged.
"""

from __future__ import annotations

import numpy as np


def chu_liu_edmonds(scores: np.ndarray) -> np.ndarray:
    """Heads [n] (values 0..n, 0 = root) of the best tree over scores [n+1, n+1], scores[h, d] = head h of d.

    Row/column 0 is the root. The diagonal and column 0 are ignored. -inf marks a forbidden edge; it is
    used only if no tree avoids it, so the result is always one well-formed tree with one root child.
    """
    s = np.array(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 1:
        raise ValueError(f"scores must be a square [n+1, n+1] matrix, got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; check the model output (a NaN loss or an all-masked row?)")
    n = s.shape[0] - 1
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    allowed = ~np.eye(n + 1, dtype=bool)
    allowed[:, 0] = False
    finite = np.isfinite(s) & allowed
    lo, hi = (s[finite].min(), s[finite].max()) if finite.any() else (0.0, 0.0)
    span = hi - lo + 1.0
    # A forbidden edge costs more than any tree of allowed edges can gain, so it only fills a gap.
    s[allowed & ~finite & (s < 0)] = lo - (n + 1) * span
    s[allowed & ~finite & (s > 0)] = hi  # +inf: take it, but keep the arithmetic finite
    lo = min(lo, s[allowed].min())
    s[0, 1:] -= (n + 1) * (s[allowed].max() - lo + 1.0)  # the single-root penalty
    s[~allowed] = -np.inf
    heads = _cle(s)
    return heads[1:].astype(np.int64)


def _cle(s: np.ndarray) -> np.ndarray:
    """Heads [m] (heads[0] = -1) of the max arborescence rooted at node 0; s[h, d], -inf on the diagonal/col 0."""
    m = s.shape[0]
    heads = s.argmax(axis=0)
    heads[0] = -1
    cycle = _find_cycle(heads)
    if cycle is None:
        return heads
    in_cycle = np.zeros(m, dtype=bool)
    in_cycle[cycle] = True
    rest = np.flatnonzero(~in_cycle)  # node 0 first: the root is never in a cycle
    cyc = np.asarray(cycle)
    k = len(rest)
    # Contract the cycle into node k. Entering it at v breaks v's cycle edge: score relative to that edge.
    enter = s[np.ix_(rest, cyc)] - s[heads[cyc], cyc][None, :]
    leave = s[np.ix_(cyc, rest)]
    sub = np.full((k + 1, k + 1), -np.inf)
    sub[:k, :k] = s[np.ix_(rest, rest)]
    sub[:k, k] = enter.max(axis=1)
    sub[k, :k] = leave.max(axis=0)
    sub[:, 0] = -np.inf
    sub_heads = _cle(sub)
    out = heads.copy()  # cycle members keep their cycle heads except the entry point
    best_enter, best_leave = enter.argmax(axis=1), leave.argmax(axis=0)
    for j in range(1, k):
        h = sub_heads[j]
        out[rest[j]] = rest[h] if h < k else cyc[best_leave[j]]
    u = sub_heads[k]
    out[cyc[best_enter[u]]] = rest[u]
    return out


def _find_cycle(heads: np.ndarray) -> list[int] | None:
    m = len(heads)
    state = np.zeros(m, dtype=np.int8)  # 0 unseen, 1 on the current path, 2 done
    state[0] = 2
    for start in range(1, m):
        path = []
        node = start
        while state[node] == 0:
            state[node] = 1
            path.append(node)
            node = int(heads[node])
        if state[node] == 1:
            return path[path.index(node) :]
        for p in path:
            state[p] = 2
    return None


def tree_score(scores: np.ndarray, heads: np.ndarray) -> float:
    """Sum of scores[h, d] over the tree's edges (d = 1..n)."""
    heads = np.asarray(heads)
    return float(np.asarray(scores, dtype=np.float64)[heads, np.arange(1, len(heads) + 1)].sum())
