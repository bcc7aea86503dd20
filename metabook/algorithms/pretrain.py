"""The non-meta baseline of Finn et al. (2017): one model trained on all tasks'
data.

Meta-training ignores the task structure: it minimises the loss of a single θ on
the pooled support and query points of every task. At test time it is fine-tuned
with the same inner loop as MAML, which makes the comparison fair: only the
initialisation differs. (For classification with per-episode relabelled classes
this pooling is meaningless; Part II builds the classifier baseline instead.)
"""

from __future__ import annotations

import torch
from torch.func import vmap

from ..episode import Episode
from ..inner import forward
from .base import GradientLearner, StepOutput


class JointTraining(GradientLearner):
    """Train θ on pooled task data; adapt at test time like MAML (see module
    docstring)."""

    def backward(self, batch: Episode) -> StepOutput:
        self.check_batch(batch)
        model, loss_fn, buffers = self.model, self.loss_fn, self.buffers
        x = torch.cat([batch.support_x, batch.query_x], dim=1)
        y = torch.cat([batch.support_y, batch.query_y], dim=1)

        def pooled(params, xi, yi):
            return loss_fn(forward(model, params, xi, buffers), yi)

        losses = vmap(pooled, in_dims=(None, 0, 0), randomness=self.randomness)(
            self.params, x, y
        )
        loss = losses.mean()
        loss.backward()
        return StepOutput(loss.detach(), {"loss": losses.detach()})
