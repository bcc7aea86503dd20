#!/usr/bin/env python3
"""Student notebooks: the chapters with their solutions out (``make student``).

The conventions, nbgrader's (https://nbgrader.readthedocs.io), found by markers
and cell tags, never by guessing from prose:

* A chapter's solutions sit between two markdown cells, ```` ```{solution-start}
  LABEL ```` and ```` ```{solution-end} ```` (sphinx-exercise's gated solution,
  a dropdown on the website).
* Inside a solution, the code cell(s) a student must write carry the cell tag
  ``solution``, and the part to write sits between the lines
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``: a function's ``def`` line and
  docstring stay outside (so its signature is given), and the self-check call
  comes after ``### END SOLUTION``. A tagged cell without markers is replaced
  whole, as nbgrader does.

What a student gets (``_build/student/notebooks/``, zipped as
``_build/student/metabook-student-notebooks.zip``):

* every markdown cell of a solution dropped, and every untagged code cell in it
  (worked demonstrations that belong to the solution);
* each marked region replaced by ``raise NotImplementedError("...")`` with a
  short hint, at the region's indentation; everything outside the markers (the
  signature, the self-check call) kept;
* everything else, the exercises and the self-check functions included,
  unchanged.

For a course that runs nbgrader, ``_build/student/nbgrader-source/`` (zipped
too) holds nbgrader *source* notebooks: the solution prose dropped, each
solution cell split into an "autograded answer" (the code up to
``### END SOLUTION``, with nbgrader's cell metadata) and, when it calls a
``check_`` function, an "autograder tests" cell with that call.
``nbgrader generate_assignment`` then makes the release version from them.

Usage::

    python scripts/make_student.py        # every chapter, into _build/student
    python scripts/make_student.py --out DIR notebooks/02_maml.ipynb
    python scripts/make_student.py --mark notebooks/NN_x.ipynb   # for authors

``--mark`` adds the tag and the markers to a chapter's solution code cells that
have none yet, by a simple rule (the body of a function that the cell then
passes to a ``check_`` function; otherwise every statement that is not an
import or a top-level ``check_`` call) and prints each cell so that the author
can review the choice. It never touches a cell that already has markers.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
TAG = "solution"
ZIP_NAME = "metabook-student-notebooks.zip"
NBGRADER_ZIP_NAME = "metabook-nbgrader-source.zip"
_START_RE = re.compile(r"^\s*```+\s*\{solution-start\}\s*(\S*)", re.M)
_END_RE = re.compile(r"^\s*```+\s*\{solution-end\}", re.M)
_LABEL_RE = re.compile(r"^:label:\s*(\S+)", re.M)
_DEF_RE = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
_CHECK_RE = re.compile(r"\bcheck_\w*\s*\(")


class MarkerError(ValueError):
    """A solution cell's markers are unbalanced or misplaced."""


# ------------------------------------------------------------------ reading
def is_solution_start(cell) -> str | None:
    """The label of a ``{solution-start}`` markdown cell, else ``None``."""
    if cell.cell_type != "markdown":
        return None
    match = _START_RE.search(cell.source)
    return match.group(1) if match else None


def is_solution_end(cell) -> bool:
    return cell.cell_type == "markdown" and bool(_END_RE.search(cell.source))


def has_markers(source: str) -> bool:
    return any(line.strip() in (BEGIN, END) for line in source.splitlines())


def is_solution_cell(cell) -> bool:
    """A code cell a student must write: tagged ``solution`` or with markers."""
    if cell.cell_type != "code":
        return False
    return TAG in cell.metadata.get("tags", []) or has_markers(cell.source)


