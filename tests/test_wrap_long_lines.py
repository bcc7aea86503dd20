"""scripts/wrap_long_lines.py shortens strings, comments and docstrings only."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "wrap_long_lines", ROOT / "scripts" / "wrap_long_lines.py"
)
wrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wrap)

MORE = "and so on " * 3  # makes each marked line too long
SOURCE = '''
def f(name, value):
    """A docstring whose summary is much too long: MORE.

    Args:
        name: what it is called, and a description that runs on MORE.
        value: short.
    """
    message = f"the parameter {name} has the value {value!r}, MORE"
    print("a plain string that goes on and on MORE")
    total = value + 1  # a trailing comment that is far too long MORE
    # ---------------------------------------------------------------- part
    return message, total
'''.replace("MORE", MORE)


def _normalised(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = " ".join(node.value.split())
    return ast.dump(tree)


def test_every_line_fits_and_the_program_is_the_same() -> None:
    assert max(len(line) for line in SOURCE.splitlines()) > 80
    out = wrap.fix_source(SOURCE, 80)
    long = [line for line in out.splitlines() if len(line) > 80]
    if sys.version_info >= (3, 12):
        # 3.12 tokenises f-strings in pieces: the script leaves them alone there
        long = [line for line in long if 'f"' not in line]
    assert not long, out
    assert _normalised(ast.parse(out)) == _normalised(ast.parse(SOURCE))
    assert "# a trailing comment" in out
    assert wrap.fix_source(out, 80) == out  # a second run changes nothing


@pytest.mark.parametrize(
    "literal",
    ['f"{a} and {b} and more words"', 'f"no fields {{here}} at all, ok"'],
)
def test_f_prefix_only_where_there_are_fields(literal) -> None:
    parts = wrap.split_string(literal, col=0, width=20)
    assert parts is not None and len(parts) > 1
    for part in parts:
        assert part.startswith("f") == ("{a}" in part or "{b}" in part), parts
    names = {"a": 1, "b": 2}
    assert eval(" ".join(parts), names) == eval(literal, names)  # noqa: S307
