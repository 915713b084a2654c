"""Prefect artifacts: what a data team reads on the dashboard after a run.

Only the flow calls these; the DVC stage path never talks to a Prefect API.
"""

from __future__ import annotations

import base64
from pathlib import Path


def _prefect_artifacts():
    """Imported on first use: the stage modules import this file, and `hanflow stage` (each DVC stage)
    never publishes, so it should not pay ~1.5 s to import Prefect."""
    import prefect.artifacts

    return prefect.artifacts


def publish_markdown(key: str, markdown: str, description: str | None = None) -> None:
    _prefect_artifacts().create_markdown_artifact(markdown=markdown, key=key, description=description)


def markdown_file_hook(problem: str, name: str, template: str):
    """A Stage.publish hook that shows a Markdown file the stage wrote (path template over params)."""

    def publish(report: dict, section: dict) -> None:
        from flows.stages import resolve

        publish_markdown(f"{problem}-{name}", Path(resolve(template, section)).read_text(encoding="utf-8"))

    return publish


def validation_hook(problem: str, template: str, docs_template: str | None = None):
    """A Stage.publish hook for the validation the stage wrote: a Markdown summary of the JSON report,
    and links to the JSON report and to the GX Data Docs (`docs_template`, a folder with index.html)."""

    def publish(report: dict, section: dict) -> None:
        import json

        from flows.stages import resolve

        json_path = Path(resolve(template, section))
        docs = Path(resolve(docs_template, section)) / "index.html" if docs_template else None
        publish_validation_report(
            problem,
            json.loads(json_path.read_text(encoding="utf-8")),
            json_path=json_path,
            docs_index=docs,
            root=section.get("work_dir"),
        )

    return publish


def publish_counts(problem: str, stage: str, report: dict) -> None:
    """Row counts and other scalar figures of one stage, as a two-column table."""
    rows = [{"figure": k, "value": v} for k, v in report.items() if isinstance(v, (int, float, str, bool))]
    if rows:
        _prefect_artifacts().create_table_artifact(
            rows,
            key=f"{problem}-{stage}-report".replace("_", "-"),
            description=f"{problem} {stage}: rows in / kept / quarantined and other figures",
        )


