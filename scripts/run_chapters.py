#!/usr/bin/env python3
"""Execute every chapter once, in a given environment, for ``make test``.

    python scripts/run_chapters.py --python .venv-wheel/bin/python \\
        --cache .test-build/_build/.jupyter_cache-quick \\
        --times .test-build/chapter-times.json [notebooks ...]

Run from the project's own environment (it needs nbclient and jupyter-cache);
the chapters run in a kernel of ``--python``: in ``make test`` the learner's
environment of ``scripts/wheel_env.py`` (metabook's wheel with its ``book``
extra, Python 3.12). The caller sets the size (``METABOOK_QUICK=1``), the
threads and ``IPYTHONDIR`` (whose startup file blocks the network).

For each chapter, in one kernel:

1. the cells before its first solution run, exactly as in the student version
   (``scripts/make_student.py``), which is identical up to there;
2. the student version's first exercise cell runs next and must stop with the
   ``NotImplementedError`` of its stub (directly, or through a self-check's
   ``CheckFailed``), and nothing else: so every student notebook executes up to
   its first exercise;
3. the rest of the full chapter runs, solutions included; any error fails.

With ``--learn2learn``, ``python -m metabook.install_learn2learn`` runs in the
kernel's environment in the background (it does nothing if learn2learn is
there), as a reader of the learn2learn chapter does; chapters that import
learn2learn run after it, the others meanwhile.

Each executed chapter is written to ``--out`` and, as soon as it is done,
stored in the jupyter-cache at ``--cache`` under the source notebook's hash, so
the site build that follows (``execute_notebooks: cache``) finds every chapter
there and executes nothing again. Seconds per chapter go to ``--times`` (JSON).

Chapters start longest first (by ``book/timings.json``), so that with
``--jobs 2`` the others run beside the longest. ``make book`` passes
``--skip-cached``: only the chapters its execution cache does not hold as they
are now run, two at a time, before the site build.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import math
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_student  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "metabook-chapters"
# Run in each kernel before the chapter: which Python and which metabook, and
# whether the network is blocked (192.0.2.1 is TEST-NET-1: never reachable; the
# startup file in IPYTHONDIR, tests/kernel_offline.py, refuses it at once).
_CHECK = """\
import socket, sys, metabook
try:
    socket.create_connection(("192.0.2.1", 9), timeout=0.2).close()
    _offline = False
except Exception as _err:
    _offline = type(_err).__name__ == "NetworkBlocked"
print(sys.version.split()[0], metabook.__file__, _offline, sep="\\n")
"""


def write_kernelspec(python: str, folder: Path) -> None:
    """A kernel spec named ``KERNEL`` that starts ``python``'s ipykernel."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {
        "argv": argv,
        "display_name": f"metabook ({python})",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1) + "\n")


def _first_divergence(nb) -> int:
    """Index of the first cell the student version changes or drops."""
    blocks = make_student.solution_blocks(nb)
    starts = [a for _, a, _ in blocks]
    marked = [
        i for i, c in enumerate(nb.cells) if make_student.is_solution_cell(c)
    ]
    return min(starts + marked + [len(nb.cells)])


def _first_stub(nb) -> tuple[int, object] | None:
    """The first solution cell (full index) and its student version, if it
    belongs to the first place the student version diverges."""
    at = _first_divergence(nb)
    blocks = {a: b for _, a, b in make_student.solution_blocks(nb)}
    end = blocks.get(at, at)
    for i in range(at, end + 1):
        if make_student.is_solution_cell(nb.cells[i]):
            student = make_student.student_notebook(nb)
            stubs = [
                c
                for c in student.cells
                if c.cell_type == "code"
                and "raise NotImplementedError(" in c.source
            ]
            return i, stubs[0]
    return None


