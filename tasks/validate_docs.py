"""GX Data Docs for one validation run, readable without a network.

GX's pages load Bootstrap, Font Awesome, jQuery and vega from CDNs and fill the index page's tables
with jQuery, so offline they show unstyled pages and an empty index. After GX builds the site, every
page loses its external <link>/<script>/<img> tags, its scripts and GX's newsletter footers, and
gets a small inline stylesheet instead (tables, pass/fail colours); the index is replaced by a
static page listing this run's expectations and linking to GX's validation and suite pages. The
site is built in a temporary folder next to the target and renamed into place, so a rerun or a
crash never leaves a half-written site behind.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from pathlib import Path

from tasks import io
from tasks.validation import bounds as allowed

# The ephemeral context already has a site named `local_site` (in a temporary folder).
SITE_NAME = "hanflow_offline"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans KR","Malgun Gothic",sans-serif;
  margin:0 auto;max-width:1200px;padding:1rem 1.5rem;color:#1f2328;line-height:1.45}
a{color:#0b5cad}
table{border-collapse:collapse;margin:.5rem 0;font-size:.92rem;width:auto;max-width:100%}
th,td{border:1px solid #d0d7de;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}
thead[hidden]{display:none}
td table{margin:.4rem 0 0}
nav,.ge-breadcrumbs{list-style:none;display:flex;gap:1rem;align-items:center;padding:0;margin:0 0 .5rem}
.breadcrumb-item{display:inline}
.alert{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:.5rem .8rem;margin:.8rem 0 .4rem}
.badge{background:#eef1f4;border-radius:3px;padding:0 .3rem;font-family:ui-monospace,monospace}
.text-success,.ok{color:#1a7f37;font-weight:600}
.text-danger,.failed{color:#c62828;font-weight:600}
.text-warning{color:#9a6700}
tr.failed-row td{background:#fff1f0}
.fas::before{font-style:normal}
.fa-check-circle::before,.fa-check::before{content:"\\2714\\FE0E";color:#1a7f37}
.fa-times-circle::before,.fa-times::before{content:"\\2716\\FE0E";color:#c62828}
.fa-comment::before{content:"note";font-size:.8rem;color:#57606a}
.fa-exclamation-triangle::before{content:"\\26A0\\FE0E";color:#9a6700}
.cooltip .top,.cooltip .bottom,.invisible,.btn-group-toggle,.sticky>.card:first-child{display:none}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.6rem;overflow:auto;white-space:pre-wrap}
.brand{font-weight:700}
"""

_EXTERNAL_LINK = re.compile(r"<link\b[^>]*>", re.I)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_EXTERNAL_IMG = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']https?://[^>]*>", re.I | re.S)
_FOOTER = re.compile(r"<footer\b.*?</footer\s*>", re.I | re.S)
_REMOTE_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.I)  # backgrounds in GX's inline <style>
_HEAD_END = re.compile(r"</head\s*>", re.I)


def offline_html(page: str) -> str:
    """One GX page without CDN stylesheets, scripts, remote images and footers, with STYLE inlined."""
    page = _SCRIPT.sub("", page)
    page = _EXTERNAL_LINK.sub("", page)  # all are CDN stylesheets, except the favicon in static/ (removed)
    page = _EXTERNAL_IMG.sub('<span class="brand">hanflow · Great Expectations Data Docs</span>', page)
    page = _FOOTER.sub("", page)
    page = _REMOTE_URL.sub("none", page)
    style = f"<style>{STYLE}</style>\n"
    return _HEAD_END.sub(lambda m: style + m.group(0), page, count=1) if _HEAD_END.search(page) else style + page