def solution_blocks(nb) -> list[tuple[str, int, int]]:
    """``(label, start, end)`` for every solution: the indices of its start and
    end markdown cells."""
    blocks, open_at, label = [], None, ""
    for i, cell in enumerate(nb.cells):
        found = is_solution_start(cell)
        if found is not None:
            if open_at is not None:
                raise MarkerError(
                    f"cell {i}: solution {found!r} starts inside {label!r}"
                )
            open_at, label = i, found
        elif is_solution_end(cell):
            if open_at is None:
                raise MarkerError(
                    f"cell {i}: a solution-end without a solution-start"
                )
            blocks.append((label, open_at, i))
            open_at = None
    if open_at is not None:
        raise MarkerError(
            f"solution {label!r} (cell {open_at}) has no solution-end"
        )
    return blocks


def exercise_labels(nb) -> list[str]:
    """The ``:label:`` of every ``{exercise}`` block, in order."""
    labels = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "{exercise}" in cell.source:
            labels += _LABEL_RE.findall(cell.source)
    return labels


def regions(source: str) -> list[tuple[int, int]]:
    """``(begin, end)`` line indices of the marked regions' marker lines."""
    found, begin = [], None
    for i, line in enumerate(source.splitlines()):
        text = line.strip()
        if text == BEGIN:
            if begin is not None:
                raise MarkerError(
                    f"line {i + 1}: {BEGIN} inside another region"
                )
            begin = i
        elif text == END:
            if begin is None:
                raise MarkerError(f"line {i + 1}: {END} without {BEGIN}")
            found.append((begin, i))
            begin = None
    if begin is not None:
        raise MarkerError(f"line {begin + 1}: {BEGIN} without {END}")
    return found


def solution_text(source: str) -> list[str]:
    """The lines inside the marked regions (the whole cell if it has none)."""
    lines = source.splitlines()
    spans = regions(source)
    if not spans:
        return lines
    return [line for a, b in spans for line in lines[a + 1 : b]]


# ---------------------------------------------------------------- stubbing
def _enclosing_def(lines: list[str], at: int) -> str | None:
    """The name of the function whose body line ``at`` starts, if any."""
    indent = len(lines[at]) - len(lines[at].lstrip())
    for line in reversed(lines[:at]):
        if not line.strip() or line.lstrip().startswith(("#", '"', "'")):
            continue
        match = _DEF_RE.match(line)
        if match and len(match.group(1)) < indent:
            return match.group(2)
        if len(line) - len(line.lstrip()) < indent:
            return None
    return None


def hint(label: str, function: str | None) -> str:
    what = f"write the body of {function}()" if function else "your code here"
    return f"{label}: {what}" if label else what


def _quoted(text: str) -> str:
    """A double-quoted Python string literal, as the chapters write them."""
    return json.dumps(text, ensure_ascii=False)


def stub_source(source: str, label: str) -> str:
    """The student's version of a solution cell's source."""
    lines = source.splitlines()
    spans = regions(source)
    if not spans:  # a tagged cell without markers is the student's whole
        message = hint(label, None)
        return (
            f"# YOUR CODE HERE\nraise NotImplementedError({_quoted(message)})"
        )
    out, last = [], 0
    for begin, end in spans:
        out += lines[last:begin]
        marker = lines[begin]
        indent = marker[: len(marker) - len(marker.lstrip())]
        message = hint(label, _enclosing_def(lines, begin))
        out.append(f"{indent}# YOUR CODE HERE")
        out.append(f"{indent}raise NotImplementedError({_quoted(message)})")
        last = end + 1
    out += lines[last:]
    return "\n".join(out)


def student_notebook(nb):
    """A copy of ``nb`` without its solutions (see the module docstring)."""
    blocks = solution_blocks(nb)  # validates the structure first
    inside = {i: label for label, a, b in blocks for i in range(a, b + 1)}
    out = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(out.cells):
        in_block = i in inside
        if is_solution_cell(cell):
            cell.source = stub_source(cell.source, inside.get(i, ""))
            cell.outputs, cell.execution_count = [], None
            cells.append(cell)
        elif not in_block:
            cells.append(cell)
    out.cells = cells
    out.metadata.setdefault("metabook", {})["student"] = True
    return out


