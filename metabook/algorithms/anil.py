"""ANIL, Almost No Inner Loop (Raghu et al., 2020): only the head adapts.

The network is split into a body f_φ and a head h_w (usually linear). The inner
loop adapts the head alone, on the body's features of the support set::

    z = f_φ(x)                                       (once per task)
    w'_i = w − α ∇_w L_support_i(w; z)               (``inner_steps`` times)
    L(φ, w) = mean_i L_query_i(w'_i; f_φ(x_query))   (outer loss)

The outer loop meta-trains φ and w; second-order by default (the outer gradient
goes through the head's inner steps, and through z into φ), first-order with
``first_order=True``. A frozen body (parameters with ``requires_grad=False``,
e.g. a pre-trained encoder) is allowed: then only w is meta-learned. Because
the body runs once per task rather than once per inner step, ANIL costs little
more than the body's forward and backward pass. learn2learn's ANIL examples
are built the same way: a body, and ``l2l.algorithms.MAML`` around the head.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.func import vmap

from ..episode import Episode
from ..errors import EpisodeError, check_module
from ..inner import LossFn, Params, adapt_batch, batched_forward, forward
from .base import TaskOutputs, _check_inner_lr, default_loss
from .maml import MAML


class BodyHead(nn.Module):
    """``head(body(x))``: one module, so that optimisers see both parts."""

    def __init__(self, body: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def _split(params: Params, prefix: str) -> Params:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix + ".")}


class ANIL(MAML):
    """MAML on the head only, over the features of a (meta-trained) body.

    Args:
        body: maps ``(n, *x_shape)`` to features ``(n, d)``.
        head: maps ``(n, d)`` to outputs, e.g. ``nn.Linear(d, n_way)``.
        inner_lr: α, the head's inner step size: a float, or a dict with one
            tensor per trainable head parameter (named as in
            ``head.named_parameters()``), e.g. Meta-SGD's learned step sizes.
        inner_steps: inner steps per task.
        first_order: drop the second-order term.
        loss_fn: per-task loss (cross-entropy for class labels).
        randomness: ``vmap`` randomness of the head (see ``GradientLearner``).

    ``model`` is ``BodyHead(body, head)``, with parameter names ``body.*`` and
    ``head.*``. Pass ``learner.parameters()`` to the outer optimiser: the
    model's parameters, and learned step sizes if ``inner_lr`` holds them.
    """

    localize = False

    def __init__(
        self,
        body: nn.Module,
        head: nn.Module,
        inner_lr: float,
        inner_steps: int = 1,
        first_order: bool = False,
        loss_fn: LossFn = default_loss,
        randomness: str = "different",
    ) -> None:
        check_module("body", body)
        check_module("head", head)
        per_parameter = isinstance(inner_lr, dict)
        super().__init__(
            BodyHead(body, head),
            1.0 if per_parameter else inner_lr,
            inner_steps,
            first_order,
            loss_fn,
            randomness,
        )
        if per_parameter:  # one step size per *head* parameter (Meta-SGD)
            self.inner_lr = _check_inner_lr(head, inner_lr)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._lr_repr()}, "
            f"inner_steps={self.inner_steps}, first_order={self.first_order})"
        )

    def parameters(self) -> Iterator[nn.Parameter]:
        """θ (body and head), then α if it is learned (Meta-SGD's dict)."""
        yield from self.model.parameters()
        if isinstance(self.inner_lr, dict):
            yield from self.inner_lr.values()

    def features(self, x: Tensor, params: Params | None = None) -> Tensor:
        """The body's features of a batch of tasks: ``(B, n, ...)`` -> ``(B, n,
        d)``."""
        body = self.model.body
        flat = x.flatten(0, 1)
        z = body(flat) if params is None else forward(body, params, flat)
        return z.unflatten(0, x.shape[:2])

    def head_start(
        self, support: Tensor, support_y: Tensor, head: Params
    ) -> tuple[Params, tuple[str, ...]]:
        """Where each task's head starts: the meta-learned ``head`` itself.

        Returns the head's parameters and the names among them that already
        hold one tensor per task (none here; ProtoMAML overrides this).
        """
        return head, ()

    def run_tasks(
        self,
        batch: Episode,
        inner_steps: int | None = None,
        first_order: bool | None = None,
        params: Params | None = None,
    ) -> TaskOutputs:
        """Adapt the head to every task of a batched episode; evaluate on its
        queries.

        ``adapted`` holds the adapted head's parameters (``head.*`` names, one
        tensor per task); the body is not adapted.
        """
        steps, fo = self.run_settings(batch, inner_steps, first_order)
        own = params is None
        params = self.params if own else params
        self.check_batch(batch)
        body_params = None if own else _split(params, "body")
        support = self.features(batch.support_x, body_params)
        query = self.features(batch.query_x, body_params)
        head = _split(params, "head")
        trainable = {
            k for k, p in self.model.head.named_parameters() if p.requires_grad
        }
        frozen = {k: v for k, v in head.items() if k not in trainable}
        head = {k: v for k, v in head.items() if k in trainable}
        start, per_task = self.head_start(support, batch.support_y, head)
        adapted, support_losses = adapt_batch(
            self.model.head,
            start,
            support,
            batch.support_y,
            self.loss_fn,
            self.inner_lr,
            steps,
            fo,
            None,
            self.randomness,
            per_task,
            frozen,
        )
        out = batched_forward(
            self.model.head, adapted, query, frozen, self.randomness
        )
        query_loss = vmap(self.loss_fn)(out, batch.query_y)
        adapted = {f"head.{k}": v for k, v in adapted.items()}
        outputs = TaskOutputs(query_loss, support_losses, out, adapted)
        self._check_finite(outputs, batch, params)
        return outputs

    def adapt(self, episode: Episode, inner_steps: int | None = None) -> Params:
        """θ' for one (unbatched) episode: the body's θ and the adapted head,
        detached."""
        if episode.batched:
            raise EpisodeError(
                "adapt takes one task; index a batched episode first (batch[i])"
            )
        with torch.no_grad():
            out = self.run_tasks(Episode.stack([episode]), inner_steps, True)
        theta = {k: v.detach() for k, v in self.params.items()}
        theta.update({k: v[0].detach() for k, v in out.adapted.items()})
        return theta
