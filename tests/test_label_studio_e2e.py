"""The labeling loop end to end with a real Label Studio on 127.0.0.1 (slow; skipped without Label Studio).

Label Studio is not a dependency of hanflow (its own server, and dependencies that clash with Prefect's): it
lives in its own virtual environment, `python3 -m venv /work/ls-venv && /work/ls-venv/bin/pip install
label-studio label-studio-sdk`, or wherever $HANFLOW_LABEL_STUDIO points (the `label-studio` executable).

In a copy of the repo: `dvc repro` up to the label review, `hanflow label export` (review) and `hanflow label
queue` (new texts), a Label Studio project per problem with the generated labeling config, the tasks imported
and annotated through its REST API, its JSON export, `hanflow label import`, and `dvc repro` again: the ingested
data carries the corrections, the raw file is unchanged. Run as a script
(`python tests/test_label_studio_e2e.py`) it writes what Label Studio produced to tests/fixtures/label_studio/,
the files the fast format tests read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.test_dvc_repro import _sh as sh

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "label_studio"
LABEL_STUDIO = Path(os.environ.get("HANFLOW_LABEL_STUDIO", "/work/ls-venv/bin/label-studio"))
TOKEN = "0123456789abcdef0123456789abcdef01234567"
NEW_TEXTS = [
    "배송은 빨랐는데 포장이 좀 아쉬웠어요",
    "두 번 다시 안 갈 식당입니다",
    "생각보다 괜찮네요 그럭저럭",
    "배송은 빨랐는데 포장이 좀 아쉬웠어요!!",
    "완전 최고예요 강추합니다",
]


class LabelStudio:
    """A Label Studio server started for one test, and the few REST calls the loop needs."""

    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, body=None):
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def project(self, title: str, config: str, tasks: list[dict]) -> tuple[int, list[dict], dict]:
        project = self.call("POST", "/api/projects", {"title": title, "label_config": config})
        self.call("POST", f"/api/projects/{project['id']}/import", tasks)
        listed = self.call("GET", f"/api/tasks?project={project['id']}&page_size=100")
        return project["id"], sorted(listed["tasks"], key=lambda t: t["id"]), project["parsed_label_config"]

    def annotate(self, task_id: int, result: list[dict], cancelled: bool = False) -> dict:
        return self.call(
            "POST",
            f"/api/tasks/{task_id}/annotations",
            {"result": result, "was_cancelled": cancelled, "lead_time": 4.0},
        )

    def export(self, project_id: int) -> list[dict]:
        return self.call("GET", f"/api/projects/{project_id}/export?exportType=JSON")


@contextlib.contextmanager
def label_studio(data_dir: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing phones home: no analytics, no version check, no error reporting.
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    }
    log = open(data_dir / "label-studio.log", "wb")
    process = subprocess.Popen(
        [
            str(LABEL_STUDIO),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(port),
            "--username",
            "test@example.com",
            "--password",
            "hanflow-test-1",
            "--user-token",
            TOKEN,
            "--enable-legacy-api-token",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=5)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Label Studio did not start: {(data_dir / 'label-studio.log').read_text()[-2000:]}"
                    )
                time.sleep(2)
        yield LabelStudio(base)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def copy_repo(repo: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files + [".dvc/config", ".dvcignore"]:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["n21"]["train"]["epochs"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def _choice(name: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [name]}}]


def annotate_n21(ls: LabelStudio, tasks: list[dict]) -> None:
    """Review tasks: the first takes the suggestion, the second keeps the data's label, the third is skipped;
    the first queue task gets the pre-annotated class."""
    review = [t for t in tasks if t["data"]["hanflow_kind"] == "review"]
    queue = [t for t in tasks if t["data"]["hanflow_kind"] == "queue"]
    first = review[0]
    suggested = {"positive": "negative", "negative": "positive"}[first["data"]["given_label"]]
    ls.annotate(first["id"], _choice(suggested))
    ls.annotate(review[1]["id"], _choice(review[1]["data"]["given_label"]))
    ls.annotate(review[2]["id"], [], cancelled=True)
    ls.annotate(queue[0]["id"], _choice("negative"))


def annotate_n2n(ls: LabelStudio, tasks: list[dict], predictions: dict[str, list[dict]]) -> None:
    """The first sentence loses its last span (a correction), the second keeps the data's spans (a confirmation)."""
    for k, t in enumerate(tasks[:2]):
        spans = predictions[t["data"]["hanflow_id"]]
        ls.annotate(t["id"], spans[:-1] if k == 0 else spans)


