"""What a reader's install brings: the wheel, its ``book`` extra, the Pythons.

The real test of that path is ``make chapters`` (part of ``make test``): it
installs the wheel with its extra into a clean Python 3.12 environment
(scripts/wheel_env.py) and executes every chapter there
(scripts/run_chapters.py). These checks are the quick part of it, run with
the unit tests:

* the wheel ships every file of the package;
* every module a chapter or the package imports is declared, in the package's
  dependencies or in its ``book`` extra;
* requirements.txt installs the package with that extra instead of repeating
  it, so the two cannot drift;
* the supported Python versions agree everywhere they are written, and
  ``scripts/find_python.sh`` refuses the others with a message listing them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .scripts import load_script as _script

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
#: imported by a chapter but installed another way, and why
NOT_DECLARED = {
    "learn2learn": "rebuilt by python -m metabook.install_learn2learn",
    "google": "only on Colab (the Colab cell checks for google.colab)",
}


def _declared() -> set[str]:
    reqs = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["book"]
    return {canonicalize_name(Requirement(r).name) for r in reqs}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    wheel_env = _script("wheel_env")
    out = tmp_path_factory.mktemp("dist")
    return wheel_env.build_wheel(sys.executable, out, isolated=False)


def test_the_wheel_ships_every_file_of_the_package(wheel):
    tree = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "metabook").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("metabook/")}
    assert tree - shipped == set(), "files the wheel leaves out"


def test_the_wheel_declares_the_book_extra(wheel):
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/METADATA"))
        metadata = archive.read(name).decode()
    assert "Provides-Extra: book" in metadata
    for requirement in PROJECT["optional-dependencies"]["book"]:
        name = Requirement(requirement).name
        assert re.search(
            rf"Requires-Dist: {re.escape(name)}\b.*extra == .book.", metadata
        )


def _top_level_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif (
            isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        ):
            found.add(node.module.split(".")[0])
    return found


def _imports_of_chapters_and_package() -> dict[str, set[str]]:
    """Top-level module -> where it is imported."""
    where: dict[str, set[str]] = {}
    transform = TransformerManager().transform_cell
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                for name in _top_level_imports(transform(cell.source)):
                    where.setdefault(name, set()).add(path.name)
    for path in sorted((ROOT / "metabook").rglob("*.py")):
        for name in _top_level_imports(path.read_text(encoding="utf-8")):
            where.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    # data packages that metabook finds by name (require("wn", ...))
    for path in sorted((ROOT / "metabook").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"\brequire\(\s*\"(\w+)\"", text):
            where.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    return where


def test_every_import_is_declared():
    """A module imported by a chapter or by metabook comes from a distribution
    named in the dependencies or the `book` extra (not from one of theirs)."""
    declared = _declared()
    providers = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(_imports_of_chapters_and_package().items()):
        if module in sys.stdlib_module_names or module == "metabook":
            continue
        if module in NOT_DECLARED:
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists:
            missing.append(
                f"{module} (not installed here; in {sorted(where)[:3]})"
            )
        elif not dists & declared:
            missing.append(
                f"{module} from {sorted(dists)} (in {sorted(where)[:3]})"
            )
    assert not missing, "declare these in pyproject.toml: " + "; ".join(missing)


def test_requirements_install_the_package_with_its_extra():
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    lines = [line for line in lines if line]
    assert "-e .[book]" in lines
    pinned_here = {
        "torch",
        "torchvision",
    }  # the versions the book was made with
    others = [
        canonicalize_name(Requirement(line).name)
        for line in lines
        if not line.startswith("-")
    ]
    repeated = (set(others) & _declared()) - pinned_here
    assert not repeated, (
        f"declared in pyproject.toml, repeated here: {repeated}"
    )


# ---------------------------------------------------------------- Pythons
SUPPORTED = ("3.11", "3.12", "3.13")


def test_supported_versions_agree_everywhere():
    assert PROJECT["requires-python"] == f">={SUPPORTED[0]}"
    classifiers = {
        c.rsplit(":: ", 1)[1]
        for c in PROJECT["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    assert classifiers == set(SUPPORTED)
    makefile = (ROOT / "Makefile").read_text()
    assert f"SUPPORTED_PYTHONS := {' '.join(SUPPORTED)}" in makefile
    found = subprocess.run(
        ["bash", "scripts/find_python.sh", "--supported"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(found) == list(SUPPORTED)


def _check(python: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/find_python.sh", "--check", python],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_find_python_accepts_this_python():
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if version not in SUPPORTED:
        pytest.skip(f"running on Python {version}")
    base = getattr(sys, "_base_executable", sys.executable)
    assert _check(base).returncode == 0


def test_find_python_refuses_others_and_lists_the_supported(tmp_path):
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\necho "3.10"\n')  # answers like a Python 3.10
    fake.chmod(0o755)
    result = _check(str(fake))
    assert result.returncode == 1
    assert "3.11, 3.12 and 3.13" in result.stderr
    missing = _check(str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "3.11, 3.12 and 3.13" in missing.stderr


def test_the_learner_environment_is_rebuilt_when_requirements_change():
    wheel_env = _script("wheel_env")
    stamp = wheel_env.stamp_for("3.12.1")
    assert stamp["book"] == PROJECT["optional-dependencies"]["book"]
    assert stamp["dependencies"] == PROJECT["dependencies"]
    assert stamp != wheel_env.stamp_for("3.12.2")
