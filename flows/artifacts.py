"""Prefect artifacts: what a data team reads on the dashboard after a run.

Only the flow calls these; the DVC stage path never talks to a Prefect API.
"""

from __future__ import annotations

import base64
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact


def publish_markdown(key: str, markdown: str, description: str | None = None) -> None:
    create_markdown_artifact(markdown=markdown, key=key, description=description)


def publish_counts(problem: str, stage: str, report: dict) -> None:
    """Row counts and other scalar figures of one stage, as a two-column table."""
    rows = [{"figure": k, "value": v} for k, v in report.items() if isinstance(v, (int, float, str, bool))]
    if rows:
        create_table_artifact(rows, key=f"{problem}-{stage}-report".replace("_", "-"),
                              description=f"{problem} {stage}: rows in / kept / quarantined and other figures")


def publish_validation_report(problem: str, report: dict) -> None:
    lines = [f"# {problem} validation: {'passed' if report['success'] else 'FAILED'} ({report['rows']} rows)", "",
             "| expectation | column | result | unexpected | examples |", "|---|---|---|---|---|"]
    for e in report["expectations"]:
        examples = ", ".join(map(str, e.get("unexpected_examples", [])[:3])).replace("|", "\\|")
        lines.append(f"| {e['expectation']} | {e.get('column') or ''} | {'ok' if e['success'] else 'FAILED'} "
                     f"| {e.get('unexpected_count', 0)} | {examples} |")
    publish_markdown(f"{problem}-validation", "\n".join(lines))


def publish_classification(problem: str, metrics: dict, confusion_png: Path) -> None:
    per_class = [{"class": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}}
                 for name, row in metrics["per_class"].items()]
    create_table_artifact(per_class, key=f"{problem}-per-class", description=f"{problem} per-class precision/recall/F1")
    names = metrics["labels"]
    lines = [f"# {problem} evaluation on split `{metrics.get('split', '?')}` ({metrics['rows']} rows)", "",
             f"- accuracy: **{metrics['accuracy']:.4f}**", f"- macro-F1: **{metrics['macro_f1']:.4f}**"]
    if "majority_baseline" in metrics:
        lines.append(f"- majority-class baseline (train's most frequent class) accuracy: "
                     f"{metrics['majority_baseline']['accuracy']:.4f}")
    lines += ["", "Confusion matrix (rows: actual, columns: predicted)", "",
              "| actual \\ predicted | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(map(str, row)) + " |" for name, row in zip(names, metrics["confusion_matrix"])]
    if confusion_png.exists() and confusion_png.stat().st_size < 200_000:
        encoded = base64.b64encode(confusion_png.read_bytes()).decode()
        lines += ["", f"![confusion matrix](data:image/png;base64,{encoded})"]
    publish_markdown(f"{problem}-metrics", "\n".join(lines))
