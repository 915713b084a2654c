"""N2M tokenize: both sides of each pair -> morphemes with word-start marks.

Tokens are morphemes with SentencePiece-style word-start marks (tasks/n2m/spacing.py), so a generated
answer can be turned back into spaced Korean text.
"""

from __future__ import annotations

import pyarrow as pa


def tokenize_pairs(table: pa.Table, cfg: dict) -> tuple[pa.Table, dict]:
    """Both sides -> morphemes with word-start marks: `src_tokens` (question) and `tgt_tokens` (answer)."""
    from tasks.n2m.spacing import spaced_tokens

    src = spaced_tokens(table.column("question").to_pylist(), cfg)
    tgt = spaced_tokens(table.column("answer").to_pylist(), cfg)
    out = table.append_column("src_tokens", pa.array(src, pa.list_(pa.string())))
    out = out.append_column("tgt_tokens", pa.array(tgt, pa.list_(pa.string())))
    report = {
        "rows_in": table.num_rows,
        "rows_kept": out.num_rows,
        "rows_quarantined": 0,
        "tagger": cfg["tagger"],
        "src_tokens_total": sum(map(len, src)),
        "tgt_tokens_total": sum(map(len, tgt)),
        "src_tokens_max": max(map(len, src), default=0),
        "tgt_tokens_max": max(map(len, tgt), default=0),
        "rows_without_tokens": sum(1 for a, b in zip(src, tgt) if not a or not b),
    }
    return out, report