def build_data_docs(ctx, target: Path, report: dict) -> Path:
    """Build the context's validation results into `target` (replaced as a whole); its index.html."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # GX wants an absolute base_directory; work_dir in params.yaml is relative.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent)).resolve()
    try:
        ctx.add_data_docs_site(
            SITE_NAME,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(tmp)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        suites_as_validated(ctx)
        ctx.build_data_docs(site_names=[SITE_NAME])
        make_offline(tmp, report)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        io.swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target / "index.html"


def suites_as_validated(ctx) -> None:
    """Store each suite as its last validation ran it, for the suite pages: GX renders the kwargs as stored,
    so suite parameters would read `{'$PARAMETER': name}` instead of the params.yaml values the results
    carry, and it shows every expectation's notes (our fix sentences) in red, even on a passing suite;
    here only the failed expectations keep them."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    store = ctx.validation_results_store
    for key in store.list_keys():
        result = store.get(key)
        ran = {r.expectation_config.id: r for r in result.results if r.expectation_config is not None}
        suite = ctx.suites.get(result.suite_name)
        for k, expectation in enumerate(suite.expectations):
            done = ran.get(expectation.id)
            if done is None:
                continue
            config = expectation.configuration
            kwargs = {name: value for name, value in done.expectation_config.kwargs.items() if name != "batch_id"}
            suite.expectations[k] = ExpectationConfiguration(
                type=config.type,
                kwargs=kwargs,
                meta=config.meta,
                id=config.id,
                notes=None if done.success else config.notes,
            ).to_domain_obj()
        suite.save()


def make_offline(root: Path, report: dict) -> None:
    """Rewrite every page of the site at `root` for offline reading and write a static index."""
    shutil.rmtree(root / "static", ignore_errors=True)  # fonts, logos, GX's CSS that needs Bootstrap: ~4 MB
    pages = sorted(p for p in root.rglob("*.html") if p != root / "index.html")
    for page in pages:
        page.write_text(offline_html(page.read_text(encoding="utf-8")), encoding="utf-8")
    (root / "index.html").write_text(index_html(root, pages, report), encoding="utf-8")


def _cell(value) -> str:
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    text = "" if value is None else str(value)
    return html.escape(text if len(text) <= 160 else text[:159] + "…")


def index_html(root: Path, pages: list[Path], report: dict) -> str:
    ok = report.get("success")
    title = report.get("title") or "validation"
    rows = []
    for e in report.get("expectations", []):
        bounds = ""
        if "min_value" in e or "max_value" in e:
            bounds = allowed(e)
            if e.get("mostly", 1) < 1:
                bounds += f" (≥ {e['mostly']:.0%} of rows)"
        elif "value_set" in e:
            bounds = e["value_set"]
        status = '<span class="ok">ok</span>' if e["success"] else '<span class="failed">FAILED</span>'
        rows.append(
            f'<tr class="{"" if e["success"] else "failed-row"}"><td>{status}</td><td>{_cell(e.get("table"))}</td>'
            f"<td>{_cell(e['expectation'])}</td><td>{_cell(e.get('column'))}</td><td>{_cell(bounds)}</td>"
            f"<td>{e.get('unexpected_count', 0)}</td><td>{_cell(e.get('unexpected_examples'))}</td>"
            f"<td>{_cell(e.get('example_ids'))}</td>"
            f"<td>{_cell(e.get('error') or ('' if e['success'] else e.get('fix')))}</td></tr>"
        )
    links = []
    for page in pages:
        rel = page.relative_to(root).as_posix()
        kind = "validation result" if rel.startswith("validations/") else "expectation suite"
        links.append(f'<li>{kind}: <a href="{html.escape(rel)}">{html.escape(rel)}</a></li>')
    verdict = '<span class="ok">passed</span>' if ok else '<span class="failed">FAILED</span>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}: {verdict}</h1>
<p>{sum(not e["success"] for e in report.get("expectations", []))} of {len(report.get("expectations", []))}
expectations failed. The JSON result is <a href="../validation.json">validation.json</a>; the expectations are
declared in the suite file named there.</p>
<table>
<thead><tr><th>result</th><th>table</th><th>expectation</th><th>column</th><th>allowed</th><th>unexpected</th>
<th>examples</th><th>ids</th><th>fix</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Great Expectations Data Docs</h2>
<ul>
{chr(10).join(links)}
</ul>
</body></html>
"""
