#!/usr/bin/env python3
"""The learner's environment: metabook's wheel and its ``book`` extra, only.

    python3 scripts/wheel_env.py --python PYTHON3.12 --venv .venv-wheel [--ci]

Builds a wheel of the package from the working tree, then installs it with
``metabook[book]`` into a virtual environment of the given Python (3.12,
Colab's, by default in the Makefile), the way each chapter's Colab cell installs
it: the package and its declared dependencies, nothing from requirements.txt.
``scripts/run_chapters.py`` then executes every chapter in this environment
(and rebuilds learn2learn there, as a reader of its chapter does, with the
``metabook.install_learn2learn`` that the wheel ships, while the first
chapters run).

The environment is kept between runs (``make test`` on a fresh machine spends
about 5 minutes installing it, most of it downloading PyTorch) and is rebuilt
from nothing whenever what it was built from changes: the dependencies and the
``book`` extra in pyproject.toml, or the Python version. Otherwise only the
freshly built wheel is reinstalled (seconds). So it holds what a fresh install
would (plus learn2learn, once rebuilt), and a dependency missing from
pyproject.toml fails here as it would for a reader.

Standard library only: it runs before any project environment exists.
Without ``--python`` (no Python 3.12 was found) it falls back to the Python
running it, with a warning; with ``--ci`` (or ``CI`` set) that is an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = ".metabook-wheel-env.json"
EXTRA = "book"
_START = time.monotonic()


def say(message: str) -> None:
    print(
        f"wheel-env [{time.monotonic() - _START:4.0f}s]: {message}", flush=True
    )


def run(cmd: list[str], **kwargs) -> None:
    result = subprocess.run(cmd, **kwargs)
    if result.returncode:
        sys.exit(
            f"wheel-env: command failed (exit {result.returncode}): "
            + " ".join(cmd)
        )


def python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(f"wheel-env: {python} does not run:\n{out.stderr}")
    return out.stdout.strip()


def stamp_for(version: str) -> dict:
    """What the environment is built from; a change means a fresh build."""
    project = tomllib.loads(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    )
    project = project["project"]
    return {
        "python": version,
        "requires-python": project.get("requires-python", ""),
        "dependencies": project.get("dependencies", []),
        EXTRA: project.get("optional-dependencies", {}).get(EXTRA, []),
    }


def build_wheel(python: str, out: Path, isolated: bool = True) -> Path:
    """A wheel of the working tree's package, built from a copy of what the
    build needs (no ``build/`` or ``*.egg-info`` left in the checkout).
    ``isolated=False`` builds with ``python``'s own setuptools."""
    with tempfile.TemporaryDirectory(prefix="metabook-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(
            ROOT / "metabook",
            src / "metabook",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        for old in out.glob("metabook-*.whl"):
            old.unlink()
        cmd = [python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out)]
        if not isolated:
            cmd.append("--no-build-isolation")
        run([*cmd, str(src)], stdout=subprocess.DEVNULL)
    wheels = sorted(out.glob("metabook-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"wheel-env: expected one wheel in {out}, found {wheels}")
    return wheels[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="", help="the interpreter (3.12)")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-wheel")
    parser.add_argument(
        "--ci", action="store_true", default=bool(os.environ.get("CI"))
    )
    args = parser.parse_args(argv)

    python = args.python
    if not python:
        if args.ci:
            sys.exit(
                "wheel-env: no Python 3.12 found (looked on PATH and in "
                "pyenv's versions). The wheel test runs on Colab's Python, "
                "3.12: install it (.ci/run does), or name one: "
                "make WHEEL_PYTHON=/path/to/python3.12"
            )
        python = sys.executable
        print(
            f"wheel-env: WARNING: no Python 3.12 found; the wheel test uses "
            f"{python} (Python {sys.version.split()[0]}) instead. Name one "
            "with "
            "make WHEEL_PYTHON=/path/to/python3.12",
            file=sys.stderr,
        )
    version = python_version(python)
    venv = args.venv if args.venv.is_absolute() else Path.cwd() / args.venv
    venv_python = str(venv / "bin" / "python")
    stamp = stamp_for(version)
    stamp_path = venv / STAMP
    fresh = not (
        stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp
    )
    if fresh:
        if venv.exists():
            say(f"{venv.name} was built from other requirements: rebuilding it")
            # deleting gigabytes takes minutes on a busy disk: in the background
            old = venv.with_name(f"{venv.name}.old-{os.getpid()}")
            venv.rename(old)
            subprocess.Popen(["rm", "-rf", str(old)], start_new_session=True)
        say(f"creating {venv.name} with Python {version} ({python})")
        run([python, "-m", "venv", str(venv)])
        run([venv_python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    dist = venv / "dist"
    dist.mkdir(exist_ok=True)
    wheel = build_wheel(venv_python, dist)
    say(f"built {wheel.name}")
    pip = [
        venv_python,
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    if fresh:
        say(
            f"installing metabook[{EXTRA}] and its dependencies "
            "(PyTorch: minutes)"
        )
        # --no-compile: no .pyc for the many files of torch & co. that the
        # chapters never import (those they do are compiled on first import)
        run([*pip, "--no-compile", f"metabook[{EXTRA}] @ {wheel.as_uri()}"])
        stamp_path.write_text(json.dumps(stamp, indent=1) + "\n")
    else:
        say(
            f"reusing {venv.name} (same requirements); "
            "reinstalling the wheel only"
        )
        run([*pip, "--no-deps", "--force-reinstall", str(wheel)])
    say(f"ready: {venv_python} (Python {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
