"""GX Data Docs readable offline, rebuilt atomically, and linked as Prefect artifacts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tasks.n21.validate import validate_n21
from tasks.validate_docs import offline_html
from tests.n21.test_validate import CFG, LABELS, good_rows, make_table

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
    page = (
        '<html><head><link rel="stylesheet" href="https://cdn.example/b.css"/>'
        '<script src="https://code.jquery.com/jquery.js"></script><script>$("#x").hide()</script>'
        '<style>.a{background:url("https://s3.example/logo.png")}</style></head>'
        '<body><img class="x" src="https://s3.example/logo.png"/><table><tr><td>ok</td></tr></table>'
        '<footer><a href="https://example.com">newsletter</a></footer></body></html>'
    )
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
    assert links == [
        ((work / "validation.json").resolve().as_uri(), "n21-validation-json"),
        ((work / "validation_docs" / "index.html").resolve().as_uri(), "n21-validation-docs"),
    ]
    ((key, md),) = markdown
    assert key == "n21-validation" and "FAILED" in md and "n21.validate.min_hangul_share" in md
    assert md.index("**FAILED**") < md.index("| ok |")  # failures first


class _Page(HTMLParser):
    """A page's text, and the text inside red elements (GX renders an expectation's notes, our fix
    sentences, in red under a 'Notes:' header)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.red: list[str] = []
        self._open: list[bool] = []

    def handle_starttag(self, tag, attrs):
        style = (dict(attrs).get("style") or "").replace(" ", "")
        red = "color:red" in style or "text-danger" in (dict(attrs).get("class") or "")
        if tag not in ("br", "hr", "img", "input", "meta", "link"):
            self._open.append(red)

    def handle_endtag(self, tag):
        if self._open and tag not in ("br", "hr", "img", "input", "meta", "link"):
            self._open.pop()

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())
            if any(self._open):
                self.red.append(data.strip())


def _suite_pages(site: Path) -> dict[str, _Page]:
    pages = {}
    for path in sorted((site / "expectations").glob("*.html")):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.stem] = page
    assert pages, f"no suite pages under {site}"
    return pages


@pytest.fixture(scope="module")
def sample_docs(tmp_path_factory) -> tuple[Path, dict]:
    """The N21 stages up to validate on the embedded sample (no training): its Data Docs."""
    from flows import n21
    from tests.conftest import sample_section

    section = sample_section(tmp_path_factory.mktemp("sample"))
    for stage in (n21.ingest, n21.tokenize, n21.encode, n21.validate):
        stage(section)
    return Path(section["work_dir"]), section


def test_suite_pages_of_a_passing_sample_show_params_values_and_no_fix_notes(sample_docs):
    work, section = sample_docs
    report = json.loads((work / "validation.json").read_text(encoding="utf-8"))
    assert report["success"]
    pages = _suite_pages(work / "validation_docs")
    for name, page in pages.items():
        text = " ".join(page.text)
        assert "$PARAMETER" not in text and "$mostly_pct" not in text, name
        assert page.red == [] and "Notes:" not in page.text, (name, page.red)
    rows = " ".join(pages["n21_rows"].text)
    cfg = section["validate"]
    assert (
        f"greater than or equal to {float(cfg['min_hangul_share'])} and less than or equal to 1.0, "
        f"at least {cfg['hangul_mostly']:.0%}".replace("%", " %")
    ) in rows.replace(" ,", ",")
    assert f"greater than or equal to {cfg['min_chars']} and less than or equal to {cfg['max_chars']}" in rows


def test_suite_pages_keep_the_fix_note_of_a_failed_expectation_only(docs):
    work, report = docs
    failed = [e for e in report["expectations"] if not e["success"]]
    assert [(e["table"], e["column"]) for e in failed] == [("rows", "hangul_share")]
    pages = _suite_pages(work / "validation_docs")
    assert all("$PARAMETER" not in " ".join(p.text) for p in pages.values())
    assert pages["n21_classes"].red == []
    assert pages["n21_rows"].text.count("Notes:") == 1
    assert pages["n21_rows"].red == [failed[0]["fix"]]
