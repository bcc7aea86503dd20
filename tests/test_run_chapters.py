"""scripts/run_chapters.py: which chapters `make book` still has to execute,
and in which order."""

from __future__ import annotations

import json

import nbformat
import pytest

from .scripts import ROOT
from .scripts import load_script as _script

run_chapters = _script("run_chapters")


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_chapter_is_cached_only_as_it_was_executed(tmp_path) -> None:
    cache = tmp_path / "cache"
    source = _notebook(tmp_path / "chapter.ipynb", "x = 1\nx")
    assert not run_chapters.cached(cache, source)  # no cache yet
    executed = nbformat.read(source, as_version=4)
    executed.cells[0].outputs = [
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": "1"}, execution_count=1
        )
    ]
    nbformat.write(executed, tmp_path / "executed.ipynb")
    run_chapters.cache_executed(cache, source, tmp_path / "executed.ipynb", 1.0)
    assert run_chapters.cached(cache, source)
    _notebook(source, "x = 2\nx")  # the chapter's code changed
    assert not run_chapters.cached(cache, source)


@pytest.mark.parametrize("size", ["quick", "full"])
def test_the_longest_chapter_runs_first(size, monkeypatch) -> None:
    if size == "quick":
        monkeypatch.setenv("METABOOK_QUICK", "1")
    else:
        monkeypatch.delenv("METABOOK_QUICK", raising=False)
    times = json.loads((ROOT / "book" / "timings.json").read_text())[size]
    chapters = sorted(ROOT.glob("notebooks/[0-9]*.ipynb"))
    order = run_chapters.longest_first(chapters)
    assert sorted(order) == chapters
    seconds = [times["chapters"].get(p.stem, float("inf")) for p in order]
    assert seconds == sorted(seconds, reverse=True)
    new = ROOT / "notebooks" / "99_not_measured_yet.ipynb"
    assert run_chapters.longest_first([*chapters, new])[0] == new


def test_skip_cached_needs_a_cache(capsys) -> None:
    with pytest.raises(SystemExit):
        run_chapters.main(["--python", "python", "--skip-cached"])
    assert "--skip-cached needs --cache" in capsys.readouterr().err
