"""The "class design review": one Markdown report per problem type, rendered here for all four.

The class_design stage feeds `design_review` (the schema's classes with their counts per split,
imbalance warnings, problem-specific notes) and `record_version` adds the label drift against the
previous data version; it writes `class_design.md`. After evaluation, the evaluate stage renders
the same review again with the most-confused class pairs appended, as `class_design_review.md`
(two files because a DVC output belongs to one stage).

Drift needs the previous version's distribution, which `dvc repro` would delete if it were a stage
output: it lives in `class_history.json` in the work dir, one entry per data version, not declared
to DVC.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pyarrow as pa

from tasks.splits import SPLITS

HISTORY_FILE = "class_history.json"
HISTORY_KEEP = 50


def data_version(table: pa.Table, columns: Iterable[str] | None = None) -> str:
    """Content hash of the data (12 hex digits): same rows, same version, wherever the file lies.

    `columns`: the columns that make the data (default: all but source_file, a path)."""
    names = [c for c in (columns or table.column_names) if c in table.column_names and c != "source_file"]
    data = table.select(names).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:12]


def design_review(
    problem: str,
    title: str,
    unit: str,
    classes: list[dict],
    warnings: list[str],
    cfg: dict,
    version: str,
    notes: Iterable[str] = (),
    sections: Iterable[dict] = (),
) -> dict:
    """The review's data: classes as [{id?, value, name, description, examples?, counts: {split: n}}]."""
    out = [
        {
            "id": c.get("id", i),
            "value": str(c["value"]),
            "name": str(c.get("name") or c["value"]),
            "description": str(c.get("description") or ""),
            "examples": list(c.get("examples") or []),
            "counts": {s: int(c["counts"].get(s, 0)) for s in SPLITS},
        }
        for i, c in enumerate(classes)
    ]
    return {
        "problem": problem,
        "title": title,
        "unit": unit,
        "schema_file": cfg.get("schema"),
        "data_version": version,
        "classes": out,
        "totals": {s: sum(c["counts"][s] for c in out) for s in SPLITS},
        "warnings": list(warnings),
        "notes": list(notes),
        "sections": list(sections),
        "drift_warn": float(cfg.get("drift_warn", 0.05)),
    }


# ---------------------------------------------------------------- drift


def version_entry(review: dict) -> dict:
    return {
        "data_version": review["data_version"],
        "schema_file": review["schema_file"],
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {c["value"]: sum(c["counts"].values()) for c in review["classes"]},
    }


def label_drift(previous: dict | None, current: dict, threshold: float) -> dict:
    """Per-class share of all rows (every split) in the previous and the current data version."""
    if previous is None:
        return {
            "previous_version": None,
            "current_version": current["data_version"],
            "threshold": threshold,
            "classes": [],
            "warnings": [],
        }
    before, now = Counter(previous["counts"]), Counter(current["counts"])
    total_before, total_now = sum(before.values()) or 1, sum(now.values()) or 1
    rows, warnings = [], []
    for value in [*now, *(v for v in before if v not in now)]:
        share_before, share_now = before[value] / total_before, now[value] / total_now
        change = share_now - share_before
        rows.append(
            {
                "value": value,
                "previous": before[value],
                "previous_share": round(share_before, 6),
                "current": now[value],
                "current_share": round(share_now, 6),
                "change": round(change, 6),
            }
        )
        if abs(change) > threshold:
            warnings.append(
                f"class {value!r} moved from {share_before:.1%} to {share_now:.1%} of the data "
                f"({100 * change:+.1f} points), past the drift_warn threshold of "
                f"{100 * threshold:.1f} points"
            )
    return {
        "previous_version": previous["data_version"],
        "previous_recorded": previous.get("recorded"),
        "current_version": current["data_version"],
        "threshold": threshold,
        "classes": rows,
        "warnings": warnings,
    }


def record_version(review: dict, history_path: str | Path) -> dict:
    """Set review["drift"] against the latest other data version in the history, then record this one."""
    from tasks import io

    history_path = Path(history_path)
    history = io.read_json(history_path) if history_path.is_file() else {"versions": []}
    current = version_entry(review)
    others = [v for v in history["versions"] if v["data_version"] != current["data_version"]]
    review["drift"] = label_drift(others[-1] if others else None, current, review["drift_warn"])
    review["drift"]["seen_before"] = len(others) < len(history["versions"])
    history["versions"] = [*others, current][-HISTORY_KEEP:]
    io.write_json(history, history_path)
    return review


def save_review(
    design: dict, review: dict, work_dir: str | Path, design_path: str | Path, markdown_path: str | Path
) -> dict:
    """The class_design stage's writes for every problem: drift against the history, then the design
    JSON (carrying the review) and the review Markdown. Returns the review."""
    from tasks import io

    design["review"] = record_version(review, Path(work_dir) / HISTORY_FILE)
    io.write_json(design, design_path)
    io.write_text(review_markdown(review), markdown_path)
    return design["review"]


# ---------------------------------------------------------------- confusions


