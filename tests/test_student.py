"""Student notebooks (scripts/make_student.py): solutions out, the rest in.

What ``make student`` writes is checked against the chapters themselves:

* every solution of every chapter is marked (a ``solution``-tagged code cell
  with ``### BEGIN SOLUTION`` / ``### END SOLUTION``), so nothing is found by
  guessing;
* no line of any solution survives in the student notebook, unless the same
  line also appears outside the solutions (``model.zero_grad()``, say);
* every student notebook is a valid notebook whose cells compile, whose cells
  before the first exercise are the chapter's own, and whose stubs raise
  ``NotImplementedError`` (``make test`` then executes each one up to its first
  exercise: scripts/run_chapters.py);
* the chapters themselves are left unchanged;
* the nbgrader source version carries nbgrader's cell metadata.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from .scripts import load_script as _script

ROOT = Path(__file__).resolve().parents[1]


student = _script("make_student")
CHAPTERS = student.chapters()
IDS = [p.stem for p in CHAPTERS]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _norm(line: str) -> str:
    return " ".join(line.split())


def _solution_lines(nb) -> set[str]:
    """Every line that belongs to a solution: marked code, and every other cell
    between a solution's start and end."""
    lines = set()
    inside = {
        i for _, a, b in student.solution_blocks(nb) for i in range(a, b + 1)
    }
    for i, cell in enumerate(nb.cells):
        if student.is_solution_cell(cell):
            lines.update(student.solution_text(cell.source))
        elif i in inside:
            lines.update(cell.source.splitlines())
    return {_norm(x) for x in lines if len(_norm(x)) > 3}


def _kept_lines(nb) -> set[str]:
    """Lines outside the solutions (and outside marked regions)."""
    lines = set()
    inside = {
        i for _, a, b in student.solution_blocks(nb) for i in range(a, b + 1)
    }
    for i, cell in enumerate(nb.cells):
        if student.is_solution_cell(cell):
            spans = student.regions(cell.source)
            src = cell.source.splitlines()
            hidden = {j for a, b in spans for j in range(a, b + 1)}
            lines.update(
                x for j, x in enumerate(src) if j not in hidden and spans
            )
        elif i not in inside:
            lines.update(cell.source.splitlines())
    return {_norm(x) for x in lines}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Run the tool once, as `make student` does, into a temporary folder."""
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in CHAPTERS}
    out = tmp_path_factory.mktemp("student")
    assert student.main(["--out", str(out)]) == 0
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in CHAPTERS}
    return out, before, after


def test_the_chapters_are_unchanged(built):
    _, before, after = built
    assert before == after


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_every_solution_is_marked(path):
    nb = _read(path)
    for label, a, b in student.solution_blocks(nb):
        code = [c for c in nb.cells[a + 1 : b] if c.cell_type == "code"]
        if not code:
            continue  # a solution in prose only: dropped whole
        marked = [c for c in code if student.is_solution_cell(c)]
        assert marked, (
            f"{path.name}: solution {label!r} has code but no cell tagged "
            f"'solution' with {student.BEGIN!r} / {student.END!r}; add them "
            f"(python scripts/make_student.py --mark {path.relative_to(ROOT)})"
        )
        for cell in marked:
            assert student.TAG in cell.metadata.get("tags", []), (
                f"{path.name}: {label}: a marked cell lacks the 'solution' tag"
            )
            assert student.regions(cell.source), (
                f"{path.name}: {label}: a 'solution' cell has no "
                f"{student.BEGIN} ... {student.END} region"
            )


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_every_exercise_has_a_solution(path):
    nb = _read(path)
    solutions = [label for label, _, _ in student.solution_blocks(nb)]
    for label in student.exercise_labels(nb):
        assert label in solutions, (
            f"{path.name}: exercise {label} has no solution"
        )


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_no_solution_text_survives(path, built):
    out, _, _ = built
    full = _read(path)
    mine = _read(out / "notebooks" / path.name)
    secret = _solution_lines(full) - _kept_lines(full)
    leaked = {
        _norm(x) for c in mine.cells for x in c.source.splitlines()
    } & secret
    assert not leaked, (
        f"{path.name}: solution lines left in: {sorted(leaked)[:5]}"
    )
    assert not any(
        student.is_solution_start(c) is not None or student.is_solution_end(c)
        for c in mine.cells
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_student_notebook_is_valid_and_compiles(path, built):
    out, _, _ = built
    mine = _read(out / "notebooks" / path.name)
    nbformat.validate(mine)
    transform = TransformerManager().transform_cell
    for i, cell in enumerate(mine.cells):
        if cell.cell_type == "code":
            compile(transform(cell.source), f"{path.name}[{i}]", "exec")
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_student_notebook_runs_the_chapter_up_to_its_first_exercise(
    path, built
):
    """Up to the first exercise the student runs the chapter's own cells; there,
    the first stub raises NotImplementedError (run for real in make test)."""
    out, _, _ = built
    full = _read(path)
    mine = _read(out / "notebooks" / path.name)
    stubs = [
        i
        for i, c in enumerate(mine.cells)
        if c.cell_type == "code" and "raise NotImplementedError(" in c.source
    ]
    if not student.solution_blocks(full):
        assert not stubs
        return
    first = stubs[0]
    prefix = [c.source for c in mine.cells[:first]]
    assert prefix == [c.source for c in full.cells[:first]]


def test_stubs_keep_signatures_and_checks():
    source = "\n".join(
        [
            "from metabook.checks import maml as maml_checks",
            "",
            "def f(x):",
            '    """Doc."""',
            f"    {student.BEGIN}",
            "    y = x * 2",
            "    return y",
            f"    {student.END}",
            "",
            "maml_checks.check_f(f)",
        ]
    )
    stub = student.stub_source(source, "ex-f")
    assert "def f(x):" in stub and '"""Doc."""' in stub
    assert "maml_checks.check_f(f)" in stub
    assert "y = x * 2" not in stub
    assert (
        '    raise NotImplementedError("ex-f: write the body of f()")' in stub
    )
    namespace = {}
    exec(
        "\n".join(x for x in stub.splitlines() if "maml_checks" not in x),
        namespace,
    )
    with pytest.raises(NotImplementedError, match="ex-f"):
        namespace["f"](1)


def test_a_tagged_cell_without_markers_is_replaced_whole():
    stub = student.stub_source("print(42)", "ex")
    assert "print(42)" not in stub and "NotImplementedError" in stub


@pytest.mark.parametrize(
    "bad",
    [
        f"{student.BEGIN}\nx = 1",
        f"x = 1\n{student.END}",
        f"{student.BEGIN}\n{student.BEGIN}\n{student.END}",
    ],
)
def test_unbalanced_markers_are_an_error(bad):
    with pytest.raises(student.MarkerError):
        student.regions(bad)


def test_propose_markers_marks_the_body_of_a_checked_function():
    source = (
        "def g(a):\n    '''Doc.'''\n    return a + 1\n\ncheck_g(g)\nprint(g(1))"
    )
    marked = student.propose_markers(source)
    assert student.solution_text(marked) == ["    return a + 1"]
    assert marked.endswith("check_g(g)\nprint(g(1))")


def test_propose_markers_leaves_imports_and_checks_out():
    source = (
        "import math\n\nratio = math.pi / 3\nprint(ratio)\n"
        "mb.checks.check_ratio('r', ratio, 1, 2)"
    )
    marked = student.propose_markers(source)
    assert student.solution_text(marked) == [
        "ratio = math.pi / 3",
        "print(ratio)",
    ]
    assert marked.startswith("import math")
    assert marked.endswith("check_ratio('r', ratio, 1, 2)")


def test_zips_hold_every_chapter(built):
    out, _, _ = built
    with zipfile.ZipFile(out / student.ZIP_NAME) as archive:
        names = set(archive.namelist())
    for path in CHAPTERS:
        assert f"metabook-student/{path.name}" in names
    assert "metabook-student/README.txt" in names
    with zipfile.ZipFile(out / student.NBGRADER_ZIP_NAME) as archive:
        names = set(archive.namelist())
    for path in CHAPTERS:
        assert f"source/metabook/{path.name}" in names


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_nbgrader_source_version(path, built):
    """nbgrader's schema 3: autograded answers with markers, locked tests."""
    out, _, _ = built
    nb = _read(out / "nbgrader-source" / "metabook" / path.name)
    nbformat.validate(nb)
    ids = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        assert student.is_solution_start(
            cell
        ) is None and not student.is_solution_end(cell)
        if not meta:
            continue
        assert meta["schema_version"] == 3
        ids.append(meta["grade_id"])
        if meta["solution"]:
            assert not meta["grade"] and student.regions(cell.source)
        else:
            assert meta["grade"] and meta["locked"]
            assert student.BEGIN not in cell.source
    assert len(ids) == len(set(ids)), f"{path.name}: grade_ids repeat"
    full = _read(path)
    solution_cells = [c for c in full.cells if student.is_solution_cell(c)]
    assert sum(
        1 for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
    ) == len(solution_cells)


