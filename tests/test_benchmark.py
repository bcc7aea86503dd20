"""The benchmark script runs end to end (one tiny round; speed itself is never
asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_maml_runs_both_workloads(l2l, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    sys.modules.pop("bench_maml", None)
    import bench_maml

    out_file = tmp_path / "bench.json"
    out = bench_maml.main(
        [
            "--device",
            "cpu",
            "--rounds",
            "1",
            "--steps",
            "1",
            "--json",
            str(out_file),
            "--profile",
        ]
    )
    rows = {(r["workload"], r["algorithm"]) for r in out["rows"]}
    assert rows == {
        ("sinusoid", "MAML (second-order)"),
        ("sinusoid", "FOMAML (first-order)"),
        ("sinusoid", "Reptile"),
        ("transformer", "MAML (second-order)"),
        ("transformer", "FOMAML (first-order)"),
    }
    assert all(
        r["metabook_ms"] > 0 and r["learn2learn_ms"] > 0 for r in out["rows"]
    )
    assert 0 < out["profile"]["matmul_share"] <= 1
    assert json.loads(out_file.read_text())["rows"] == out["rows"]
    printed = capsys.readouterr().out
    assert (
        "| transformer | MAML (second-order) | 5 |" in printed
        and "matrix products in all" in printed
    )
