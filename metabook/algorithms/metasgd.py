"""Meta-SGD (Li et al., 2017): a learned step size for every parameter.

MAML's inner loop with the scalar α replaced by a tensor α of θ's shape, which
is meta-learned together with θ::

    θ'_i = θ − α ⊙ ∇θ L_support_i(θ)             (``inner_steps`` times)
    (θ, α) ← (θ, α) − β ∇_(θ, α) mean_i L_query_i(θ'_i)

α sets both the direction and the size of the inner update: an entry can grow
(adapt this weight fast), shrink to zero (keep it fixed, as ANIL does for the
body) or turn negative. The paper starts every entry at the same value and
takes one inner step; ``first_order=True`` drops the second-order term, which
still leaves α a gradient (minus the inner gradient times the query gradient
at θ'). learn2learn's ``l2l.algorithms.MetaSGD`` is the same algorithm.

metabook's inner loop already accepts one step size per parameter, so Meta-SGD
is MAML whose ``inner_lr`` is a dict of trainable tensors (:func:`step_sizes`).
The same dict given to :class:`~metabook.algorithms.anil.ANIL` gives Meta-SGD on
the head only.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..errors import check_module
from ..inner import LossFn
from .base import _check_positive_number, default_loss
from .maml import MAML


def step_sizes(model: nn.Module, inner_lr: float) -> dict[str, nn.Parameter]:
    """α: one trainable tensor per trainable parameter of ``model``, all
    ``inner_lr``."""
    _check_positive_number("inner_lr", inner_lr)
    return {
        name: nn.Parameter(torch.full_like(p.detach(), float(inner_lr)))
        for name, p in model.named_parameters()
        if p.requires_grad
    }


class MetaSGD(MAML):
    """MAML with a meta-learned step size per parameter entry.

    Args:
        model: any ``nn.Module``.
        inner_lr: the initial value of every entry of α.
        inner_steps: inner steps per task.
        first_order: drop the second-order term.
        loss_fn: per-task loss; MSE for float targets, cross-entropy for labels.
        randomness: ``vmap`` randomness mode (see ``GradientLearner``).

    α is ``learner.inner_lr`` (name -> tensor shaped like the parameter), made
    on the model's device: move the model first. The outer optimiser must see
    θ *and* α: pass ``learner.parameters()``.
    """

    localize = False  # α is shaped like the whole embedding table

    def __init__(
        self,
        model: nn.Module,
        inner_lr: float,
        inner_steps: int = 1,
        first_order: bool = False,
        loss_fn: LossFn = default_loss,
        randomness: str = "different",
    ) -> None:
        check_module("model", model)
        super().__init__(
            model,
            step_sizes(model, inner_lr),
            inner_steps,
            first_order,
            loss_fn,
            randomness,
        )

    def __repr__(self) -> str:
        mean = torch.cat([a.detach().flatten() for a in self.inner_lr.values()])
        return (
            f"MetaSGD(inner_lr=<per parameter, mean {mean.mean().item():.4g}>, "
            f"inner_steps={self.inner_steps}, first_order={self.first_order})"
        )

    def parameters(self) -> Iterator[nn.Parameter]:
        """θ, then α: everything the outer optimiser updates."""
        yield from self.model.parameters()
        yield from self.inner_lr.values()