def nbgrader_source(nb):
    """A nbgrader *source* notebook: solution prose dropped, each solution
    cell an autograded answer, followed by an autograder-test cell when a
    self-check comes after its ``### END SOLUTION``."""
    blocks = solution_blocks(nb)
    inside = {i: label for label, a, b in blocks for i in range(a, b + 1)}
    out = copy.deepcopy(nb)
    cells, used = [], set()

    def grade_id(base: str) -> str:
        name, n = base or "answer", 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        return name

    for i, cell in enumerate(out.cells):
        if is_solution_cell(cell):
            lines = cell.source.splitlines()
            spans = regions(cell.source)
            cut = spans[-1][1] + 1 if spans else len(lines)
            answer, after = lines[:cut], lines[cut:]
            if not _CHECK_RE.search("\n".join(after)):  # no self-check to grade
                answer, after = lines, []
            label = inside.get(i, "")
            cell.source = "\n".join(answer)
            cell.metadata["nbgrader"] = {
                "grade": False,
                "grade_id": grade_id(label),
                "locked": False,
                "schema_version": 3,
                "solution": True,
                "task": False,
            }
            cells.append(cell)
            if after:
                test = nbformat.v4.new_code_cell("\n".join(after).strip("\n"))
                test.metadata["tags"] = ["self-check"]
                test.metadata["nbgrader"] = {
                    "grade": True,
                    "grade_id": grade_id(f"{label}-check"),
                    "locked": True,
                    "points": 1,
                    "schema_version": 3,
                    "solution": False,
                    "task": False,
                }
                cells.append(test)
        elif i not in inside:
            cells.append(cell)
    out.cells = cells
    return out


# ------------------------------------------------------------------ writing
def chapters() -> list[Path]:
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    return [p for p in paths if ".ipynb_checkpoints" not in p.parts]


def _zip(folder: Path, target: Path, prefix: str) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{prefix}/{path.relative_to(folder)}")


_README = """\
metabook: student notebooks
===========================

Every chapter of the book, with the solutions of its exercises removed.
A cell that says `raise NotImplementedError(...)` is yours to write: replace
the `# YOUR CODE HERE` line and the `raise` below it with your code. Keep the
lines around it; where the cell then calls a `check_...` function, that
self-check tells you whether your answer is right, and what to look at if not.

Run the notebooks where you run the book: locally after `pip install -e
".[book]"` in a clone of the repository, or on Colab (the second cell installs
what they need).
"""


def write_all(paths: list[Path], out: Path) -> list[Path]:
    """Write the student and nbgrader versions of ``paths`` under ``out``."""
    student_dir = out / "notebooks"
    grader_dir = out / "nbgrader-source" / "metabook"
    for folder in (student_dir, grader_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.ipynb"):
            old.unlink()
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        try:
            student = student_notebook(nb)
            grader = nbgrader_source(nb)
        except MarkerError as err:
            raise MarkerError(f"{path.name}: {err}") from None
        nbformat.validate(student)
        nbformat.write(student, student_dir / path.name)
        nbformat.validate(grader)
        nbformat.write(grader, grader_dir / path.name)
        written.append(student_dir / path.name)
    (student_dir / "README.txt").write_text(_README, encoding="utf-8")
    _zip(student_dir, out / ZIP_NAME, "metabook-student")
    _zip(out / "nbgrader-source", out / NBGRADER_ZIP_NAME, "source")
    return written


# ------------------------------------------------------------------ marking
def _statements(lines: list[str]) -> list[tuple[int, int]]:
    """Top-level statements as ``(first, last)`` line indices."""
    spans = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        top = not line[0].isspace() and not line.startswith((")", "]", "}"))
        if top and not (spans and _open_brackets(lines[spans[-1][0] : i])):
            spans.append([i, i])
        elif spans:
            spans[-1][1] = i
    return [tuple(s) for s in spans]


def _open_brackets(lines: list[str]) -> bool:
    text = "\n".join(re.sub(r"#.*$", "", line) for line in lines)
    text = re.sub(r"(\"[^\"\n]*\"|'[^'\n]*')", "", text)
    return sum(text.count(c) for c in "([{") > sum(text.count(c) for c in ")]}")


def _docstring_end(lines: list[str], start: int) -> int:
    """The first body line after the def at ``start`` and its docstring."""
    i = start + 1
    while i < len(lines) and _open_brackets(
        lines[start:i]
    ):  # multi-line signature
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i].lstrip().startswith(('"""', "'''", 'r"""')):
        quote = lines[i].lstrip()[:3] if lines[i].lstrip()[0] != "r" else '"""'
        rest = lines[i].lstrip()[len(quote) + (lines[i].lstrip()[0] == "r") :]
        if quote in rest:
            return i + 1
        i += 1
        while i < len(lines) and quote not in lines[i]:
            i += 1
        return i + 1
    return i


