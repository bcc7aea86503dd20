"""The meta-training loop shared by every algorithm."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .episode import Episode
from .errors import ConfigError, EpisodeError, NonFiniteLossError


class MetaLearner(Protocol):
    model: torch.nn.Module

    def backward(self, batch: Episode): ...

    def task_metrics(
        self, batch: Episode, inner_steps: int | None = None
    ) -> dict[str, Tensor]: ...


@dataclass
class History:
    """What happened during meta-training.

    Attributes:
        loss: the mean query loss of every meta-step.
        metrics: per-step means of the learner's other metrics (e.g.
            ``accuracy``).
        seconds: wall-clock time of the whole run.
        evals: ``(step, result)`` pairs from the optional ``evaluate_every``
            hook.
    """

    loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    evals: list[tuple[int, object]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, self.steps)

    def smoothed(self, window: int = 100) -> list[float]:
        """Running mean of the loss over ``window`` steps (for plots)."""
        out, total = [], 0.0
        for i, v in enumerate(self.loss):
            total += v
            if i >= window:
                total -= self.loss[i - window]
            out.append(total / min(i + 1, window))
        return out


def progress_bar(steps: int, desc: str, progress: bool = True) -> tqdm:
    """``tqdm(range(steps))``, off when ``progress`` is false or
    ``TQDM_DISABLE=1``.

    The site builds set ``TQDM_DISABLE=1`` (a static page cannot show a live
    bar); it is read here because tqdm's notebook bar ignores it.
    """
    quiet = os.environ.get("TQDM_DISABLE", "").strip().lower() in {
        "1",
        "true",
        "yes",
    }
    return tqdm(
        range(steps), desc=desc, mininterval=1.0, disable=quiet or not progress
    )


def _non_finite_loss(
    learner: MetaLearner, batch: Episode, loss: float, iteration: int
) -> Exception:
    """Why the meta-loss of ``iteration`` is ``loss`` (nan or inf)."""
    from .algorithms.guards import non_finite_inputs, non_finite_params

    bad_input = non_finite_inputs(batch)
    if bad_input is not None:
        return type(bad_input)(f"meta-iteration {iteration}: {bad_input}")
    name = non_finite_params(dict(learner.model.named_parameters()))
    if name is not None:
        cause = (
            f"the parameter {name!r} already holds nan/inf: an earlier outer "
            "step blew up; lower meta_lr or clip the meta-gradient"
        )
    else:
        cause = "check the loss function and the model's output range"
    return NonFiniteLossError(
        f"meta-iteration {iteration}: the meta-loss is {loss}; {cause}"
    )


def meta_train(
    learner: MetaLearner,
    sample_batch: Callable[[], Episode],
    optimizer: torch.optim.Optimizer,
    meta_iters: int,
    *,
    progress: bool = True,
    desc: str | None = None,
    evaluate_every: int = 0,
    evaluate: Callable[[], object] | None = None,
) -> History:
    """Run ``meta_iters`` meta-steps: sample a batch of tasks, ``backward``,
    ``step``.

    Args:
        learner: MAML, Reptile, ProtoNet, ... (anything with ``backward`` and
            ``model``).
        sample_batch: returns a batched episode; it is moved to the model's
            device.
        optimizer: the outer optimiser over ``learner.model.parameters()``.
        meta_iters: number of meta-steps.
        progress: show a ``tqdm`` progress bar.
        desc: progress-bar label (defaults to the learner's repr).
        evaluate_every: call ``evaluate()`` every this many steps (0: never).
        evaluate: a callable returning anything worth keeping, e.g. validation
            accuracy.

    Returns:
        The run's :class:`History`.
    """
    if (
        isinstance(meta_iters, bool)
        or not isinstance(meta_iters, int)
        or meta_iters < 0
    ):
        raise ConfigError(
            f"meta_iters={meta_iters!r} must be a non-negative int"
        )
    if evaluate_every and evaluate is None:
        raise ConfigError(
            f"evaluate_every={evaluate_every} needs an evaluate= callable"
        )
    device = next(learner.model.parameters()).device
    history = History()
    learner.model.train()
    start = time.perf_counter()
    bar = progress_bar(meta_iters, desc or repr(learner), progress)
    for step in bar:
        batch = sample_batch().to(device)
        optimizer.zero_grad(set_to_none=True)
        try:
            out = learner.backward(batch)
        except (NonFiniteLossError, EpisodeError) as err:
            raise type(err)(f"meta-iteration {step + 1}: {err}") from None
        loss = out.loss.item()
        if not math.isfinite(loss):  # a learner that does not check by itself
            raise _non_finite_loss(learner, batch, loss, step + 1)
        optimizer.step()
        history.loss.append(loss)
        for name, values in out.metrics.items():
            if name != "loss":
                history.metrics.setdefault(name, []).append(
                    values.mean().item()
                )
        if step % 50 == 0:
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}", refresh=False)
        if evaluate_every and (step + 1) % evaluate_every == 0:
            learner.model.eval()
            history.evals.append((step + 1, evaluate()))
            learner.model.train()
    history.seconds = time.perf_counter() - start
    learner.model.eval()
    return history
