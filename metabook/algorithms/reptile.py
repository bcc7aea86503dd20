"""Reptile (Nichol, Achiam & Schulman, 2018).

Adapt to each task with plain SGD (the same first-order inner loop as FOMAML),
then move θ towards the adapted weights::

    θ ← θ + ε · mean_i (θ'_i − θ)

``backward`` writes ``θ − mean_i θ'_i`` into ``θ.grad``, so an outer
``torch.optim.SGD(lr=ε)`` performs exactly that update (chapter 3 does, with
a constant ε). Nichol et al. took the inner steps with Adam (β₁ = 0) and
annealed ε linearly to 0 over training; here the inner loop is plain SGD,
shared with MAML and FOMAML. Chapter 6 follows the paper's outer rule, SGD
with ε annealed linearly to 0. Another outer optimiser can read the same
``.grad`` (Adam, say): it then steps along the Reptile direction, but the
step length is the optimiser's, not ε times the mean difference. Reptile
needs gradients of the support loss inside the inner loop; what it avoids is
differentiating *through* them. With a single inner step its update is just
joint training's gradient scaled by α, so it needs ``inner_steps >= 2`` to
learn anything joint training cannot.
Parameters with ``requires_grad=False`` are neither adapted nor moved.
"""

from __future__ import annotations

import torch

from ..episode import Episode
from .base import GradientLearner, StepOutput, task_metrics_from


class Reptile(GradientLearner):
    """Reptile, vectorised over the tasks of a meta-batch (see module
    docstring)."""

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
        return StepOutput(
            loss.detach(),
            task_metrics_from(out.query_output, batch.query_y, out.query_loss),
        )