def propose_markers(source: str) -> str:
    """Markers for an unmarked solution cell (the rule: module docstring)."""
    lines = source.splitlines()
    statements = _statements(lines)
    text = lambda a, b: "\n".join(lines[a : b + 1])  # noqa: E731
    is_import = lambda a, b: lines[a].startswith(("import ", "from "))  # noqa: E731
    is_check = lambda a, b: bool(_CHECK_RE.search(text(a, b)))  # noqa: E731
    defs = [(a, b) for a, b in statements if _DEF_RE.match(lines[a])]
    checked = [
        (a, b)
        for a, b in defs
        if any(
            is_check(c, d)
            and re.search(
                rf"\b{_DEF_RE.match(lines[a]).group(2)}\b", text(c, d)
            )
            for c, d in statements
            if c > b
        )
    ]
    if checked:  # the body of the first function that a check then tests
        out = []
        for a, b in checked[:1]:
            body = _docstring_end(lines, a)
            indent = (
                re.match(r"\s*", lines[body]).group(0) if body <= b else "    "
            )
            last = b
            out = lines[:body] + [indent + BEGIN] + lines[body : last + 1]
            out += [indent + END] + lines[last + 1 :]
        return "\n".join(out)
    # otherwise: every run of statements that are neither imports nor checks
    out, run_open = [], False
    covered = {i: (a, b) for a, b in statements for i in range(a, b + 1)}
    for i, line in enumerate(lines):
        span = covered.get(i)
        keep_out = span is not None and (is_import(*span) or is_check(*span))
        if span is not None and span[0] == i:
            if keep_out and run_open:
                while out and not out[-1].strip():
                    out.pop()
                out.append(END)
                run_open = False
            elif not keep_out and not run_open:
                out.append(BEGIN)
                run_open = True
        out.append(line)
    if run_open:
        while out and not out[-1].strip():
            out.pop()
        out.append(END)
    return "\n".join(out)


def mark(path: Path) -> int:
    """Tag and mark a chapter's unmarked solution cells; returns how many."""
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for label, a, b in solution_blocks(nb):
        code = [c for c in nb.cells[a + 1 : b] if c.cell_type == "code"]
        if not code or any(is_solution_cell(c) for c in code):
            continue
        cell = code[0]  # the answer; later code cells are demonstrations
        cell.source = propose_markers(cell.source)
        cell.metadata.setdefault("tags", []).append(TAG)
        changed += 1
        print(f"--- {path.name}: {label}\n{cell.source}\n")
    if changed:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every chapter"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument(
        "--mark", action="store_true", help="add markers (authors)"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or chapters()
    if args.mark:
        total = sum(mark(p) for p in paths)
        print(f"marked {total} solution cell(s); review them before committing")
        return 0
    try:
        written = write_all(paths, args.out)
    except MarkerError as err:
        print(f"make_student: {err}", file=sys.stderr)
        return 1
    print(f"{len(written)} student notebooks in {args.out / 'notebooks'}")
    print(f"zips: {args.out / ZIP_NAME}, {args.out / NBGRADER_ZIP_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
