"""Evaluation over many test tasks: mean ± 95% confidence interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import stats
from torch import Tensor

from .episode import Episode
from .errors import ConfigError, check_int


@dataclass(frozen=True)
class Estimate:
    """A mean and the half-width of its confidence interval over ``n`` tasks."""

    mean: float
    ci: float
    n: int
    confidence: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.ci

    @property
    def high(self) -> float:
        return self.mean + self.ci

    def overlaps(self, other: Estimate) -> bool:
        """Whether the two confidence intervals overlap."""
        return self.low <= other.high and other.low <= self.high

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.mean:{spec}} ± {self.ci:{spec}}"

    def __str__(self) -> str:
        return format(self)


def mean_ci(values: Tensor | list[float], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t confidence half-width of per-task values.

    Args:
        values: one number per test task.
        confidence: e.g. 0.95 for a 95% interval.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten().cpu()
    n = v.numel()
    if n < 2:
        raise ConfigError(
            f"a confidence interval needs at least 2 values, got {n}"
        )
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence={confidence!r} must be between 0 and 1")
    sem = v.std(unbiased=True).item() / math.sqrt(n)
    t = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1))
    return Estimate(v.mean().item(), t * sem, n, confidence)


def paired_difference(
    a: Tensor | list[float], b: Tensor | list[float], confidence: float = 0.95
) -> Estimate:
    """Mean per-task difference ``a - b`` with its Student-t confidence
    interval.

    The comparison to use when two methods were tested on the *same* tasks: each
    task gives one difference, so the spread that both methods share (hard and
    easy episodes) cancels, and the interval is usually much narrower than
    either method's own. "A beats B" means the interval lies above zero
    (``paired_difference(a, b).low > 0``). The formula is written out in the
    book's notation page.

    Args:
        a: one value per task for the first method (e.g. query accuracy).
        b: the second method's values on the same tasks, in the same order.
        confidence: e.g. 0.95 for a 95% interval.

    Raises:
        ConfigError: if ``a`` and ``b`` do not hold the same number of tasks.
    """
    ta = torch.as_tensor(a, dtype=torch.float64).flatten().cpu()
    tb = torch.as_tensor(b, dtype=torch.float64).flatten().cpu()
    if ta.numel() != tb.numel():
        raise ConfigError(
            f"a paired comparison needs the same tasks for both methods: "
            f"a has {ta.numel()} values, b has {tb.numel()}"
        )
    return mean_ci(ta - tb, confidence)


def evaluate_per_task(
    learner,
    episodes: Episode,
    inner_steps: int | None = None,
    chunk_size: int = 100,
) -> dict[str, Tensor]:
    """Adapt to every test task and return each metric per task (on the CPU).

    Args:
        learner: anything with ``task_metrics(batch, inner_steps)`` (MAML,
            ProtoNet, ...).
        episodes: a batched episode holding all test tasks.
        inner_steps: inner steps at test time (defaults to the learner's own).
        chunk_size: tasks adapted at once (bounds memory).

    Returns:
        ``{"loss": (n_tasks,), ...}`` plus ``"accuracy"`` for classification.
        Two methods tested on the same episodes can be compared task by task (a
        paired comparison: ``mean_ci(a["accuracy"] - b["accuracy"])``).
    """
    if not episodes.batched:
        raise ConfigError(
            "evaluate needs a batched episode holding all test tasks"
        )
    if episodes.meta_batch_size == 0:
        raise ConfigError(
            "episodes holds 0 test tasks; evaluate needs at least one, and an "
            "interval needs two"
        )
    check_int("chunk_size", chunk_size, 1)
    device = next(learner.model.parameters()).device
    was_training = learner.model.training
    learner.model.eval()
    per_task: dict[str, list[Tensor]] = {}
    try:
        for start in range(0, episodes.meta_batch_size, chunk_size):
            chunk = episodes[start : start + chunk_size].to(device)
            for name, values in learner.task_metrics(
                chunk, inner_steps=inner_steps
            ).items():
                per_task.setdefault(name, []).append(values.cpu())
    finally:
        learner.model.train(was_training)
    return {name: torch.cat(v) for name, v in per_task.items()}


def evaluate(
    learner,
    episodes: Episode,
    inner_steps: int | None = None,
    chunk_size: int = 100,
    confidence: float = 0.95,
) -> dict[str, Estimate]:
    """Adapt to every test task and summarise each metric as mean ± CI.

    Args:
        learner: anything with ``task_metrics(batch, inner_steps)`` (MAML,
            ProtoNet, ...).
        episodes: a batched episode holding all test tasks; pass the *same*
            tasks to every method you compare.
        inner_steps: inner steps at test time (defaults to the learner's own).
        chunk_size: tasks adapted at once (bounds memory).
        confidence: confidence level of the intervals.

    Returns:
        ``{"loss": Estimate, ...}`` plus ``"accuracy"`` for classification.
    """
    per_task = evaluate_per_task(learner, episodes, inner_steps, chunk_size)
    return {
        name: mean_ci(values, confidence) for name, values in per_task.items()
    }
