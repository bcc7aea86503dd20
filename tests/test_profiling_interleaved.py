"""mb.profiling.interleaved_seconds: alternating timing rounds, medians."""

from __future__ import annotations

import time

import metabook as mb


def test_interleaved_seconds_times_each_function_in_alternation():
    calls: list[str] = []

    def fast():
        calls.append("fast")

    def slow():
        calls.append("slow")
        time.sleep(0.002)

    seconds = mb.profiling.interleaved_seconds(
        {"fast": fast, "slow": slow}, "cpu", repeats=2, rounds=3, warmup=1
    )
    assert set(seconds) == {"fast", "slow"}
    assert seconds["slow"] >= 0.002 > seconds["fast"] >= 0
    # one warm-up call each, then rounds alternate: 2 fast, 2 slow, ...
    assert calls[:2] == ["fast", "slow"]
    assert calls[2:] == (["fast"] * 2 + ["slow"] * 2) * 3
