"""Shorten the lines ruff format leaves too long: strings, comments, docstrings.

ruff format never splits a string or a comment, so ``ruff check`` (E501) still
finds lines over the limit after it. This script shortens the usual ones::

    python scripts/wrap_long_lines.py FILE...   # .py files, .ipynb code cells
    ruff format FILE...                         # splits long code lines
    python scripts/wrap_long_lines.py FILE...   # the strings ruff left long
    ruff format FILE...

Only lines longer than ``--width`` (default: 80, as in pyproject.toml) change:

* a trailing comment that would not fit even after ruff format's two spaces
  moves to its own line above its code;
* a block of full-line comments is re-wrapped; a ``# ----- section`` divider
  loses dashes;
* a docstring paragraph (or an item such as ``name: text``, with its hanging
  indent) is re-wrapped; literal blocks (after ``::``) and ``>>>`` lines stay;
* a one-line string literal inside brackets, or after ``=`` or ``return``, is
  split at spaces into adjacent literals (implicit concatenation, so the value
  is unchanged); an ``f`` prefix stays only on the parts with fields.

Python 3.11 is needed for f-strings (3.12 tokenises them in pieces, and this
script leaves them alone there). Notebook cells with magics are skipped. The
result is the same program (only docstring whitespace differs); what is still
too long afterwards is for a human.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import textwrap
import tokenize
from pathlib import Path

WIDTH = 80
PREFIX_RE = re.compile(r"^([rRbBfFuU]{0,2})('''|\"\"\"|'|\")")
SECTION_RE = re.compile(
    r"^(Args|Arguments|Returns|Yields|Raises|Attributes|Examples?|Notes?|"
    r"Warnings?|See Also|References|Settings|Parameters|Todo)\s*:\s*$"
)
ITEM_RE = re.compile(
    r"^(\s*)([-*+]\s+|\d+[.)]\s+|[\w.*, ]+\s*(\([^)]*\))?:\s+)"
)


def _tokens(src: str):
    return list(tokenize.generate_tokens(io.StringIO(src).readline))


# ------------------------------------------------------------------ comments
def fix_trailing_comments(lines: list[str], width: int) -> list[str]:
    src = "".join(lines)
    try:
        toks = _tokens(src)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return lines
    moves = {}  # row -> (col of comment, comment text)
    for tok in toks:
        if tok.type != tokenize.COMMENT:
            continue
        row, col = tok.start
        line = lines[row - 1]
        if not line[:col].strip():
            continue
        # ruff format puts two spaces before a trailing comment
        if len(line[:col].rstrip()) + 2 + len(tok.string) <= width:
            continue
        if len(line.rstrip("\n")) <= width:
            continue
        if tok.string.startswith(("# noqa", "# type:", "# pragma")):
            continue
        moves[row] = (col, tok.string)
    if not moves:
        return lines
    out = []
    for i, line in enumerate(lines, start=1):
        if i in moves:
            col, text = moves[i]
            code = line[:col].rstrip()
            indent = re.match(r"\s*", line).group(0)
            body = text.lstrip("#").strip()
            for c in textwrap.wrap(
                body, width - len(indent) - 2, break_on_hyphens=False
            ) or [""]:
                out.append(f"{indent}# {c}\n")
            out.append(code + "\n")
        else:
            out.append(line)
    return out


DIVIDER_RE = re.compile(r"^(\s*#\s*)(-{3,}|={3,})(\s+.*)?$")


def fix_comment_blocks(lines: list[str], width: int) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        d = DIVIDER_RE.match(lines[i].rstrip("\n"))
        if d and len(lines[i].rstrip("\n")) > width:
            lead, rule, label = d.group(1), d.group(2), d.group(3) or ""
            keep = width - len(lead) - len(label)
            if keep >= 3:
                out.append(lead + rule[0] * keep + label + "\n")
                i += 1
                continue
        m = re.match(r"^(\s*)(#:?) ?(.*)$", lines[i].rstrip("\n"))
        if not m or lines[i].lstrip().startswith("#!"):
            out.append(lines[i])
            i += 1
            continue
        indent = m.group(1)
        mark = m.group(2)
        j = i
        block = []
        while j < len(lines):
            mj = re.match(r"^(\s*)(#:?) ?(.*)$", lines[j].rstrip("\n"))
            if (
                not mj
                or mj.group(1) != indent
                or not mj.group(3).strip()
                or mj.group(2) != mark
            ):
                break
            block.append(mj.group(3))
            j += 1
        if j == i:  # an empty comment line
            out.append(lines[i])
            i += 1
            continue
        if any(len(indent) + 2 + len(b) > width for b in block) and not any(
            b.startswith(("-", "*", "|", ">>>")) or "  " in b.strip()
            for b in block
        ):
            text = " ".join(b.strip() for b in block)
            wrapped = textwrap.wrap(
                text, width - len(indent) - 3, break_on_hyphens=False
            )
            for w in wrapped:
                out.append(f"{indent}{mark} {w}\n")
        else:
            out.extend(lines[i:j])
        i = j
    return out


# ---------------------------------------------------------------- docstrings
def _rewrap_docstring(text: str, width: int, first_col: int) -> str:
    """Re-wrap the over-long paragraphs of a docstring's body (no quotes)."""
    lines = text.split("\n")
    body = [ln for ln in lines[1:] if ln.strip()]
    body_indent = min(
        (len(b) - len(b.lstrip()) for b in body), default=max(0, first_col - 3)
    )
    out: list[str] = []
    i = 0
    literal_indent = None
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        col0 = first_col if i == 0 else 0
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                out.append(line)
                i += 1
                continue
        if (
            not stripped
            or stripped.startswith((">>>", "...", "|", "+-", "=="))
            or SECTION_RE.match(stripped)
        ):
            out.append(line)
            i += 1
            continue
        # a paragraph or an item with hanging continuation lines
        j = i + 1
        item = ITEM_RE.match(line) if i > 0 else None
        cont_indent = None
        while j < len(lines):
            nxt = lines[j]
            ns = nxt.strip()
            nind = len(nxt) - len(nxt.lstrip())
            if not ns or SECTION_RE.match(ns) or ns.startswith((">>>", "|")):
                break
            if cont_indent is None:
                if nind == indent and not ITEM_RE.match(nxt):
                    cont_indent = indent
                elif nind > indent and (item or i == 0):
                    cont_indent = nind
                elif (
                    nind == indent
                    and item is None
                    and not re.match(r"\s*([-*+]\s|\d+[.)]\s)", nxt)
                ):
                    cont_indent = indent
                else:
                    break
            elif nind != cont_indent or (
                nind == indent and ITEM_RE.match(nxt) and item is not None
            ):
                break
            if lines[j - 1].rstrip().endswith("::"):
                break
            j += 1
        para = lines[i:j]
        too_long = any(
            (col0 if k == 0 else 0) + len(p) > width for k, p in enumerate(para)
        )
        ends_literal = para[-1].rstrip().endswith("::")
        if too_long and not any(p.strip().startswith(">>>") for p in para):
            words = " ".join(p.strip() for p in para)
            first_indent = " " * indent
            if cont_indent is not None:
                rest_indent = " " * cont_indent
            elif i == 0:
                rest_indent = " " * body_indent
            elif item is not None:
                marker = item.group(2)
                hang = (
                    len(marker)
                    if marker[0] in "-*+" or marker[0].isdigit()
                    else 4
                )
                rest_indent = " " * (indent + hang)
            else:
                rest_indent = " " * indent
            avail_first = width - (col0 if i == 0 else 0)
            wrapped = textwrap.wrap(
                words,
                width=avail_first if i == 0 else width,
                initial_indent="" if i == 0 else first_indent,
                subsequent_indent=rest_indent,
                break_on_hyphens=False,
                break_long_words=False,
            )
            if i == 0 and len(wrapped) > 1:
                # the summary line: wrap the remaining lines at the full width
                rest = " ".join(w.strip() for w in wrapped[1:])
                wrapped = [wrapped[0]] + textwrap.wrap(
                    rest,
                    width=width,
                    initial_indent=rest_indent,
                    subsequent_indent=rest_indent,
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            out.extend(wrapped)
        else:
            out.extend(para)
        if ends_literal:
            literal_indent = indent
        i = j
    return "\n".join(out)


def fix_docstrings(src: str, width: int) -> str:
    try:
        toks = _tokens(src)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return src
    lines = src.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits = []
    prev_sig = None
    for tok in toks:
        if tok.type == tokenize.STRING:
            m = PREFIX_RE.match(tok.string)
            standalone = prev_sig is None or prev_sig.type in (
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
            )
            if m and len(m.group(2)) == 3 and standalone:
                (r0, c0), (r1, c1) = tok.start, tok.end
                if any(
                    len(lines[r].rstrip("\n")) > width
                    for r in range(r0 - 1, r1)
                ):
                    q = m.group(2)
                    pre = m.group(1)
                    body = tok.string[len(pre) + 3 : -3]
                    first_col = c0 + len(pre) + 3
                    new_body = _rewrap_docstring(body, width, first_col)
                    if new_body != body:
                        start = offsets[r0 - 1] + c0
                        end = offsets[r1 - 1] + c1
                        edits.append((start, end, pre + q + new_body + q))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev_sig = tok
    for start, end, new in reversed(edits):
        src = src[:start] + new + src[end:]
    return src


# ------------------------------------------------------------------- strings
FIELD_RE = re.compile(r"\{[^{}]*\}")


def _has_field(body: str) -> bool:
    return bool(FIELD_RE.search(body.replace("{{", "").replace("}}", "")))


def _safe_cuts(body: str, is_f: bool) -> list[int]:
    """Indices after a space where the string may be cut (not inside {...})."""
    cuts = []
    depth = 0
    i = 0
    while i < len(body):
        ch = body[i]
        if is_f and body.startswith("{{", i) and depth == 0:
            i += 2
            continue
        if is_f and body.startswith("}}", i) and depth == 0:
            i += 2
            continue
        if is_f and ch == "{":
            depth += 1
        elif is_f and ch == "}":
            depth = max(0, depth - 1)
        elif ch == "\\":
            i += 2
            continue
        elif ch == " " and depth == 0 and 0 < i < len(body) - 1:
            cuts.append(i + 1)
        i += 1
    return cuts


def _part(prefix: str, quote: str, body: str) -> str:
    is_f = "f" in prefix.lower()
    if is_f and not _has_field(body):
        prefix = prefix.replace("f", "").replace("F", "")
        body = body.replace("{{", "{").replace("}}", "}")
    return f"{prefix}{quote}{body}{quote}"


def split_string(
    tok_string: str, col: int, width: int, tail: int = 1
) -> list[str] | None:
    m = PREFIX_RE.match(tok_string)
    if not m or len(m.group(2)) == 3:
        return None
    prefix, quote = m.group(1), m.group(2)
    body = tok_string[len(prefix) + 1 : -1]
    is_f = "f" in prefix.lower()
    parts = []
    while True:
        # room on this line for prefix + quotes + body (+ a comma or a paren)
        room = width - col - len(prefix) - 2 - 1
        last_room = width - col - len(prefix) - 2 - tail
        if len(body) <= last_room:
            parts.append(body)
            break
        cuts = [c for c in _safe_cuts(body, is_f) if c <= room]
        if not cuts:
            cuts = [c for c in _safe_cuts(body, is_f)]
            if not cuts:
                return None
            c = cuts[0]
        else:
            c = cuts[-1]
        parts.append(body[:c])
        body = body[c:]
    if len(parts) == 1:
        return None
    return [_part(prefix, quote, p) for p in parts]


def fix_strings(src: str, width: int) -> str:
    try:
        toks = _tokens(src)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return src
    lines = src.splitlines(keepends=True)
    edits = []  # (row, col_start, col_end, replacement lines)
    depth = 0
    for tok in toks:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type != tokenize.STRING:
            continue
        (r0, c0), (r1, c1) = tok.start, tok.end
        if r0 != r1:
            continue
        line = lines[r0 - 1].rstrip("\n")
        if len(line) <= width:
            continue
        if depth <= 0:
            head = line[:c0].rstrip()
            after = line[c1:].strip()
            if after or not (
                head.endswith("=") or head.split()[-1:] == ["return"]
            ):
                continue
            ind = re.match(r"\s*", line).group(0) + "    "
            parts = split_string(tok.string, len(ind), width)
            if parts:
                edits.append(
                    (r0, c0, c1, ["(\n" + ind + parts[0]] + parts[1:] + [None])
                )
            continue
        if line[:c0].strip() and not line[:c0].rstrip().endswith(
            ("(", "[", "{", ",", ":")
        ):
            # not where a new line can start (e.g. after `%`)
            if not line[:c0].rstrip().endswith(("=", "+")):
                continue
        tail = len(line[c1:].rstrip()) or 1
        parts = split_string(tok.string, c0, width, tail)
        if parts:
            edits.append((r0, c0, c1, parts))
    for r0, c0, c1, parts in reversed(edits):
        line = lines[r0 - 1]
        before, after = line[:c0], line[c1:]
        lead = re.match(r"\s*", line).group(0)
        if parts[-1] is None:  # wrapped in new parentheses
            ind = lead + "    "
            new = before + parts[0] + "\n"
            new += "".join(ind + p + "\n" for p in parts[1:-1])
            lines[r0 - 1] = new + lead + ")" + after
            continue
        if before.strip():
            # the string starts mid-line: continue the parts under it
            ind = " " * c0
            new = before + parts[0] + "\n"
            new += "".join(ind + p + "\n" for p in parts[1:-1])
            new += ind + parts[-1] + after
        else:
            new = before + parts[0] + "\n"
            new += "".join(lead + p + "\n" for p in parts[1:-1])
            new += lead + parts[-1] + after
        lines[r0 - 1] = new
    return "".join(lines)


# ---------------------------------------------------------------------- main
def fix_source(src: str, width: int) -> str:
    src = fix_docstrings(src, width)
    src = fix_strings(src, width)
    lines = src.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
        trailing = False
    else:
        trailing = True
    lines = fix_trailing_comments(lines, width)
    lines = fix_comment_blocks(lines, width)
    out = "".join(lines)
    return out if trailing else out[:-1]


def fix_notebook(path: Path, width: int) -> bool:
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        if any(
            line.lstrip().startswith(("%", "!")) for line in src.splitlines()
        ):
            continue
        new = fix_source(src, width)
        if new != src:
            cell["source"] = new.splitlines(keepends=True)
            changed = True
    if changed:
        path.write_text(
            json.dumps(nb, indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    return changed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.files:
        if path.suffix == ".ipynb":
            changed = fix_notebook(path, args.width)
        else:
            src = path.read_text(encoding="utf-8")
            new = fix_source(src, args.width)
            changed = new != src
            if changed:
                compile(new, str(path), "exec")
                path.write_text(new, encoding="utf-8")
        print(
            ("changed  " if changed else "unchanged ") + str(path),
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
