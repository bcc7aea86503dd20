"""Check the *built* website in headless Chromium.

Every page listed in ``_toc.yml`` is served from the build folder over HTTP on
127.0.0.1, opened once in headless Chromium, and checked for:

* loading (HTTP 200, a title);
* no SEVERE entry in the browser console (failed resources, uncaught errors);
* nothing fetched from anywhere but the local server (the site works offline;
  other hosts are made unresolvable so an attempt to reach one cannot succeed
  quietly);
* equations rendered by MathJax, with no MathJax errors;
* every image decoded (``naturalWidth > 0``);
* every Mermaid diagram drawn as an SVG;
* every internal link pointing at a file of the site, and at an existing ``id``
  when it has a ``#fragment``;
* nothing cut off at the page edge, at the book's reading width
  (:data:`READING_WIDTH`): no code block, printed output or table wider than its
  box (readable only by scrolling sideways), and no image wider than the content
  column. Collapsed blocks (hidden cell sources, solutions) are opened first and
  measured too. A notebook cell may be exempted, rarely and explicitly, by the
  cell tag ``allow-overflow`` *and* a reason in its metadata,
  ``"overflow_reason"``.

Settings (environment variables):

``METABOOK_SITE_DIR``
    the built site, default ``_build/html`` (a relative path is taken from the
    repository root).
``METABOOK_CHROMIUM`` / ``METABOOK_CHROMEDRIVER``
    the browser and its driver, default Debian's ``/usr/bin/chromium`` and
    ``/usr/bin/chromedriver``. They are always given to Selenium explicitly, so
    Selenium Manager never tries to download a browser or a driver.
``CI``
    when set, a missing browser or a missing site is a failure, not a skip.

Run: ``METABOOK_SITE_DIR=_build/html python -m pytest tests/test_site.py -v``

Measure only, page by page (counts of cut code cells, outputs, images)::

    python -m tests.test_site _build/html            # or: --width 1400
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import html.parser
import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
CHROMIUM = Path(os.environ.get("METABOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(
    os.environ.get("METABOOK_CHROMEDRIVER", "/usr/bin/chromedriver")
)
INSTALL_HINT = (
    "install Debian's chromium and chromium-driver: "
    "apt-get install chromium chromium-driver"
)
TIMEOUT_S = 60
# The window the pages are read in (CSS pixels): the theme's content column is
# then 772 pixels wide and fits 87 characters of code.
READING_WIDTH = 1400
# Narrower windows (a laptop, a browser beside another window): the book's CSS
# narrows the sidebars there (_static/metabook.css) so that 80-column code and
# output still fit; a wide figure may be shrunk a little, never cut.
LAPTOP_WIDTHS = (1000, 1280)
OVERFLOW_TAG = "allow-overflow"
OVERFLOW_REASON = "overflow_reason"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {
        "",
        "0",
        "false",
        "no",
    }


def _skip_or_fail(reason: str) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping site checks."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(reason)


# ----------------------------------------------------------------- the pages
def toc_files(toc_path: Path = TOC) -> list[str]:
    """Every ``file:`` of the table of contents (and its root), in order."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    if "root" in toc:
        files.append(str(toc["root"]))
    walk(toc)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def page_path(toc_file: str) -> str:
    """``book/intro`` (or ``book/intro.md``) -> ``book/intro.html``."""
    stem = toc_file
    for suffix in (".md", ".ipynb", ".rst"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem + ".html"


PAGES = [page_path(f) for f in toc_files()]


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def site_dir() -> Path:
    path = Path(os.environ.get("METABOOK_SITE_DIR", "_build/html"))
    if not path.is_absolute():
        path = ROOT / path
    if not (path.is_dir() and any(path.glob("*.html"))):
        _skip_or_fail(
            f"no built site at {path}: build the site first "
            "(jupyter-book build . ; or set METABOOK_SITE_DIR)"
        )
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".woff": "font/woff",
        ".woff2": "font/woff2",
        ".svg": "image/svg+xml",
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass


@contextlib.contextmanager
def serve(site_dir: Path) -> Iterator[str]:
    """Serve ``site_dir`` on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, name="site-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(site_dir: Path) -> Iterator[str]:
    with serve(site_dir) as url:
        yield url


def _missing_browser() -> list[str]:
    return [
        str(p)
        for p in (CHROMIUM, CHROMEDRIVER)
        if not (p.is_file() and os.access(p, os.X_OK))
    ]


def _need_browser() -> None:
    missing = _missing_browser()
    if missing:
        _skip_or_fail(
            f"headless Chromium not available ({', '.join(missing)} missing): "
            + INSTALL_HINT
        )
    try:
        import selenium  # noqa: F401
    except ImportError:  # pragma: no cover - selenium is in requirements.txt
        _skip_or_fail("selenium is not installed (pip install selenium)")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    _need_browser()
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module", params=LAPTOP_WIDTHS, ids=lambda w: f"{w}px")
def laptop(request: Any) -> Iterator[tuple[int, Any]]:
    """``(width, browser)``: Chromium in a narrower window."""
    _need_browser()
    with chromium(request.param) as browser:
        yield request.param, browser


@contextlib.contextmanager
def chromium(width: int = READING_WIDTH) -> Iterator[Any]:
    """Headless Chromium via Selenium, ``width`` CSS pixels wide, offline."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Belt and braces: Selenium Manager must never reach for the network.
    os.environ.setdefault("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="metabook-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--window-size={width},2000",
        # Every host but the local server is unresolvable: a page that tries to
        # fetch anything from the internet fails loudly here instead of working
        # by luck.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(
        service=Service(executable_path=str(CHROMEDRIVER)), options=options
    )
    browser.set_page_load_timeout(TIMEOUT_S)
    browser.set_script_timeout(TIMEOUT_S)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


# ------------------------------------------------------------- page inspection
_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const mj = window.MathJax;
if (!mj || !mj.startup || !mj.startup.promise) { done("not loaded"); return; }
mj.startup.promise.then(() => done("ok"), (err) => done("failed: " + err));
"""

_WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
const settled = images.map((img) => (img.complete && img.naturalWidth > 0)
    ? Promise.resolve() : new Promise((resolve) => {
        img.addEventListener("load", resolve, {once: true});
        img.addEventListener("error", resolve, {once: true});
        setTimeout(resolve, 15000);
    }));
Promise.all(settled).then(() => done(images
    .filter((img) => !(img.complete && img.naturalWidth > 0))
    .map((img) => img.getAttribute("src") || img.outerHTML.slice(0, 200))));
"""

_WAIT_FOR_MERMAID = """
const done = arguments[arguments.length - 1];
const deadline = Date.now() + 30000;
const check = () => {
    const diagrams = Array.from(document.querySelectorAll(".mermaid"))
        .filter((el) => !el.closest(".mermaid-fullscreen-modal"));
    const pending = diagrams.filter((el) =>
        !el.hasAttribute("data-mermaid-deferred")
        && !el.hasAttribute("data-mermaid-render-failed")
        && !el.querySelector("svg"));
    if (pending.length && Date.now() < deadline) {
        setTimeout(check, 100);
        return;
    }
    done(diagrams.map((el, i) => {
        const svg = el.querySelector("svg");
        return {
            index: i,
            svg: !!svg,
            deferred: el.hasAttribute("data-mermaid-deferred"),
            failed: el.hasAttribute("data-mermaid-render-failed")
                || (!!svg
                    && svg.getAttribute("aria-roledescription") === "error"),
            text: (el.getAttribute("data-original-code") || el.textContent
                || "").trim().slice(0, 80),
        };
    }));
};
check();
"""


CUT_KINDS = ("code", "output", "prose code", "prose table", "image")
"""What the overflow test fails on (display math is only measured)."""

# Everything on the page that can be cut off at its right edge, measured after
# every <details> (hidden cell sources, solutions, dropdowns) is opened. A block
# is cut when its content is wider than its box (scrollWidth > clientWidth: a
# reader must scroll sideways); an image when it is wider than the content
# column (so it is cut, or shrunk along with its lettering).
_MEASURE_OVERFLOW = r"""
document.querySelectorAll("details").forEach((d) => { d.open = true; });
const article = document.querySelector("article.bd-article")
    || document.querySelector("main") || document.body;
const style = getComputedStyle(article);
const column = article.clientWidth - parseFloat(style.paddingLeft)
    - parseFloat(style.paddingRight);
const cells = Array.from(article.querySelectorAll("div.cell"));
const cut = (el) => el.scrollWidth > el.clientWidth + 1;
const out = [];
const add = (kind, el, wide, content, box, text) => {
    const cell = el.closest("div.cell");
    out.push({
        kind: kind,
        cell: cell ? cells.indexOf(cell) : null,
        allowed: !!(cell && cell.classList.contains("tag_allow-overflow")),
        cut: wide,
        content: Math.round(content),
        box: Math.round(box),
        text: text.trim().split("\n")[0].slice(0, 70),
    });
};
// textContent too: a collapsed dropdown (visibility: hidden) has no innerText,
// but it is laid out at its full width, so it is measured all the same.
const text = (el) => el.innerText || el.textContent || "";
const addBlock = (kind, pre) =>
    add(kind, pre, cut(pre), pre.scrollWidth, pre.clientWidth, text(pre));
const addTable = (kind, table) => {
    const box = table.closest(".pst-scrollable-table-container")
        || table.parentElement;
    const wide = cut(box) || table.offsetWidth > box.clientWidth + 1;
    const width = Math.max(box.scrollWidth, table.offsetWidth);
    add(kind, table, wide, width, box.clientWidth, text(table));
};
cells.forEach((cell) => {
    cell.querySelectorAll(".cell_input pre")
        .forEach((pre) => addBlock("code", pre));
    cell.querySelectorAll(".cell_output pre")
        .forEach((pre) => addBlock("output", pre));
    cell.querySelectorAll(".cell_output table")
        .forEach((table) => addTable("output", table));
});
article.querySelectorAll("div.highlight pre").forEach((pre) => {
    if (!pre.closest("div.cell")) addBlock("prose code", pre);
});
article.querySelectorAll("table").forEach((table) => {
    if (!table.closest("div.cell")) addTable("prose table", table);
});
article.querySelectorAll("img").forEach((img) => {
    const shown = img.getBoundingClientRect().width;
    const wide = img.naturalWidth > column + 1 || shown > column + 1;
    const src = (img.getAttribute("src") || "").split("/").pop();
    add("image", img, wide, img.naturalWidth, column, src);
});
article.querySelectorAll("div.math").forEach((box) => {
    add("math", box, cut(box), box.scrollWidth, box.clientWidth, text(box));
});
return {column: Math.round(column), blocks: out};
"""


@dataclass
class PageReport:
    """What one visit of one page found."""

    url: str
    status: int | None = None
    title: str = ""
    html: str = ""
    console: list[dict[str, Any]] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    mathjax: str = ""
    mjx_containers: int = 0
    mjx_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    mermaid: list[dict[str, Any]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    raw_tables: list[str] = field(default_factory=list)
    column: int = 0
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def cut_off(
        self, kinds: tuple[str, ...] = CUT_KINDS
    ) -> list[dict[str, Any]]:
        """The blocks of ``kinds`` that are cut off and not allowed to be."""
        return [
            b
            for b in self.blocks
            if b["kind"] in kinds and b["cut"] and not b["allowed"]
        ]


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 - local URL
            return response.status, response.read().decode(
                "utf-8", errors="replace"
            )
    except urllib.error.HTTPError as err:
        return err.code, ""


def _visit(driver: Any, base_url: str, page: str) -> PageReport:
    url = urljoin(base_url, page)
    report = PageReport(url=url)
    report.status, report.html = _fetch(url)
    if report.status != 200:
        return report
    driver.get_log("browser")  # drop what earlier pages left behind
    driver.get(url)
    report.title = driver.title
    report.mathjax = driver.execute_async_script(_WAIT_FOR_MATHJAX)
    report.mjx_containers = driver.execute_script(
        "return document.querySelectorAll('mjx-container').length"
    )
    report.mjx_errors = driver.execute_script(
        "return Array.from(document.querySelectorAll('mjx-merror'))"
        ".map((e) => e.getAttribute('data-mjx-error') || e.textContent)"
    )
    report.broken_images = driver.execute_async_script(_WAIT_FOR_IMAGES)
    report.mermaid = driver.execute_async_script(_WAIT_FOR_MERMAID)
    report.links = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map((a) => "
        "a.href)"
    )
    report.resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    # Markdown tables that reached the page as text (e.g. a
    # display(Markdown(...)) output rendered as CommonMark) show up as visible
    # lines of pipes and dashes (which SmartQuotes may have turned into en or em
    # dashes).
    report.raw_tables = driver.execute_script(
        "return Array.from(document.querySelectorAll('p, div.output'))"
        ".map((e) => e.innerText).filter((t) => "
        "/\\|\\s*:?(?:-{3,}|[\u2013\u2014]+):?\\s*\\|/.test(t))"
        ".map((t) => t.slice(0, 120))"
    )
    measured = driver.execute_script(_MEASURE_OVERFLOW)
    report.column, report.blocks = measured["column"], measured["blocks"]
    report.console = driver.get_log("browser")
    return report


@pytest.fixture(scope="module")
def visit(driver: Any, base_url: str) -> Any:
    """``visit(page)`` -> :class:`PageReport`; a page is opened once."""
    cache: dict[str, PageReport] = {}

    def get(page: str) -> PageReport:
        if page not in cache:
            cache[page] = _visit(driver, base_url, page)
        report = cache[page]
        if report.status != 200:
            pytest.fail(
                f"{page}: HTTP {report.status} for {report.url}", pytrace=False
            )
        return report

    return get


class _IdCollector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> None:
        for name, value in attrs:
            if value is not None and (
                name == "id" or (tag == "a" and name == "name")
            ):
                self.ids.add(value)


@functools.cache
def _ids_in(path: Path) -> frozenset[str]:
    collector = _IdCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.ids)


def _strip_code(markup: str) -> str:
    """The page without <pre>/<code> (where a literal ``\\(`` is code)."""
    import re

    return re.sub(r"<(pre|code)\b.*?</\1>", "", markup, flags=re.S | re.I)


def _page_has_math(markup: str) -> bool:
    return 'class="math' in markup or "\\(" in _strip_code(markup)


# ----------------------------------------------------------------------- tests
def test_toc_lists_pages() -> None:
    assert PAGES, f"{TOC} lists no pages"
    assert PAGES[0] == page_path(
        str(yaml.safe_load(TOC.read_text(encoding="utf-8"))["root"])
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_loads(visit: Any, page: str) -> None:
    report = visit(page)
    assert report.title.strip(), f"{page} has an empty <title>"


@pytest.mark.parametrize("page", PAGES)
def test_no_console_errors(visit: Any, page: str) -> None:
    severe = [e for e in visit(page).console if e.get("level") == "SEVERE"]
    assert not severe, f"{page}: browser console errors:\n" + "\n".join(
        f"  [{e.get('source', '?')}] {e.get('message', e)}" for e in severe
    )


@pytest.mark.parametrize("page", PAGES)
def test_loads_nothing_from_the_internet(
    visit: Any, base_url: str, page: str
) -> None:
    report = visit(page)
    remote = [
        name
        for name in report.resources
        if not name.startswith(base_url)
        and not name.startswith(("data:", "blob:", "about:"))
    ]
    assert not remote, (
        f"{page} fetched resources from outside the site:\n  "
        + "\n  ".join(remote)
    )


@pytest.mark.parametrize("page", PAGES)
def test_math_renders(visit: Any, page: str) -> None:
    report = visit(page)
    if not _page_has_math(report.html):
        return
    assert report.mathjax == "ok", (
        f"{page} has math but MathJax did not start: {report.mathjax}"
    )
    assert report.mjx_containers > 0, (
        f"{page} has math but MathJax rendered no <mjx-container>"
    )
    assert not report.mjx_errors, f"{page}: MathJax errors: {report.mjx_errors}"


@pytest.mark.parametrize("page", PAGES)
def test_images_load(visit: Any, page: str) -> None:
    broken = visit(page).broken_images
    assert not broken, f"{page}: images that did not load: {broken}"


@pytest.mark.parametrize("page", PAGES)
def test_mermaid_renders(visit: Any, page: str) -> None:
    diagrams = visit(page).mermaid
    bad = [
        d
        for d in diagrams
        if not d["deferred"] and (d["failed"] or not d["svg"])
    ]
    assert not bad, (
        f"{page}: Mermaid diagrams not rendered to an SVG:\n"
        + "\n".join(
            f"  #{d['index']} "
            f"({'error diagram' if d['failed'] else 'no svg'}): {d['text']!r}"
            for d in bad
        )
    )


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(
    visit: Any, base_url: str, site_dir: Path, page: str
) -> None:
    report = visit(page)
    origin = urlsplit(base_url)
    problems: list[str] = []
    for href in sorted(set(report.links)):
        parts = urlsplit(href)
        if (
            parts.scheme not in {"http", "https"}
            or parts.netloc != origin.netloc
        ):
            continue  # external, mailto:, javascript: ...
        rel = unquote(parts.path).lstrip("/")
        target = site_dir / rel
        if not rel or rel.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"{href}: no file {target.relative_to(site_dir)}")
            continue
        fragment = unquote(parts.fragment)
        if (
            fragment
            and target.suffix == ".html"
            and fragment not in _ids_in(target)
        ):
            problems.append(
                f"{href}: no element with id={fragment!r} in "
                f"{target.relative_to(site_dir)}"
            )
    assert not problems, f"{page}: broken internal links:\n  " + "\n  ".join(
        problems
    )


@pytest.mark.parametrize("page", PAGES)
def test_tables_render(visit: Any, page: str) -> None:
    """No Markdown table is left as raw text (pipes and dashes) on the page."""
    report = visit(page)
    assert not report.raw_tables, (
        f"{page}: unrendered Markdown tables: {report.raw_tables}"
    )


def _describe(block: dict[str, Any]) -> str:
    where = "" if block["cell"] is None else f"cell {block['cell']}, "
    return (
        f"  {block['kind']} ({where}{block['content']} px in a "
        f"{block['box']} px box): {block['text']!r}"
    )


@pytest.mark.parametrize("page", PAGES)
def test_nothing_cut_off(visit: Any, page: str) -> None:
    """No code, output, table or image is wider than its box on the page."""
    report = visit(page)
    bad = report.cut_off()
    assert not bad, (
        f"{page}: {len(bad)} blocks cut off at the page edge in a "
        f"{READING_WIDTH} px window (content column {report.column} px); "
        "shorten the lines (ruff format; print within 80 columns), or, rarely, "
        f"tag the cell {OVERFLOW_TAG!r} with a reason in its metadata "
        f"{OVERFLOW_REASON!r}:\n" + "\n".join(_describe(b) for b in bad)
    )


@pytest.mark.parametrize("page", PAGES)
def test_code_and_output_fit_a_laptop(
    laptop: tuple[int, Any], base_url: str, page: str
) -> None:
    """In the narrower windows too, no code, output or table is cut off."""
    width, browser = laptop
    report = _visit(browser, base_url, page)
    assert report.status == 200, f"{page}: HTTP {report.status}"
    bad = report.cut_off(tuple(k for k in CUT_KINDS if k != "image"))
    assert not bad, (
        f"{page}: {len(bad)} blocks cut off in a {width} px window (content "
        f"column {report.column} px); see _static/metabook.css:\n"
        + "\n".join(_describe(b) for b in bad)
    )


def _notebook_of(toc_file: str) -> Path | None:
    stem = toc_file.removesuffix(".ipynb")
    path = ROOT / f"{stem}.ipynb"
    return path if path.is_file() else None


def test_overflow_exceptions_have_reasons() -> None:
    """Every cell tagged allow-overflow says why, in its metadata."""
    problems = []
    for toc_file in toc_files():
        path = _notebook_of(toc_file)
        if path is None:
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            meta = cell.get("metadata", {})
            if OVERFLOW_TAG not in meta.get("tags", []):
                continue
            reason = meta.get(OVERFLOW_REASON)
            if not (isinstance(reason, str) and reason.strip()):
                problems.append(f"{path.name}, cell {i}")
    assert not problems, (
        f"cells tagged {OVERFLOW_TAG!r} without a reason in their metadata "
        f"({OVERFLOW_REASON!r}): " + ", ".join(problems)
    )


# ------------------------------------------------------- measuring, standalone
COUNTED = ("code", "output", "image", "prose code", "prose table", "math")


def overflow_counts(report: PageReport) -> dict[str, tuple[int, int]]:
    """``kind -> (cut, total)`` on one page (allowed blocks are not cut)."""
    counts = {}
    for kind in COUNTED:
        blocks = [b for b in report.blocks if b["kind"] == kind]
        counts[kind] = (len(report.cut_off((kind,))), len(blocks))
    return counts


def main(argv: list[str] | None = None) -> int:
    """Print, page by page, how many blocks are cut off; 1 if any is."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.test_site", description=main.__doc__
    )
    parser.add_argument(
        "site", type=Path, help="the built site, e.g. _build/html"
    )
    parser.add_argument("--width", type=int, default=READING_WIDTH)
    parser.add_argument(
        "--details", action="store_true", help="list every cut block"
    )
    parser.add_argument("--json", type=Path, help="also write the blocks here")
    args = parser.parse_args(argv)
    if missing := _missing_browser():
        parser.error(
            f"no headless Chromium ({', '.join(missing)}): {INSTALL_HINT}"
        )
    table = [("page", "column") + COUNTED]
    everything: dict[str, Any] = {}
    totals = {kind: [0, 0] for kind in COUNTED}
    with serve(args.site.resolve()) as url, chromium(args.width) as driver:
        for page in PAGES:
            report = _visit(driver, url, page)
            counts = overflow_counts(report)
            everything[page] = {
                "column": report.column,
                "blocks": report.blocks,
            }
            row = [f"{cut}/{n}" if n else "-" for cut, n in counts.values()]
            table.append((page, str(report.column), *row))
            for kind, (cut, n) in counts.items():
                totals[kind][0] += cut
                totals[kind][1] += n
            if args.details:
                for block in report.cut_off(COUNTED):
                    print(f"{page}:{_describe(block)}")
    table.append(("all pages", "", *(f"{c}/{n}" for c, n in totals.values())))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print(f"cut off / all, in a {args.width} px window:")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1), encoding="utf-8")
    return int(any(totals[k][0] for k in CUT_KINDS))


if __name__ == "__main__":
    raise SystemExit(main())
