"""Prefect artifacts: what a data team reads on the dashboard after a run.

Only the flow calls these; the DVC stage path never talks to a Prefect API.
"""

from __future__ import annotations

import base64
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact


def publish_markdown(key: str, markdown: str, description: str | None = None) -> None:
    create_markdown_artifact(markdown=markdown, key=key, description=description)


def markdown_file_hook(problem: str, name: str, template: str):
    """A Stage.publish hook that shows a Markdown file the stage wrote (path template over params)."""
    def publish(report: dict, section: dict) -> None:
        from flows.stages import resolve

        publish_markdown(f"{problem}-{name}", Path(resolve(template, section)).read_text(encoding="utf-8"))

    return publish


def validation_hook(problem: str, template: str):
    """A Stage.publish hook for the validation report JSON the stage wrote."""
    def publish(report: dict, section: dict) -> None:
        import json

        from flows.stages import resolve

        publish_validation_report(problem, json.loads(Path(resolve(template, section)).read_text(encoding="utf-8")))

    return publish


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


def publish_entities(problem: str, metrics: dict, errors: list[dict]) -> None:
    """Per-type entity table and a Markdown summary with a sample of errors."""
    rows = [{"type": t, **{k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}}
            for t, m in metrics["per_type"].items()]
    create_table_artifact(rows, key=f"{problem}-per-type", description=f"{problem} entity P/R/F1 per type")
    lines = [f"# {problem} evaluation on split `{metrics.get('split', '?')}` ({metrics['rows']} sentences, "
             f"{metrics['entities_gold']} entities)", "",
             f"- entity F1 (exact span and type, micro): **{metrics['f1']:.4f}** "
             f"(P {metrics['precision']:.4f}, R {metrics['recall']:.4f})",
             f"- syllable tag accuracy: {metrics['token_accuracy']:.4f}"]
    if "gazetteer_baseline" in metrics:
        lines.append(f"- baseline (train entity strings looked up in the text) F1: "
                     f"{metrics['gazetteer_baseline']['f1']:.4f}")
    lines += ["", "| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {r['type']} | {r['precision']} | {r['recall']} | {r['f1']} | {r['support']} |" for r in rows]
    if errors:
        lines += ["", "## Sample of errors", "", "| id | text | missed | spurious |", "|---|---|---|---|"]
        lines += [f"| {e['id']} | {e['text'][:80].replace('|', '/')} | {', '.join(e['missed'])} "
                  f"| {', '.join(e['spurious'])} |" for e in errors[:20]]
    publish_markdown(f"{problem}-metrics", "\n".join(lines))