def needs_learn2learn(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return bool(re.search(r"import learn2learn|import_learn2learn\(", code))


def start_learn2learn(python: str, log: Path) -> subprocess.Popen:
    """The learn2learn rebuild, in the background, from a neutral folder (so
    that the installed metabook is the one that runs)."""
    handle = open(log, "w")  # noqa: SIM115 (closed by the child's exit)
    return subprocess.Popen(
        [python, "-m", "metabook.install_learn2learn"],
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=log.parent,
    )


def _run_aside(client: NotebookClient, cell, index: int) -> None:
    """Execute a cell that is not the notebook's own (nbclient would store it
    at ``index``), outside the execution count."""
    own = client.nb.cells[index]
    try:
        client.execute_cell(cell, index, store_history=False)
    finally:
        client.nb.cells[index] = own


def _is_stub_error(err: CellExecutionError) -> bool:
    if err.ename == "NotImplementedError":
        return True
    return err.ename == "CheckFailed" and "NotImplementedError" in str(
        err.evalue
    )


def execute(
    path: Path, out: Path, timeout: int, expect_installed: bool
) -> dict:
    """Execute one chapter as described in the module docstring."""
    nb = nbformat.read(path, as_version=4)
    source_kernelspec = copy.deepcopy(nb.metadata.get("kernelspec"))
    stub = _first_stub(nb)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL,
        allow_errors=False,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    result = {"notebook": path.stem, "ok": False}
    # The kernel's own log (ipykernel's start-up warnings) goes to a file next
    # to the executed chapter; what the cells print goes into the notebook.
    log = open(out / f"{path.stem}.kernel.log", "w")  # noqa: SIM115
    with log, client.setup_kernel(stderr=log, stdout=log):
        probe = nbformat.v4.new_code_cell(_CHECK)
        _run_aside(client, probe, 0)
        text = "".join(o.get("text", "") for o in probe.outputs).split()
        result["python"], result["metabook"] = text[0], text[1]
        if text[2] != "True" and not os.environ.get("METABOOK_ALLOW_NETWORK"):
            raise RuntimeError(
                f"{path.name}: the kernel can reach the network; run with "
                "IPYTHONDIR=.test-build/ipython (tests/kernel_offline.py), "
                "as make chapters does"
            )
        if expect_installed and "site-packages" not in result["metabook"]:
            raise RuntimeError(
                f"{path.name}: the kernel imported metabook from "
                f"{result['metabook']}, "
                "not from the installed wheel"
            )
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if stub is not None and index == stub[0]:
                trial = copy.deepcopy(stub[1])
                try:
                    _run_aside(client, trial, index)
                except CellExecutionError as err:
                    if not _is_stub_error(err):
                        raise RuntimeError(
                            f"{path.name}: the student version's first "
                            f"exercise cell raised {err.ename}, not "
                            f"NotImplementedError:\n{err}"
                        ) from None
                else:
                    raise RuntimeError(
                        f"{path.name}: the student version's first exercise "
                        "cell ran "
                        "without raising NotImplementedError"
                    )
                result["student_checked_at"] = index
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as err:
                raise RuntimeError(
                    f"{path.name}, cell {index}:\n{err}"
                ) from None
    result["seconds"] = round(time.monotonic() - start, 1)
    nb.metadata["kernelspec"] = source_kernelspec
    nbformat.write(nb, out / path.name)
    result["ok"] = True
    return result


def _worker(args: tuple) -> dict:
    path, out, timeout, expect_installed = args
    try:
        return execute(path, out, timeout, expect_installed)
    except Exception as err:  # reported by the parent, one chapter at a time
        return {"notebook": path.stem, "ok": False, "error": str(err)}


def cache_executed(
    cache_path: Path,
    source: Path,
    executed: Path,
    seconds: float,
    conditions: dict | None = None,
) -> None:
    """Store an executed chapter where the site build will look for it, with
    its time and the conditions it ran in (``make guide`` reports both)."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_path))
    nb = nbformat.read(executed, as_version=4)
    cache.cache_notebook_bundle(
        CacheBundleIn(
            nb,
            str(source),
            data={"execution_seconds": seconds, **(conditions or {})},
        ),
        check_validity=False,
        overwrite=True,
    )
    try:
        cache.match_cache_notebook(nbformat.read(source, as_version=4))
    except KeyError:
        print(
            f"  WARNING: {source.name} changed while it ran; the site build "
            "will execute it again",
            flush=True,
        )


def cached(cache_path: Path, source: Path) -> bool:
    """Whether the jupyter-cache at ``cache_path`` holds ``source`` as it is."""
    from jupyter_cache import get_cache

    if not cache_path.exists():
        return False
    try:
        get_cache(str(cache_path)).match_cache_notebook(
            nbformat.read(source, as_version=4)
        )
    except KeyError:
        return False
    return True


def longest_first(paths: list[Path]) -> list[Path]:
    """The chapters by their last measured time at this size, longest first.

    With two at a time, starting the longest chapter first lets the others
    run beside it instead of after it. Times come from ``book/timings.json``;
    an unmeasured chapter counts as long.
    """
    size = "quick" if os.environ.get("METABOOK_QUICK") == "1" else "full"
    try:
        record = json.loads((ROOT / "book" / "timings.json").read_text())
        times = record.get(size, {}).get("chapters", {})
    except (OSError, ValueError):
        times = {}
    return sorted(paths, key=lambda p: -times.get(p.stem, math.inf))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument(
        "--python", required=True, help="the kernel's interpreter"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".test-build" / "executed"
    )
    parser.add_argument("--cache", type=Path, help="jupyter-cache to fill")
    parser.add_argument(
        "--times", type=Path, help="JSON of seconds per chapter"
    )
    parser.add_argument(
        "--timeout", type=int, default=1800, help="seconds per cell"
    )
    parser.add_argument("--jobs", type=int, default=1, help="chapters at once")
    parser.add_argument(
        "--learn2learn",
        action="store_true",
        help="rebuild learn2learn in the background first (see above)",
    )
    parser.add_argument(
        "--skip-cached",
        action="store_true",
        help="leave out the chapters --cache already holds as they are",
    )
    parser.add_argument(
        "--allow-source-tree",
        action="store_true",
        help="do not require metabook to come from site-packages",
    )
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or make_student.chapters()
    if args.skip_cached:
        if not args.cache:
            parser.error("--skip-cached needs --cache")
        paths = [p for p in paths if not cached(args.cache, p)]
        if not paths:
            print(f"every chapter is in {args.cache} already")
            return 0
    paths = longest_first(paths)
    python = (
        os.path.abspath(args.python) if os.sep in args.python else args.python
    )
    kernels = ROOT / ".test-build" / "jupyter"
    write_kernelspec(python, kernels)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(kernels), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    )
    os.environ.pop(
        "PYTHONPATH", None
    )  # the kernel must import the installed package
    args.out.mkdir(parents=True, exist_ok=True)
    expect = not args.allow_source_tree
    later = [p for p in paths if args.learn2learn and needs_learn2learn(p)]
    first = [p for p in paths if p not in later]
    print(
        f"executing {len(paths)} chapters with {python}, {args.jobs} at a time",
        flush=True,
    )
    start = time.monotonic()
    installer = None
    if args.learn2learn:
        log = args.out / "install_learn2learn.log"
        installer = start_learn2learn(python, log)
        print(
            f"  learn2learn: rebuilding in the background (log: {log})",
            flush=True,
        )
    results = []

    def conditions(python: str | None) -> dict:
        return {
            "python": python,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "threads": os.environ.get("OMP_NUM_THREADS", "default"),
            "jobs": args.jobs,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def report(future) -> None:
        result = future.result()
        if result["ok"]:
            at = result.get("student_checked_at")
            student = f"student stops at cell {at}" if at else "no exercise"
            print(
                f"  {result['notebook']:32} {result['seconds']:6.1f} s"
                f"  {student}",
                flush=True,
            )
            if args.cache:  # at once: an interrupted run keeps what it did
                name = f"{result['notebook']}.ipynb"
                cache_executed(
                    args.cache,
                    ROOT / "notebooks" / name,
                    args.out / name,
                    result["seconds"],
                    conditions(result["python"]),
                )
        else:
            print(f"  {result['notebook']:32} FAILED", flush=True)
        results.append(result)

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        args.jobs, mp_context=context
    ) as pool:
        pending = [
            pool.submit(_worker, (p, args.out, args.timeout, expect))
            for p in first
        ]
        for future in pending:
            future.add_done_callback(report)
        if installer is not None:
            code = installer.wait()
            print(f"  learn2learn: rebuild finished (exit {code})", flush=True)
            if code:
                tail = log.read_text(errors="replace")[-3000:]
                for path in later:
                    results.append(
                        {
                            "notebook": path.stem,
                            "ok": False,
                            "error": (
                                "python -m metabook.install_learn2learn "
                                f"failed:\n{tail}"
                            ),
                        }
                    )
                later = []
        pending = [
            pool.submit(_worker, (p, args.out, args.timeout, expect))
            for p in later
        ]
        for future in pending:
            future.add_done_callback(report)
    order = {p.stem: i for i, p in enumerate(paths)}
    results.sort(key=lambda r: order[r["notebook"]])
    failed = [r for r in results if not r["ok"]]
    for result in failed:
        print(
            f"\n=== {result['notebook']} failed:\n{result['error']}",
            file=sys.stderr,
        )
    ok = [r for r in results if r["ok"]]
    if args.times:
        record = {
            "size": "quick"
            if os.environ.get("METABOOK_QUICK") == "1"
            else "full",
            **conditions(ok[0]["python"] if ok else None),
            "chapters": {r["notebook"]: r["seconds"] for r in ok},
        }
        args.times.parent.mkdir(parents=True, exist_ok=True)
        args.times.write_text(json.dumps(record, indent=1) + "\n")
    total = time.monotonic() - start
    print(
        f"{len(ok)} of {len(results)} chapters ran in {total:.0f} s", flush=True
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
