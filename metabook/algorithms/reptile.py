"""Reptile (Nichol, Achiam & Schulman, 2018).

Adapt to each task with plain SGD (the same first-order inner loop as FOMAML),
then move θ towards the adapted weights::

    θ ← θ + ε · mean_i (θ'_i − θ)

``backward`` writes ``θ − mean_i θ'_i`` into ``θ.grad``, so an outer
``torch.optim.SGD(lr=ε)`` performs exactly that update, and Adam can be used
too (as in the paper's experiments). Reptile needs gradients of the support
loss inside the inner loop; what it avoids is differentiating *through* them.
With a single inner step its update is just joint training's gradient scaled by
α, so it needs ``inner_steps >= 2`` to learn anything joint training cannot.
"""

from __future__ import annotations

import torch

from ..episode import Episode
from .base import GradientLearner, StepOutput, task_metrics_from


class Reptile(GradientLearner):
    """Reptile, vectorised over the tasks of a meta-batch (see module docstring)."""

    first_order = True

    def backward(self, batch: Episode) -> StepOutput:
        with torch.no_grad():
            out = self.run_tasks(batch, first_order=True)
            for name, p in self.model.named_parameters():
                if not p.requires_grad:  # frozen: not adapted, not moved
                    continue
                step = p - out.mean_adapted(name, p)
                p.grad = step if p.grad is None else p.grad + step
        loss = out.query_loss.mean()
        return StepOutput(loss.detach(), task_metrics_from(out.query_output, batch.query_y, out.query_loss))
