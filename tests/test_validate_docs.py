"""GX Data Docs readable offline, rebuilt atomically, and linked as Prefect artifacts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tasks.validate import validate_n21
from tasks.validate_docs import offline_html
from tests.test_validate import CFG, LABELS, good_rows, make_table

REMOTE = re.compile(r"<(?:link|script)\b[^>]*https?://|url\(\s*['\"]?https?://|<img\b[^>]*src=[\"']https?://", re.I)


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("work")
    rows = good_rows()
    rows[0]["text"] = "This movie was great"
    report = validate_n21(make_table(rows), LABELS, CFG, docs_dir=work / "validation_docs")
    (work / "validation.json").write_text(json.dumps(report), encoding="utf-8")
    return work, report


def test_data_docs_exist_and_load_nothing_from_the_network(docs):
    work, report = docs
    site = work / "validation_docs"
    assert report["data_docs"] == str(site / "index.html")
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 5  # index + a suite page and a validation page per table (rows, classes)
    assert any("n21_rows" in p.as_posix() for p in pages if "validations" in p.parts)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not REMOTE.search(text), f"{page} still loads from the network"
        assert "<script" not in text.lower() and "<style>" in text
    assert not (site / "static").exists()  # ~4 MB of fonts and logos GX copies, unused offline


def test_index_lists_results_and_links_gx_pages(docs):
    work, report = docs
    index = (work / "validation_docs" / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index and "hangul_share" in index and "n21.validate.min_hangul_share" in index
    assert 'href="../validation.json"' in index
    for href in re.findall(r'href="((?:validations|expectations)/[^"]+)"', index):
        assert (work / "validation_docs" / href).is_file()
    assert len(re.findall(r'href="validations/', index)) == 2


def test_validation_page_shows_pass_and_fail_without_font_awesome(docs):
    work, _ = docs
    page = next((work / "validation_docs" / "validations").rglob("*rows*.html")).read_text(encoding="utf-8")
    assert "fa-times" in page and "fa-check-circle" in page  # GX's icons, drawn by the inline stylesheet
    assert ".fa-times::before" in page and "hangul_share" in page


def test_rebuild_replaces_the_site_and_leaves_no_temporary_folders(docs, tmp_path):
    target = tmp_path / "validation_docs"
    for _ in range(2):
        report = validate_n21(make_table(good_rows()), LABELS, CFG, docs_dir=target)
    assert report["success"]
    assert [p.name for p in tmp_path.iterdir()] == ["validation_docs"]
    assert len(list((target / "validations").rglob("*.html"))) == 2  # this run's pages only
    assert "passed" in (target / "index.html").read_text(encoding="utf-8")


def test_offline_html_strips_cdn_tags():
    page = ('<html><head><link rel="stylesheet" href="https://cdn.example/b.css"/>'
            '<script src="https://code.jquery.com/jquery.js"></script><script>$("#x").hide()</script>'
            '<style>.a{background:url("https://s3.example/logo.png")}</style></head>'
            '<body><img class="x" src="https://s3.example/logo.png"/><table><tr><td>ok</td></tr></table>'
            '<footer><a href="https://example.com">newsletter</a></footer></body></html>')
    out = offline_html(page)
    assert not REMOTE.search(out) and "<script" not in out and "newsletter" not in out
    assert "<table>" in out and out.count("<style>") == 2


def test_prefect_artifacts_link_docs_and_json(docs, monkeypatch):
    import flows.artifacts as artifacts

    work, report = docs
    links, markdown = [], []
    monkeypatch.setattr("prefect.artifacts.create_link_artifact", lambda link, **kw: links.append((link, kw["key"])))
    monkeypatch.setattr(artifacts, "publish_markdown", lambda key, md, description=None: markdown.append((key, md)))
    hook = artifacts.validation_hook("n21", "${work_dir}/validation.json", "${work_dir}/validation_docs")
    hook({}, {"work_dir": str(work)})
    assert links == [((work / "validation.json").resolve().as_uri(), "n21-validation-json"),
                     ((work / "validation_docs" / "index.html").resolve().as_uri(), "n21-validation-docs")]
    ((key, md),) = markdown
    assert key == "n21-validation" and "FAILED" in md and "n21.validate.min_hangul_share" in md
    assert md.index("**FAILED**") < md.index("| ok |")  # failures first