def top_pairs(
    items: Iterable[tuple[str, str, str]], top_k: int = 5, max_examples: int = 3, support: dict | None = None
) -> list[dict]:
    """(gold, predicted, example) per error, best examples first -> the top_k pairs by count."""
    counts: Counter = Counter()
    examples: dict[tuple[str, str], list[str]] = {}
    for gold, pred, example in items:
        counts[(gold, pred)] += 1
        kept = examples.setdefault((gold, pred), [])
        if len(kept) < max_examples and example and example not in kept:
            kept.append(example)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return [
        {
            "gold": g,
            "predicted": p,
            "count": n,
            **({"share_of_gold": round(n / support[g], 4)} if support and support.get(g) else {}),
            "examples": examples[(g, p)],
        }
        for (g, p), n in ranked
    ]


def pairs_table(
    title: str, pairs: list[dict], unit: str, note: str = "", gold: str = "gold", predicted: str = "predicted"
) -> dict:
    """top_pairs' result as a review table."""
    share = any("share_of_gold" in p for p in pairs)
    columns = [gold, predicted, unit, *([f"share of {gold}"] if share else []), "examples"]
    rows = [
        [
            p["gold"],
            p["predicted"],
            p["count"],
            *([f"{p.get('share_of_gold', 0):.1%}"] if share else []),
            " ‖ ".join(p["examples"]),
        ]
        for p in pairs
    ]
    return {
        "title": title,
        "note": note or ("No errors of this kind." if not pairs else ""),
        "columns": columns,
        "rows": rows,
    }


# ---------------------------------------------------------------- Markdown


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(columns: list[str], rows: list[list], right: Iterable[int] = ()) -> list[str]:
    right = set(right)
    lines = [
        "| " + " | ".join(map(_cell, columns)) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(columns))) + "|",
    ]
    return lines + ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]


def _label(c: dict) -> str:
    return c["name"] if c["name"] == c["value"] else f"{c['name']} (`{c['value']}`)"


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "—"


def review_markdown(review: dict, evaluation: dict | None = None) -> str:
    """The class design review; with `evaluation` (after the evaluate stage) the confused pairs too."""
    totals, unit = review["totals"], review["unit"]
    schema = (
        f"schema `{review['schema_file']}`"
        if review.get("schema_file")
        else "no schema file (classes derived from the train split)"
    )
    n_classes = sum(1 for c in review["classes"] if c["id"] != "—")  # not N2M's "(none)"
    lines = [
        f"# Class design review — {review['problem']}: {review['title']}",
        "",
        f"Data version `{review['data_version']}` · {schema} · {n_classes} classes · {unit} "
        "per split: " + ", ".join(f"{s} {totals[s]}" for s in SPLITS),
        "",
        "## Classes",
        "",
    ]
    lines += _table(
        ["id", "value", "name", "description", "examples"],
        [
            [c["id"], f"`{c['value']}`", c["name"], c["description"], " ‖ ".join(c["examples"][:3])]
            for c in review["classes"]
        ],
    )
    lines += ["", "## Distribution per split", ""]
    lines += _table(
        ["class", *SPLITS, *(f"{s} share" for s in SPLITS)],
        [
            [_label(c), *(c["counts"][s] for s in SPLITS), *(_share(c["counts"][s], totals[s]) for s in SPLITS)]
            for c in review["classes"]
        ]
        + [["**total**", *(totals[s] for s in SPLITS), *(_share(totals[s], totals[s]) for s in SPLITS)]],
        right=range(1, 7),
    )
    lines += ["", *(f"{n}\n" for n in review["notes"]), "## Imbalance warnings", ""]
    lines += [f"- {_cell(w)}" for w in review["warnings"]] or ["None."]
    lines += ["", "## Label drift against the previous data version", "", *drift_lines(review.get("drift"))]
    for section in review["sections"]:
        lines += ["", f"## {section['title']}", "", section["markdown"].rstrip()]
    if evaluation is not None:
        lines += ["", *evaluation_lines(evaluation)]
    return "\n".join(lines).rstrip() + "\n"


def drift_lines(drift: dict | None) -> list[str]:
    if not drift:
        return ["Not computed."]
    if drift["previous_version"] is None:
        again = " (it was seen before, with no other version since)" if drift.get("seen_before") else ""
        return [
            f"No previous version: data version `{drift['current_version']}` is the first seen in this work dir{again}."
        ]
    lines = [
        f"Previous version `{drift['previous_version']}` (recorded {drift.get('previous_recorded') or '?'}) "
        f"→ this version `{drift['current_version']}`; shares of all splits together.",
        "",
    ]
    lines += _table(
        ["class", "previous", "previous share", "now", "share", "change (points)"],
        [
            [
                r["value"],
                r["previous"],
                f"{r['previous_share']:.1%}",
                r["current"],
                f"{r['current_share']:.1%}",
                f"{100 * r['change']:+.1f}",
            ]
            for r in drift["classes"]
        ],
        right=range(1, 6),
    )
    lines += [""] + (
        [f"- ⚠ {_cell(w)}" for w in drift["warnings"]]
        or [f"No class moved by more than {100 * drift['threshold']:.1f} points (drift_warn)."]
    )
    return lines


def evaluation_lines(evaluation: dict) -> list[str]:
    lines = [
        f"## {evaluation.get('title', 'Most-confused pairs')} (evaluation on split `{evaluation.get('split', '?')}`)",
        "",
    ]
    lines += [f"{n}\n" for n in evaluation.get("notes", [])]
    for table in evaluation.get("tables", []):
        lines += [f"### {table['title']}", ""]
        if table.get("rows"):
            lines += _table(table["columns"], table["rows"]) + [""]
        if table.get("note"):
            lines += [table["note"], ""]
    return lines