def run_loop(tmp: Path, keep: Path | None = None) -> dict:
    repo = copy_repo(tmp / "repo")
    sh("dvc", "repro", "n21-label_review", "n2n-label_review", "n21-train", cwd=repo)
    (repo / "new_texts.txt").write_text("\n".join(NEW_TEXTS) + "\n", encoding="utf-8")
    sh("hanflow", "label", "export", "--problem", "n21", "--size", "5", "--out", "n21_tasks.json", cwd=repo)
    sh(
        "hanflow",
        "label",
        "queue",
        "--problem",
        "n21",
        "--model",
        "data/n21/model",
        "--data",
        "new_texts.txt",
        "--size",
        "3",
        "--out",
        "n21_queue.json",
        cwd=repo,
    )
    sh("hanflow", "label", "export", "--problem", "n2n", "--size", "4", "--out", "n2n_tasks.json", cwd=repo)
    raw = hashlib.sha256((repo / "data/sample/n21_reviews.tsv").read_bytes()).hexdigest()
    data_dir = tmp / "label-studio"
    data_dir.mkdir()
    n21_tasks = json.loads((repo / "n21_tasks.json").read_text(encoding="utf-8"))
    queue_tasks = json.loads((repo / "n21_queue.json").read_text(encoding="utf-8"))
    n2n_tasks = json.loads((repo / "n2n_tasks.json").read_text(encoding="utf-8"))
    with label_studio(data_dir) as ls:
        n21_id, tasks, n21_parsed = ls.project(
            "hanflow n21", (repo / "n21_tasks.config.xml").read_text(), n21_tasks + queue_tasks
        )
        annotate_n21(ls, tasks)
        n21_export = ls.export(n21_id)
        n2n_id, tasks, n2n_parsed = ls.project("hanflow n2n", (repo / "n2n_tasks.config.xml").read_text(), n2n_tasks)
        annotate_n2n(ls, tasks, {t["data"]["hanflow_id"]: t["predictions"][0]["result"] for t in n2n_tasks})
        n2n_export = ls.export(n2n_id)
    for name, data in (("n21_export.json", n21_export), ("n2n_export.json", n2n_export)):
        (repo / name).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    imported = {
        p: json.loads(
            sh("hanflow", "label", "import", f"{p}_export.json", "--name", f"{p}-review-1", cwd=repo).splitlines()[0]
        )
        for p in ("n21", "n2n")
    }
    status = sh("dvc", "status", "n21-ingest", "n2n-ingest", "n21-label_review", cwd=repo)
    sh("dvc", "repro", "n21-label_review", "n2n-label_review", cwd=repo)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for name in (
            "n21_tasks.json",
            "n21_tasks.config.xml",
            "n21_queue.json",
            "n2n_tasks.json",
            "n2n_tasks.config.xml",
            "n21_export.json",
            "n2n_export.json",
        ):
            shutil.copy2(repo / name, keep / name)
        for name, parsed in (("n21_parsed_config.json", n21_parsed), ("n2n_parsed_config.json", n2n_parsed)):
            (keep / name).write_text(json.dumps(parsed, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return {"repo": repo, "raw_sha": raw, "imported": imported, "status": status, "n21_tasks": n21_tasks}


@pytest.mark.slow
@pytest.mark.skipif(
    not LABEL_STUDIO.is_file(), reason=f"Label Studio not installed at {LABEL_STUDIO} (set HANFLOW_LABEL_STUDIO)"
)
def test_label_studio_round_trip_produces_the_corrected_data_version(tmp_path):
    from tasks import io

    found = run_loop(tmp_path)
    repo, n21 = found["repo"], found["imported"]["n21"]
    assert n21["changed"] == 1 and n21["confirmed"] == 1 and n21["skipped"]["not_annotated"] >= 1
    assert n21["new_rows_added"] == 1
    assert found["imported"]["n2n"]["changed"] == 1 and found["imported"]["n2n"]["confirmed"] == 1
    assert "data/corrections/n21.jsonl" in found["status"] and "n21-label_review" not in found["status"]
    first = found["n21_tasks"][0]["data"]
    ingested = io.read_table(repo / "data/n21/ingested.parquet").to_pylist()
    label = next(r["label"] for r in ingested if r["id"] == first["hanflow_id"])
    assert label != first["given_label"]
    assert hashlib.sha256((repo / "data/sample/n21_reviews.tsv").read_bytes()).hexdigest() == found["raw_sha"]
    assert "1 label(s) changed and 1 confirmed" in (repo / "data/n21/label_review.md").read_text(encoding="utf-8")


if __name__ == "__main__":  # writes the fixtures: python tests/test_label_studio_e2e.py
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        found = run_loop(Path(tmp), keep=FIXTURES)
        print(json.dumps(found["imported"], ensure_ascii=False), found["status"], sep="\n")
