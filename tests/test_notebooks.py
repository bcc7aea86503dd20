"""Notebook hygiene: no outputs, every chapter in the toc, one Colab cell."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
import yaml

from .scripts import load_script as _script

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("**/*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have outputs; clear them before committing"
    )


def _toc_files(node) -> list[str]:
    files = []
    if isinstance(node, dict):
        if "file" in node:
            files.append(node["file"])
        if "root" in node:
            files.append(node["root"])
        for value in node.values():
            files += _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            files += _toc_files(item)
    return files


def test_every_notebook_is_in_the_toc():
    toc = set(_toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text())))
    for path in NOTEBOOKS:
        rel = path.relative_to(ROOT).with_suffix("").as_posix()
        assert rel in toc, f"{rel} is not listed in _toc.yml"
    for entry in toc:
        assert (ROOT / f"{entry}.md").exists() or (
            ROOT / f"{entry}.ipynb"
        ).exists(), f"_toc.yml lists missing {entry}"


colab_cell = _script("colab_cell")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_second_cell_is_the_colab_cell(path):
    """Every chapter's second cell is the one Colab cell, whose install line
    names the repository of _config.yml (python scripts/colab_cell.py --write
    fixes it)."""
    why = colab_cell.differs(path, colab_cell.cell_source())
    assert why is None, (
        f"{path.name}: {why}; run python scripts/colab_cell.py --write"
    )


def test_colab_cell_installs_the_book_extra_from_the_configured_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"][
        "url"
    ]
    source = colab_cell.cell_source()
    assert f'REPOSITORY = "{url.rstrip("/")}"' in source
    assert '%pip install -q "metabook[book] @ git+{REPOSITORY}"' in source
    assert "FULL_SIZE = False" in source


def test_setup_page_shows_the_same_install_line():
    """book/setup.md's {{ pip_install_cell }}: from _ext/offline_assets.py."""
    spec = importlib.util.spec_from_file_location(
        "offline_assets", ROOT / "_ext" / "offline_assets.py"
    )
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    url = colab_cell.repository_url()
    config = types.SimpleNamespace(
        html_theme_options={"repository_url": url}, myst_substitutions={}
    )
    ext._repository_substitutions(config)
    assert (
        colab_cell.install_line(url)
        in config.myst_substitutions["pip_install_cell"]
    )


def _run_colab_cell(monkeypatch, full_size: bool) -> tuple[list[str], str]:
    """Run the Colab cell in an IPython shell that believes it is on Colab, with
    %pip recorded instead of run. Returns the %pip arguments and the output."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    monkeypatch.setitem(
        sys.modules, "google.colab", types.ModuleType("google.colab")
    )
    monkeypatch.delenv("METABOOK_QUICK", raising=False)
    shell = InteractiveShell.instance()
    calls = []
    shell.register_magic_function(
        lambda line: calls.append(line), "line", "pip"
    )
    source = colab_cell.cell_source()
    if full_size:
        source = source.replace("FULL_SIZE = False", "FULL_SIZE = True")
    try:
        with capture_output() as captured:
            result = shell.run_cell(source)
        result.raise_error()
    finally:
        InteractiveShell.clear_instance()
    return calls, captured.stdout


def test_colab_cell_on_colab(monkeypatch):
    import os

    url = colab_cell.repository_url()
    calls, printed = _run_colab_cell(monkeypatch, full_size=False)
    assert calls == [f'install -q "metabook[book] @ git+{url}"']
    assert os.environ["METABOOK_QUICK"] == "1"
    assert "quick size, on cpu" in printed
    assert "FULL_SIZE" in printed  # how to ask for the full size
    assert "Change runtime type" in printed  # how to get a GPU
    assert all(len(line) <= 80 for line in printed.splitlines())


def test_colab_cell_full_size(monkeypatch):
    import os

    _, printed = _run_colab_cell(monkeypatch, full_size=True)
    assert os.environ["METABOOK_QUICK"] == "0"
    assert "full size" in printed


def test_colab_cell_does_nothing_elsewhere(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    shell = InteractiveShell.instance()
    calls = []
    shell.register_magic_function(
        lambda line: calls.append(line), "line", "pip"
    )
    try:
        shell.run_cell(colab_cell.cell_source()).raise_error()
    finally:
        InteractiveShell.clear_instance()
    assert calls == []
