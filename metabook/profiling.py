"""Measuring what an algorithm costs: seconds per call and peak memory.

Used by the chapters' comparison tables. Peak memory is the largest amount of
memory allocated *during* the call, beyond what was allocated before it:

* on CUDA, from the caching allocator's peak statistics;
* on CPU, from PyTorch's profiler: every allocation and free is recorded per
  operator, and the running total is replayed in time order. This counts tensors
  PyTorch allocates (activations, the autograd graph, gradients), not Python
  objects.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: the profiler's C++ side prints start/stop
    notices there."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some notebook front ends)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_memory(
    fn: Callable[[], object], device: torch.device | str = "cpu"
) -> int:
    """Peak bytes allocated while ``fn()`` runs, above the level before it
    started."""
    device = torch.device(device)
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) - before
    with (
        _quiet_stderr(),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        fn()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def seconds_per_call(
    fn: Callable[[], object],
    device: torch.device | str = "cpu",
    repeats: int = 20,
    rounds: int = 5,
    warmup: int = 3,
) -> float:
    """Median over ``rounds`` of the mean time of ``repeats`` calls (after
    ``warmup`` calls)."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        _sync(device)
        times.append((time.perf_counter() - start) / repeats)
    return statistics.median(times)


@dataclass(frozen=True)
class Cost:
    """Seconds per call and peak memory of one call."""

    seconds: float
    peak_bytes: int

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


def measure(
    fn: Callable[[], object],
    device: torch.device | str = "cpu",
    repeats: int = 20,
    rounds: int = 5,
) -> Cost:
    """Both :func:`seconds_per_call` and :func:`peak_memory` of ``fn``."""
    return Cost(
        seconds_per_call(fn, device, repeats, rounds), peak_memory(fn, device)
    )


def interleaved_seconds(
    fns: dict[str, Callable[[], object]],
    device: torch.device | str = "cpu",
    repeats: int = 10,
    rounds: int = 5,
    warmup: int = 3,
) -> dict[str, float]:
    """Seconds per call of several functions, timed in alternating rounds.

    Each round times ``repeats`` calls of every function, one after the other,
    so that a machine that slows down or speeds up during the measurement
    affects all of them alike; the result per function is its median round.
    Compare the functions by their ratio, which depends much less on the
    machine than the seconds do.

    Args:
        fns: name -> a function of no arguments (e.g. one meta-step).
        device: where they run (CUDA is synchronised around each round).
        repeats: calls per round.
        rounds: rounds per function.
        warmup: untimed calls of each function first.

    Returns:
        name -> median seconds per call.
    """
    device = torch.device(device)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(seconds_per_call(fn, device, repeats, 1, 0))
    return {name: statistics.median(t) for name, t in times.items()}