def publish_validation_report(
    problem: str,
    report: dict,
    json_path: Path | None = None,
    docs_index: Path | None = None,
    root: str | Path | None = None,
) -> None:
    """The validation summary as Markdown (failed expectations first, with their fix), plus link
    artifacts to validation.json and the offline GX Data Docs when they exist: http links to hanflow's
    report file server (flows/files.py), which serves `root` (the work dir: the docs link ../validation.json)."""
    from flows.files import link
    from tasks.validation import bounds

    root = root or (json_path.parent if json_path else docs_index.parent.parent if docs_index else None)
    failed = [e for e in report["expectations"] if not e["success"]]
    lines = [
        f"# {problem} validation: {'passed' if report['success'] else 'FAILED'} ({report['rows']} rows, "
        f"{len(failed)} of {len(report['expectations'])} expectations failed)",
        "",
    ]
    if report.get("suite"):
        lines += [f"Suite: `{report['suite']}`"]
    links = [
        f"[{name}]({link(path, root)})"
        for name, path in (("validation.json", json_path), ("Data Docs", docs_index))
        if path and path.exists()
    ]
    if links:
        lines += ["Files: " + ", ".join(links)]
    lines += [
        "",
        "| expectation | table | column | allowed | result | unexpected | examples | ids | fix |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(value) -> str:
        text = ", ".join(map(str, value[:3])) if isinstance(value, list) else str(value if value is not None else "")
        return text.replace("|", "\\|").replace("\n", " ")[:120]

    for e in failed + [e for e in report["expectations"] if e["success"]]:
        allowed = bounds(e) if ("min_value" in e or "max_value" in e) else e.get("value_set", "")
        lines.append(
            f"| {e['expectation']} | {e.get('table', 'rows')} | {e.get('column') or ''} | {cell(allowed)} "
            f"| {'ok' if e['success'] else '**FAILED**'} | {e.get('unexpected_count', 0)} "
            f"| {cell(e.get('unexpected_examples', []))} | {cell(e.get('example_ids', []))} "
            f"| {'' if e['success'] else cell(e.get('error') or e.get('fix', ''))} |"
        )
    publish_markdown(f"{problem}-validation", "\n".join(lines))
    if json_path is not None and json_path.exists():
        _prefect_artifacts().create_link_artifact(
            link(json_path, root),
            link_text=f"{problem} validation.json",
            key=f"{problem}-validation-json",
            description=f"{problem}: Great Expectations results as JSON",
        )
    if docs_index is not None and docs_index.exists():
        _prefect_artifacts().create_link_artifact(
            link(docs_index, root),
            link_text=f"{problem} Data Docs",
            key=f"{problem}-validation-docs",
            description=f"{problem}: Great Expectations Data Docs (offline pages)",
        )


def publish_classification(problem: str, metrics: dict, confusion_png: Path) -> None:
    per_class = [
        {"class": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}}
        for name, row in metrics["per_class"].items()
    ]
    _prefect_artifacts().create_table_artifact(
        per_class, key=f"{problem}-per-class", description=f"{problem} per-class precision/recall/F1"
    )
    names = metrics["labels"]
    lines = [
        f"# {problem} evaluation on split `{metrics.get('split', '?')}` ({metrics['rows']} rows)",
        "",
        f"- accuracy: **{metrics['accuracy']:.4f}**",
        f"- macro-F1: **{metrics['macro_f1']:.4f}**",
    ]
    if "majority_baseline" in metrics:
        lines.append(
            f"- majority-class baseline (train's most frequent class) accuracy: "
            f"{metrics['majority_baseline']['accuracy']:.4f}"
        )
    lines += [
        "",
        "Confusion matrix (rows: actual, columns: predicted)",
        "",
        "| actual \\ predicted | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    lines += [
        f"| {name} | " + " | ".join(map(str, row)) + " |" for name, row in zip(names, metrics["confusion_matrix"])
    ]
    if confusion_png.exists() and confusion_png.stat().st_size < 200_000:
        encoded = base64.b64encode(confusion_png.read_bytes()).decode()
        lines += ["", f"![confusion matrix](data:image/png;base64,{encoded})"]
    publish_markdown(f"{problem}-metrics", "\n".join(lines))


def publish_entities(problem: str, metrics: dict, errors: list[dict]) -> None:
    """Per-type entity table and a Markdown summary with a sample of errors."""
    rows = [
        {"type": t, **{k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}}
        for t, m in metrics["per_type"].items()
    ]
    _prefect_artifacts().create_table_artifact(
        rows, key=f"{problem}-per-type", description=f"{problem} entity P/R/F1 per type"
    )
    lines = [
        f"# {problem} evaluation on split `{metrics.get('split', '?')}` ({metrics['rows']} sentences, "
        f"{metrics['entities_gold']} entities)",
        "",
        f"- entity F1 (exact span and type, micro): **{metrics['f1']:.4f}** "
        f"(P {metrics['precision']:.4f}, R {metrics['recall']:.4f})",
        f"- syllable tag accuracy: {metrics['token_accuracy']:.4f}",
    ]
    if "gazetteer_baseline" in metrics:
        lines.append(
            f"- baseline (train entity strings looked up in the text) F1: {metrics['gazetteer_baseline']['f1']:.4f}"
        )
    lines += ["", "| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {r['type']} | {r['precision']} | {r['recall']} | {r['f1']} | {r['support']} |" for r in rows]
    if errors:
        lines += ["", "## Sample of errors", "", "| id | text | missed | spurious |", "|---|---|---|---|"]
        lines += [
            f"| {e['id']} | {e['text'][:80].replace('|', '/')} | {', '.join(e['missed'])} "
            f"| {', '.join(e['spurious'])} |"
            for e in errors[:20]
        ]
    publish_markdown(f"{problem}-metrics", "\n".join(lines))
