#!/usr/bin/env python3
"""The Colab cell: the second cell of every chapter, the same everywhere.

On Colab it installs ``metabook[book]`` (the package and everything the chapters
import) from the book's repository, whose URL is written once, as
``repository.url`` in ``_config.yml``; selects the quick size unless the
reader sets ``FULL_SIZE = True``; and prints the device (``metabook.colab``).
Anywhere else it does nothing. On the website it is hidden (``remove-cell``).

    python scripts/colab_cell.py            # print the cell
    python scripts/colab_cell.py --check    # exit 1 if any chapter's differs
    python scripts/colab_cell.py --write    # put it into every chapter

``tests/test_notebooks.py`` runs the check, so a chapter whose cell (and so its
install line) differs fails the tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
INDEX = 1  # the second cell: the first is the chapter's title and objectives
TAGS = ["remove-cell"]

TEMPLATE = """\
# On Colab: installs metabook and what the chapters need, picks the size and
# shows the device. Anywhere else this cell does nothing.
import sys

FULL_SIZE = False  # True: the website's full size (slow without a GPU)
REPOSITORY = "{url}"
if "google.colab" in sys.modules:
    %pip install -q "metabook[book] @ git+{{REPOSITORY}}"
    from metabook.colab import configure

    configure(full_size=FULL_SIZE)"""


def repository_url(root: Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = str(config["repository"]["url"]).rstrip("/")
    if not url.startswith("https://"):
        raise ValueError(
            f"repository.url={url!r} in _config.yml must be https://"
        )
    return url


def install_line(url: str) -> str:
    """The install command as a reader types it (book/setup.md shows it)."""
    return f'%pip install "metabook[book] @ git+{url}"'


def cell_source(root: Path = ROOT) -> str:
    return TEMPLATE.format(url=repository_url(root))


def chapters(root: Path = ROOT) -> list[Path]:
    paths = sorted((root / "notebooks").glob("*.ipynb"))
    return [p for p in paths if ".ipynb_checkpoints" not in p.parts]


def differs(path: Path, source: str) -> str | None:
    """Why a chapter's Colab cell is not the right one (``None`` if it is)."""
    nb = nbformat.read(path, as_version=4)
    if len(nb.cells) <= INDEX:
        return "has no second cell"
    cell = nb.cells[INDEX]
    if cell.cell_type != "code":
        return "its second cell is not a code cell"
    if cell.source != source:
        return "its second cell is not the Colab cell of scripts/colab_cell.py"
    if cell.metadata.get("tags") != TAGS:
        return (
            f"its Colab cell's tags are {cell.metadata.get('tags')}, not {TAGS}"
        )
    return None


def write(path: Path, source: str) -> bool:
    """Make a chapter's second cell the Colab cell (inserted if missing)."""
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[INDEX] if len(nb.cells) > INDEX else None
    if (
        cell is None
        or cell.cell_type != "code"
        or "google.colab" not in cell.source
    ):
        cell = nbformat.v4.new_code_cell()
        nb.cells.insert(INDEX, cell)
    if cell.source == source and cell.metadata.get("tags") == TAGS:
        return False
    cell.source = source
    cell.metadata["tags"] = list(TAGS)
    cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true")
    group.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    source = cell_source()
    if args.write:
        for path in chapters():
            if write(path, source):
                print(f"updated {path.relative_to(ROOT)}")
        return 0
    if args.check:
        bad = [(p, differs(p, source)) for p in chapters()]
        bad = [(p, why) for p, why in bad if why]
        for path, why in bad:
            print(f"{path.relative_to(ROOT)}: {why}", file=sys.stderr)
        if bad:
            print("fix: python scripts/colab_cell.py --write", file=sys.stderr)
        return 1 if bad else 0
    print(source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
