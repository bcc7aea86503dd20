"""Check the *built* website in headless Chromium.

Every page listed in ``_toc.yml`` is served from the build folder over HTTP on
127.0.0.1, opened once in headless Chromium, and checked for:

* loading (HTTP 200, a title);
* no SEVERE entry in the browser console (failed resources, uncaught errors);
* nothing fetched from anywhere but the local server (the site works offline; other
  hosts are made unresolvable so an attempt to reach one cannot succeed quietly);
* equations rendered by MathJax, with no MathJax errors;
* every image decoded (``naturalWidth > 0``);
* every Mermaid diagram drawn as an SVG;
* every internal link pointing at a file of the site, and at an existing ``id`` when
  it has a ``#fragment``.

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
"""

from __future__ import annotations

import functools
import html.parser
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
CHROMIUM = Path(os.environ.get("METABOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("METABOOK_CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL_HINT = "install Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
TIMEOUT_S = 60


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _skip_or_fail(reason: str) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping the site checks."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------- the pages
def toc_files(toc_path: Path = TOC) -> list[str]:
    """Every ``file:`` of the table of contents (and its root), in reading order."""
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


@pytest.fixture(scope="module")
def base_url(site_dir: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.is_file() and os.access(p, os.X_OK))]
    if missing:
        _skip_or_fail(f"headless Chromium not available ({', '.join(missing)} missing): {INSTALL_HINT}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover - selenium is in requirements.txt
        _skip_or_fail("selenium is not installed (pip install selenium)")

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
        "--window-size=1280,2000",
        # Every host but the local server is unresolvable: a page that tries to fetch
        # anything from the internet fails loudly here instead of working by luck.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
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
const settled = images.map((img) => (img.complete && img.naturalWidth > 0) ? Promise.resolve() :
    new Promise((resolve) => {
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
    const pending = diagrams.filter((el) => !el.hasAttribute("data-mermaid-deferred")
        && !el.hasAttribute("data-mermaid-render-failed") && !el.querySelector("svg"));
    if (pending.length && Date.now() < deadline) { setTimeout(check, 100); return; }
    done(diagrams.map((el, i) => {
        const svg = el.querySelector("svg");
        return {
            index: i,
            svg: !!svg,
            deferred: el.hasAttribute("data-mermaid-deferred"),
            failed: el.hasAttribute("data-mermaid-render-failed")
                || (!!svg && svg.getAttribute("aria-roledescription") === "error"),
            text: (el.getAttribute("data-original-code") || el.textContent || "").trim().slice(0, 80),
        };
    }));
};
check();
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


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 - local URL
            return response.status, response.read().decode("utf-8", errors="replace")
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
    report.mjx_containers = driver.execute_script("return document.querySelectorAll('mjx-container').length")
    report.mjx_errors = driver.execute_script(
        "return Array.from(document.querySelectorAll('mjx-merror'))"
        ".map((e) => e.getAttribute('data-mjx-error') || e.textContent)"
    )
    report.broken_images = driver.execute_async_script(_WAIT_FOR_IMAGES)
    report.mermaid = driver.execute_async_script(_WAIT_FOR_MERMAID)
    report.links = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map((a) => a.href)"
    )
    report.resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    # Markdown tables that reached the page as text (e.g. a display(Markdown(...)) output
    # rendered as CommonMark) show up as visible lines of pipes and dashes (which
    # SmartQuotes may have turned into en or em dashes).
    report.raw_tables = driver.execute_script(
        "return Array.from(document.querySelectorAll('p, div.output'))"
        ".map((e) => e.innerText).filter((t) => /\\|\\s*:?(?:-{3,}|[\u2013\u2014]+):?\\s*\\|/.test(t))"
        ".map((t) => t.slice(0, 120))"
    )
    report.console = driver.get_log("browser")
    return report


@pytest.fixture(scope="module")
def visit(driver: Any, base_url: str) -> Any:
    """``visit(page)`` -> :class:`PageReport`, each page opened once per module."""
    cache: dict[str, PageReport] = {}

    def get(page: str) -> PageReport:
        if page not in cache:
            cache[page] = _visit(driver, base_url, page)
        report = cache[page]
        if report.status != 200:
            pytest.fail(f"{page}: HTTP {report.status} for {report.url}", pytrace=False)
        return report

    return get


class _IdCollector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is not None and (name == "id" or (tag == "a" and name == "name")):
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def _ids_in(path: Path) -> frozenset[str]:
    collector = _IdCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.ids)


def _strip_code(markup: str) -> str:
    """The page without <pre>/<code> blocks, where a literal ``\\(`` is just code."""
    import re

    return re.sub(r"<(pre|code)\b.*?</\1>", "", markup, flags=re.S | re.I)


def _page_has_math(markup: str) -> bool:
    return 'class="math' in markup or "\\(" in _strip_code(markup)


# ----------------------------------------------------------------------- tests
def test_toc_lists_pages() -> None:
    assert PAGES, f"{TOC} lists no pages"
    assert PAGES[0] == page_path(str(yaml.safe_load(TOC.read_text(encoding="utf-8"))["root"]))


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
def test_loads_nothing_from_the_internet(visit: Any, base_url: str, page: str) -> None:
    report = visit(page)
    remote = [
        name for name in report.resources
        if not name.startswith(base_url) and not name.startswith(("data:", "blob:", "about:"))
    ]
    assert not remote, f"{page} fetched resources from outside the site:\n  " + "\n  ".join(remote)


@pytest.mark.parametrize("page", PAGES)
def test_math_renders(visit: Any, page: str) -> None:
    report = visit(page)
    if not _page_has_math(report.html):
        return
    assert report.mathjax == "ok", f"{page} has math but MathJax did not start: {report.mathjax}"
    assert report.mjx_containers > 0, f"{page} has math but MathJax rendered no <mjx-container>"
    assert not report.mjx_errors, f"{page}: MathJax errors: {report.mjx_errors}"


@pytest.mark.parametrize("page", PAGES)
def test_images_load(visit: Any, page: str) -> None:
    broken = visit(page).broken_images
    assert not broken, f"{page}: images that did not load: {broken}"


@pytest.mark.parametrize("page", PAGES)
def test_mermaid_renders(visit: Any, page: str) -> None:
    diagrams = visit(page).mermaid
    bad = [d for d in diagrams if not d["deferred"] and (d["failed"] or not d["svg"])]
    assert not bad, f"{page}: Mermaid diagrams not rendered to an SVG:\n" + "\n".join(
        f"  #{d['index']} ({'error diagram' if d['failed'] else 'no svg'}): {d['text']!r}" for d in bad
    )


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(visit: Any, base_url: str, site_dir: Path, page: str) -> None:
    report = visit(page)
    origin = urlsplit(base_url)
    problems: list[str] = []
    for href in sorted(set(report.links)):
        parts = urlsplit(href)
        if parts.scheme not in {"http", "https"} or parts.netloc != origin.netloc:
            continue  # external, mailto:, javascript: ...
        rel = unquote(parts.path).lstrip("/")
        target = site_dir / rel
        if not rel or rel.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"{href}: no file {target.relative_to(site_dir)}")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html" and fragment not in _ids_in(target):
            problems.append(f"{href}: no element with id={fragment!r} in {target.relative_to(site_dir)}")
    assert not problems, f"{page}: broken internal links:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page", PAGES)
def test_tables_render(visit: Any, page: str) -> None:
    """No Markdown table is left as raw text (pipes and dashes) on the page."""
    report = visit(page)
    assert not report.raw_tables, f"{page}: unrendered Markdown tables: {report.raw_tables}"