# ------------------------------------------------------------ the guide
guide = _script("instructors_guide")


def test_instructors_guide_is_up_to_date():
    """The computed parts of book/instructors.md match the chapters, the notes
    and the timing record (``make guide`` refreshes them)."""
    assert guide.main(["--check"]) == 0, (
        "book/instructors.md is stale: make guide"
    )


def test_instructors_guide_is_in_the_toc():
    assert "book/instructors" in (ROOT / "_toc.yml").read_text(encoding="utf-8")


@pytest.mark.parametrize("stem", guide.toc_chapters())
def test_instructors_guide_covers_every_exercise(stem):
    page = guide.PAGE.read_text(encoding="utf-8")
    for exercise in guide.chapter_facts(stem)["exercises"]:
        label = exercise["label"]
        assert f"{{ref}}`{label} <{label}>`" in page, (
            f"{label} is not in the guide"
        )


def test_every_self_check_used_is_described():
    """Each self-check a solution calls: what it verifies and cannot."""
    import yaml

    notes = yaml.safe_load(guide.NOTES.read_text(encoding="utf-8"))["checks"]
    for stem in guide.toc_chapters():
        for exercise in guide.chapter_facts(stem)["exercises"]:
            for name in exercise["checks"]:
                assert name in notes, (
                    f"{stem}: describe {name} in instructors.yml"
                )
                assert {"verifies", "cannot"} <= set(notes[name])


def test_the_guide_says_how_the_full_times_were_measured():
    run = {
        "python": "3.12.1",
        "machine": "x86_64, 2 CPUs",
        "threads": "1",
        "jobs": 2,
        "load_average": [1.9, 1.8, 1.7],
        "date": "2026-12-01T14:00:00+00:00",
    }
    later = {**run, "date": "2026-12-02T09:00:00+00:00", "load_average": [3.2]}
    text = guide.full_source([run, later])
    assert "2026-12-01 to 2026-12-02" in text
    assert "1 thread per chapter, 2 chapters at a time" in text
    assert "load average up to 3.2" in text
    # a chapter stored without its conditions: no claim about them
    assert "thread" not in guide.full_source([run, {"execution_seconds": 5}])
