"""MAML (Finn et al., 2017) and first-order MAML as a flag.

Meta-objective over a batch of tasks T_i, each adapted from the same θ::

    θ'_i = θ − α ∇θ L_support_i(θ)          (inner loop, ``inner_steps`` times)
    L(θ) = mean_i L_query_i(θ'_i)             (outer loss)

``backward`` fills θ.grad with ∇θ L(θ). Second-order (default) differentiates
through the inner gradients, which brings Hessian-vector products into the
meta-gradient; ``first_order=True`` treats them as constants, so the
meta-gradient is the query gradient at θ'_i (FOMAML).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..episode import Episode
from ..inner import LossFn
from .base import GradientLearner, StepOutput, default_loss, task_metrics_from


class MAML(GradientLearner):
    """Model-Agnostic Meta-Learning, vectorised over the tasks of a meta-batch.

    Args:
        model: any ``nn.Module``.
        inner_lr: α, a float or one step size per trainable parameter (a dict
            of tensors broadcastable to each parameter, as Meta-SGD learns).
        inner_steps: inner gradient steps per task.
        first_order: drop the second-order term (FOMAML).
        loss_fn: per-task loss; MSE for float targets, cross-entropy for labels.
        randomness: ``vmap`` randomness mode (see ``GradientLearner``).

    Example:
        >>> maml = MAML(MLP(), inner_lr=0.01)
        >>> opt = torch.optim.Adam(maml.model.parameters(), 1e-3)
        >>> opt.zero_grad(); maml.backward(batch); opt.step()
    """

    def __init__(
        self,
        model: nn.Module,
        inner_lr: float | dict[str, Tensor],
        inner_steps: int = 1,
        first_order: bool = False,
        loss_fn: LossFn = default_loss,
        randomness: str = "different",
    ) -> None:
        super().__init__(model, inner_lr, inner_steps, loss_fn, randomness)
        self.first_order = bool(first_order)

    def __repr__(self) -> str:
        return (
            f"MAML({self._lr_repr()}, inner_steps={self.inner_steps}, "
            f"first_order={self.first_order})"
        )

    def meta_loss(self, batch: Episode) -> Tensor:
        """The outer loss L(θ), a scalar that still carries the graph to θ."""
        return self.run_tasks(batch).query_loss.mean()

    def backward(self, batch: Episode) -> StepOutput:
        out = self.run_tasks(batch)
        loss = out.query_loss.mean()
        loss.backward()
        return StepOutput(
            loss.detach(),
            task_metrics_from(out.query_output, batch.query_y, out.query_loss),
        )
