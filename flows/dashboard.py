"""Dashboard extras beside flows/artifacts.py: images (learning curves, confusion matrices), links to
DVC outputs, and the champion/challenger decisions. Only Prefect flows call these.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

MAX_IMAGE_BYTES = 400_000  # images travel inside the artifact as data: URIs


def _key(*parts: str) -> str:
    return "-".join(parts).replace("_", "-").replace(".", "-").lower()


def publish_image(key: str, png: str | Path, description: str) -> bool:
    """An image artifact (a data: URI, so it shows without serving files); False when too big or absent."""
    png = Path(png)
    if not png.is_file() or png.stat().st_size > MAX_IMAGE_BYTES:
        return False
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    create_image_artifact(image_url=uri, key=key, description=description)
    return True


def learning_curve_png(history: dict, path: str | Path, title: str) -> Path | None:
    """Train loss (left axis) and every dev_* figure (right axis) per epoch, from train_metrics.json."""
    epochs = history.get("epochs") or []
    if not epochs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [e.get("epoch", k + 1) for k, e in enumerate(epochs)]
    dev_keys = sorted({k for e in epochs for k, v in e.items() if k.startswith("dev_") and isinstance(v, (int, float))})
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    try:
        if any("train_loss" in e for e in epochs):
            ax.plot(x, [e.get("train_loss") for e in epochs], "o-", color="tab:red", label="train loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("train loss")
        right = ax.twinx()
        for key in dev_keys:
            right.plot(x, [e.get(key) for e in epochs], "s--", label=key.replace("_", " "))
        right.set_ylabel("dev")
        if history.get("best_epoch"):
            ax.axvline(history["best_epoch"], color="grey", linestyle=":", label=f"best epoch {history['best_epoch']}")
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], loc="best", fontsize="small")
        ax.set_title(title)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=90)
    finally:
        plt.close(fig)
    return path


def publish_stage_extras(problem: str, stage, section: dict) -> None:
    """After a stage: its PNG outputs as images; after train, the learning curve; after evaluate, a
    confusion matrix image when the metrics carry one and the stage drew none. Never fails the stage."""
    try:
        _stage_extras(problem, stage, section)
    except Exception as err:  # a missing picture must not fail a pipeline
        from prefect import get_run_logger

        get_run_logger().warning("%s.%s: dashboard images not published: %s", problem, stage.name, err)


def _stage_extras(problem: str, stage, section: dict) -> None:
    from flows.stages import resolve

    pngs = [Path(resolve(o, section)) for o in stage.outs if o.endswith(".png")]
    for png in pngs:
        publish_image(_key(problem, png.stem), png, f"{problem} {stage.name}: {png.name}")
    if stage.name == "train":
        history_path = Path(section["model_dir"]) / "train_metrics.json"
        if history_path.is_file():
            png = learning_curve_png(
                json.loads(history_path.read_text(encoding="utf-8")),
                Path(section["work_dir"]) / "reports" / "learning_curve.png",
                f"{problem} learning curve",
            )
            if png:
                publish_image(_key(problem, "learning-curve"), png, f"{problem}: train loss and dev metrics per epoch")
    metrics_path = Path(section["work_dir"]) / "eval" / "metrics.json"
    if stage.name == "evaluate" and not pngs and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        if metrics.get("confusion_matrix") and metrics.get("labels"):
            from tasks.classification_metrics import plot_confusion_png

            png = plot_confusion_png(
                metrics["confusion_matrix"], metrics["labels"], Path(section["work_dir"]) / "reports" / "confusion.png"
            )
            publish_image(_key(problem, "confusion"), png, f"{problem}: confusion matrix")


def _dvc_lock_outs(repo: Path) -> dict[str, dict]:
    lock = repo / "dvc.lock"
    if not lock.is_file():
        return {}
    import yaml

    stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    return {
        str((repo / o["path"]).resolve()): {"stage": name, **o} for name, s in stages.items() for o in s.get("outs", [])
    }


def publish_dvc_outputs(problem: str, stages, section: dict, repo: str | Path = ".") -> None:
    """A Markdown table linking every DVC output of the problem's stages, with size and dvc.lock's md5."""
    try:
        _dvc_outputs(problem, stages, section, repo)
    except Exception as err:  # a missing link must not fail a pipeline
        from prefect import get_run_logger

        get_run_logger().warning("%s: DVC output links not published: %s", problem, err)


def _output_cell(path: Path, shown, root: Path) -> str:
    """A link a browser on the dashboard can open (a report file or Data Docs folder, through hanflow's file
    server), else the path as text; file:// links only when no file server runs (nothing else to offer)."""
    from flows.files import link, serving

    target = path / "index.html" if (path / "index.html").is_file() else path
    url = link(target, root)
    return f"[{shown}]({url})" if url.startswith("http") or not serving() else f"`{shown}`"


def _dvc_outputs(problem: str, stages, section: dict, repo: str | Path) -> None:
    from flows.stages import resolve

    repo, root = Path(repo).resolve(), Path(section["work_dir"]).resolve()
    locked = _dvc_lock_outs(repo)
    lines = [
        f"# {problem}: DVC outputs",
        "",
        "`dvc pull` restores them in another clone; `dvc status` says what is stale.",
        "",
        "| stage | output | size | dvc.lock md5 |",
        "|---|---|---|---|",
    ]
    for stage in stages:
        for template in stage.outs:
            path = Path(resolve(template, section)).resolve()
            size = (
                sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                if path.is_dir()
                else path.stat().st_size
                if path.exists()
                else None
            )
            md5 = locked.get(str(path), {}).get("md5", "")
            shown = path.relative_to(repo) if path.is_relative_to(repo) else path
            lines.append(
                f"| {problem}-{stage.name} | {_output_cell(path, shown, root)} | "
                f"{'missing' if size is None else f'{size / 1e6:.2f} MB'} | {md5} |"
            )
    create_markdown_artifact(
        markdown="\n".join(lines), key=_key(problem, "dvc-outputs"), description=f"{problem}: DVC-tracked stage outputs"
    )


def publish_decision(problem: str, decision: dict, history: list[dict]) -> None:
    """The champion/challenger decision of this run, and the registry's recent decisions as a table."""
    lines = [
        f"# {problem}: {decision['decision'].upper()}",
        "",
        decision.get("reason", ""),
        "",
        f"- primary metric: `{decision.get('metric')}` "
        f"({'higher' if decision.get('higher_is_better', True) else 'lower'} is better)",
        f"- challenger model {decision.get('challenger_version')}: {decision.get('challenger_score')}",
        f"- champion before: {decision.get('champion_version_before')}: {decision.get('champion_score')}",
        f"- champion now: {decision.get('champion_version')}",
        f"- data version {decision.get('data_version')}, code {decision.get('code_version')}",
    ]
    if decision.get("eval_set"):
        e = decision["eval_set"]
        lines.append(f"- evaluation set: split `{e['split']}`, {e['rows']} rows, version {e['version']}")
    create_markdown_artifact(
        markdown="\n".join(lines),
        key=_key(problem, "promotion"),
        description=f"{problem}: champion/challenger decision",
    )
    rows = [
        {
            k: e.get(k)
            for k in (
                "time",
                "decision",
                "metric",
                "challenger_score",
                "champion_score",
                "challenger_version",
                "champion_version",
                "data_version",
                "reason",
            )
        }
        for e in history[-20:]
    ]
    if rows:
        create_table_artifact(rows, key=_key(problem, "registry"), description=f"{problem}: recent decisions")
