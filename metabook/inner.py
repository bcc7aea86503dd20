"""The inner loop: a few steps of gradient descent on a task's support set.

Written as a pure function of a parameter dict (``torch.func``), so that

* second-order MAML differentiates *through* it (the outer ``backward`` sees the
  inner gradients as functions of the parameters),
* first-order MAML and Reptile reuse it with ``first_order=True`` (inner gradients
  are treated as constants), and
* a whole meta-batch of tasks runs at once under ``torch.func.vmap``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def forward(model: nn.Module, params: Params, x: Tensor, buffers: Params | None = None) -> Tensor:
    """Run ``model`` with the given parameters instead of its own."""
    if buffers:
        return functional_call(model, (params, buffers), (x,))
    return functional_call(model, params, (x,))


def adapt(
    model: nn.Module,
    params: Params,
    support_x: Tensor,
    support_y: Tensor,
    loss_fn: LossFn,
    inner_lr: float | Params,
    inner_steps: int,
    first_order: bool = False,
    buffers: Params | None = None,
) -> tuple[Params, Tensor]:
    """Adapt ``params`` to one task: ``inner_steps`` steps of gradient descent.

    Implements θ' = θ − α ∇θ L_support(θ), repeated ``inner_steps`` times.

    Args:
        model: the network; only its structure is used.
        params: θ, a dict name -> tensor (usually ``dict(model.named_parameters())``).
        support_x: ``(n_support, *x_shape)``.
        support_y: ``(n_support, *y_shape)``.
        loss_fn: ``loss_fn(model_output, targets) -> scalar``.
        inner_lr: α, a float or a dict of per-parameter tensors (Meta-SGD).
        inner_steps: number of gradient steps (0 returns ``params`` unchanged).
        first_order: if True, inner gradients are detached, so the result's
            derivative with respect to θ is the identity (FOMAML, Reptile).
        buffers: the model's buffers, if any.

    Returns:
        The adapted parameters θ' and the support loss *before* each step,
        shape ``(inner_steps,)``, detached.
    """

    def support_loss(p: Params) -> tuple[Tensor, Tensor]:
        loss = loss_fn(forward(model, p, support_x, buffers), support_y)
        return loss, loss.detach()

    step = grad(support_loss, has_aux=True)
    losses = []
    for _ in range(inner_steps):
        grads, loss = step(params)
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        if isinstance(inner_lr, dict):
            params = {k: p - inner_lr[k] * grads[k] for k, p in params.items()}
        else:
            params = {k: p - inner_lr * grads[k] for k, p in params.items()}
        losses.append(loss)
    if not losses:
        return params, support_x.new_zeros(0)
    return params, torch.stack(losses)
