"""Sphinx glue that keeps the metabook site self-contained (loaded from
_config.yml).

1. Jupyter Book 1 registers *every* ``.js``/``.css`` file found under
   ``_static/`` as a page asset. The vendored MathJax and Mermaid trees
   (``_static/vendor/``, written by ``scripts/web_assets.sh``) must not be
   injected that way: MathJax is loaded once by ``sphinx.ext.mathjax`` through
   ``mathjax_path`` and Mermaid by sphinxcontrib-mermaid through
   ``mermaid_use_local``. We drop the ``vendor/`` entries again.
2. The build fails with a clear message when the vendored files are missing, or
   when ``mathjax_path``/``mermaid_use_local`` point at a remote URL, so a site
   that would need the internet is never produced silently.
3. Inline scripts that some extensions register twice are emitted once (see
   ``_dedupe_inline_scripts``), so no page starts with a console error.
4. Full-size and quick-size (``METABOOK_QUICK=1``) builds never share an
   execution cache: jupyter-cache keys notebooks on their code only, so a shared
   cache would let quick-size outputs end up on the full-size website (and vice
   versa).
5. The repository URL lives in one place, ``repository.url`` in ``_config.yml``.
   It is exposed to the pages as the MyST substitutions ``{{ repo_url }}`` and
   ``{{ pip_install_cell }}`` (a code block with the Colab install line).
"""

from __future__ import annotations

import os
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError

VENDOR_PREFIX = "vendor/"


def _asset_name(entry: object) -> str:
    # html_js_files / html_css_files hold either "name" or ("name", {attrs}).
    if isinstance(entry, (tuple, list)):
        return str(entry[0]) if entry else ""
    return str(entry)


def _drop_vendor_assets(config: Config) -> None:
    for key in ("html_js_files", "html_css_files"):
        entries = list(getattr(config, key, None) or [])
        setattr(
            config,
            key,
            [
                e
                for e in entries
                if not _asset_name(e).startswith(VENDOR_PREFIX)
            ],
        )


def _check_local(srcdir: Path, key: str, value: str) -> None:
    if not value or "://" in value or value.startswith("/"):
        raise ConfigError(
            f"{key}={value!r}: the site must not load scripts from the "
            "internet; "
            f"point it at a file under _static/ (see scripts/web_assets.sh)"
        )
    if not (srcdir / "_static" / value).is_file():
        raise ConfigError(
            f"{key} points at _static/{value}, which does not exist. "
            "Run `bash scripts/web_assets.sh` first: it installs MathJax and "
            "Mermaid "
            "from npm (web/package-lock.json) and copies them into "
            "_static/vendor/."
        )


def _repository_substitutions(config: Config) -> None:
    url = str(
        (config.html_theme_options or {}).get("repository_url", "")
    ).rstrip("/")
    if not url:
        raise ConfigError("repository.url must be set in _config.yml")
    subs = dict(config.myst_substitutions or {})
    subs.setdefault("repo_url", url)
    subs.setdefault(
        "pip_install_cell",
        # the install line of every chapter's Colab cell (scripts/colab_cell.py)
        f'```ipython\n%pip install "metabook[book] @ git+{url}"\n```',
    )
    config.myst_substitutions = subs


def _dedupe_inline_scripts(
    app: Sphinx,
    pagename: str,
    templatename: str,
    context: dict,
    doctree: object,
) -> None:
    """Drop repeated inline ``<script>`` blocks from the page.

    sphinx-thebe and sphinx-togglebutton register their inline configuration
    once with ``filename=None`` and once more with ``filename=''`` (Sphinx does
    not treat the two as equal), so every page would declare ``const
    THEBE_JS_URL`` twice, a SyntaxError in the browser console. Scripts with a
    file are left alone.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    kept = []
    for js in scripts:
        filename = getattr(js, "filename", js)
        attributes = getattr(js, "attributes", {})
        if not filename:
            key = (
                getattr(js, "priority", 500),
                tuple(sorted((k, str(v)) for k, v in attributes.items())),
            )
            if key in seen:
                continue
            seen.add(key)
        kept.append(js)
    scripts[:] = kept


def _separate_quick_cache(app: Sphinx, config: Config) -> None:
    if getattr(config, "nb_execution_cache_path", None):
        return  # set explicitly in _config.yml (execute.cache): respect it
    quick = os.environ.get("METABOOK_QUICK", "").strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
    }
    name = ".jupyter_cache-quick" if quick else ".jupyter_cache"
    config.nb_execution_cache_path = str(Path(app.outdir).parent / name)


def _on_config_inited(app: Sphinx, config: Config) -> None:
    srcdir = Path(app.srcdir)
    _separate_quick_cache(app, config)
    _drop_vendor_assets(config)
    _check_local(srcdir, "mathjax_path", config.mathjax_path)
    _check_local(srcdir, "mermaid_use_local", config.mermaid_use_local)
    _repository_substitutions(config)


def setup(app: Sphinx) -> dict:
    # Run after Jupyter Book and the extensions have registered their config
    # values.
    app.connect("config-inited", _on_config_inited, priority=900)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
