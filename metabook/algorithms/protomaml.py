"""Proto-MAML (Triantafillou et al., 2020): the head starts at the prototypes.

A Prototypical Network's logits are linear in the query's features z: with
prototypes c_k (class means of the support features),

    −‖z − c_k‖² = 2 c_kᵀ z − ‖c_k‖² − ‖z‖²,

and the last term is the same for every class. So the linear head

    w_k = 2 c_k,   b_k = −‖c_k‖²

makes exactly ProtoNet's predictions. Proto-MAML starts each task's head there
and then takes MAML's inner steps on it, as ANIL does on a learned head::

    w'_i = w_i − α ∇_w L_support_i(w_i; f_φ(x))      (``inner_steps`` times)

The outer loop meta-trains the body φ through the inner steps *and* through the
prototypes (the head's starting point depends on φ). There is no meta-learned
head: its start is computed from every task's support set, so it suits any
``n_way`` and any label order. This version adapts the head only (as in ANIL);
the paper's Proto-MAML also adapts the body in its (first-order) inner loop.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..inner import LossFn, Params
from .anil import ANIL
from .base import default_loss
from .guards import check_model_input
from .protonet import prototypes


class PrototypeHead(nn.Module):
    """A linear layer without weights of its own: ``z @ weight.T + bias``.

    Proto-MAML computes ``weight`` and ``bias`` per task from the prototypes;
    they are supplied by ``torch.func.functional_call``.
    """

    weight: Tensor
    bias: Tensor

    def forward(self, z: Tensor) -> Tensor:  # (n, d) -> (n, n_way)
        return z @ self.weight.T + self.bias


def prototype_head(support: Tensor, support_y: Tensor, n_way: int) -> Params:
    """The head equivalent to ProtoNet: ``weight`` (..., n_way, d) = 2c,
    ``bias`` = −‖c‖²."""
    c = prototypes(support, support_y, n_way)
    return {"weight": 2 * c, "bias": -c.pow(2).sum(-1)}


class ProtoMAML(ANIL):
    """Proto-MAML over a body's features (see the module docstring).

    Args:
        body: maps ``(n, *x_shape)`` to features ``(n, d)``.
        inner_lr: α.
        inner_steps: inner steps on each task's head (0: exactly ProtoNet).
        first_order: drop the second-order term (the paper's fo-Proto-MAML);
            the gradient through the prototypes is kept either way.
        loss_fn: per-task loss (cross-entropy).
    """

    def __init__(
        self,
        body: nn.Module,
        inner_lr: float,
        inner_steps: int = 1,
        first_order: bool = False,
        loss_fn: LossFn = default_loss,
    ) -> None:
        super().__init__(
            body, PrototypeHead(), inner_lr, inner_steps, first_order, loss_fn
        )

    def check_batch(self, batch) -> None:
        """The body's input check only: the head's size comes from each task."""
        check_model_input(self.model.body, batch)

    def head_start(
        self, support: Tensor, support_y: Tensor, head: Params
    ) -> tuple[Params, tuple[str, ...]]:
        n_way = int(support_y.max()) + 1
        start = prototype_head(support, support_y, n_way)
        # A frozen body, or no outer graph: the inner loop still needs leaves
        # to differentiate with respect to.
        start = {
            k: v if v.requires_grad else v.detach().requires_grad_()
            for k, v in start.items()
        }
        return start, tuple(start)
