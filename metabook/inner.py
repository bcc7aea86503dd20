"""The inner loop: a few steps of gradient descent on each task's support set.

One function serves every gradient-based method. It adapts a whole meta-batch of
tasks at once:

* θ is expanded to one copy per task, ``(meta_batch_size, *param_shape)``;
* the model's forward pass runs on all tasks together with ``torch.func.vmap``
  (over the copies of θ and the tasks' data);
* the per-task gradients come from one ``torch.autograd.grad`` call on the *sum*
  of the task losses: task i's loss depends only on copy i, so the gradient with
  respect to copy i is exactly ∇θ L_i.

With ``create_graph=True`` (second-order MAML) the outer ``backward`` then
differentiates through the inner gradients, Hessian-vector products included;
``first_order=True`` (FOMAML, Reptile) treats them as constants. Because the
copies are ``expand``-ed views of θ, the outer gradient of all tasks flows back
into θ summed over tasks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .errors import ConfigError

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def forward(
    model: nn.Module, params: Params, x: Tensor, buffers: Params | None = None
) -> Tensor:
    """Run ``model`` on one task's ``x`` with the given parameters instead of
    its own."""
    if buffers:
        return functional_call(model, (params, buffers), (x,))
    return functional_call(model, params, (x,))


def batched_forward(
    model: nn.Module,
    params: Params,
    x: Tensor,
    buffers: Params | None = None,
    randomness: str = "different",
) -> Tensor:
    """``forward`` for every task at once: ``params`` and ``x`` have a leading
    task dimension.

    Any module works through ``vmap``. A model may also offer a hand-batched
    ``forward_batched(params, x)`` (``metabook.models.MLP`` does): it computes
    the same thing with fewer, larger kernels, and is used when the model has no
    buffers.
    """
    fast = getattr(model, "forward_batched", None)
    if fast is not None and not buffers:
        return fast(params, x)
    fn = vmap(
        lambda p, xi: forward(model, p, xi, buffers), randomness=randomness
    )
    return fn(params, x)


def adapt_batch(
    model: nn.Module,
    params: Params,
    support_x: Tensor,
    support_y: Tensor,
    loss_fn: LossFn,
    inner_lr: float | Params,
    inner_steps: int,
    first_order: bool = False,
    buffers: Params | None = None,
    randomness: str = "different",
    per_task: tuple[str, ...] = (),
    frozen: Params | None = None,
) -> tuple[Params, Tensor]:
    """Adapt θ to every task of a meta-batch: θ'_i = θ − α ∇θ L_support_i(θ),
    ``inner_steps`` times.

    Args:
        model: the network; only its structure is used.
        params: θ, name -> tensor (usually ``dict(model.named_parameters())``).
        support_x: ``(meta_batch_size, n_support, *x_shape)``.
        support_y: ``(meta_batch_size, n_support, *y_shape)``.
        loss_fn: ``loss_fn(output, target) -> scalar`` for one task.
        inner_lr: α, a float or a dict of per-parameter tensors (as in
            Meta-SGD).
        inner_steps: gradient steps (0 returns θ unchanged, one copy per task).
        first_order: detach the inner gradients (FOMAML, Reptile): then ∂θ'_i/∂θ
            = I.
        buffers: the model's buffers, shared by all tasks.
        randomness: ``vmap`` randomness (``"different"``: each task its own
            dropout mask).
        per_task: names of entries of ``params`` that already have a leading
            task dimension (one tensor per task, e.g. the embedding rows a task
            uses); the others are shared by all tasks and expanded.
        frozen: parameters that are *not* adapted (e.g. a frozen pre-trained
            body, ``requires_grad=False``): passed to the model unchanged,
            shared by all tasks, never differentiated. The learners put every
            parameter with ``requires_grad=False`` here.

    Returns:
        θ'_i for every task, each of shape ``(meta_batch_size, *param_shape)``,
        and the support loss *before* each step, ``(meta_batch_size,
        inner_steps)``, detached.

    If gradients are disabled by the caller (``torch.no_grad()``), the inner
    loop still runs (it needs gradients) but nothing is kept for an outer
    backward pass. A parameter the forward pass does not use gets a zero inner
    gradient.

    Raises:
        ConfigError: if a per-parameter ``inner_lr`` does not name exactly the
            adapted parameters.
    """
    if isinstance(inner_lr, dict) and inner_lr.keys() != params.keys():
        raise ConfigError(lr_names_message(inner_lr, params))
    if frozen:
        buffers = {**frozen, **(buffers or {})}
    outer_graph = torch.is_grad_enabled()
    create_graph = outer_graph and not first_order
    batch = support_x.shape[0]
    task_loss = vmap(loss_fn)
    losses = []
    with torch.enable_grad():
        if not outer_graph or not any(p.requires_grad for p in params.values()):
            params = {k: p.detach().requires_grad_() for k, p in params.items()}
        fast = {
            k: p if k in per_task else p.expand(batch, *p.shape)
            for k, p in params.items()
        }
        for _ in range(inner_steps):
            out = batched_forward(model, fast, support_x, buffers, randomness)
            loss = task_loss(out, support_y)  # (meta_batch_size,)
            grads = torch.autograd.grad(
                loss.sum(),
                list(fast.values()),
                create_graph=create_graph,
                allow_unused=True,
                materialize_grads=True,
            )
            if isinstance(inner_lr, dict):
                fast = {
                    k: w - inner_lr[k] * g
                    for (k, w), g in zip(fast.items(), grads)
                }
            else:
                fast = {
                    k: w - inner_lr * g
                    for (k, w), g in zip(fast.items(), grads)
                }
            losses.append(loss.detach())
    if not outer_graph:
        fast = {k: w.detach() for k, w in fast.items()}
    stacked = (
        torch.stack(losses, dim=1) if losses else support_x.new_zeros(batch, 0)
    )
    return fast, stacked


def lr_names_message(inner_lr: dict, params: Params) -> str:
    """Why a per-parameter ``inner_lr`` does not fit ``params`` (missing, extra
    names)."""

    def names(keys: set[str]) -> str:
        shown = ", ".join(sorted(keys)[:3])
        return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    missing = set(params) - set(inner_lr)
    extra = set(inner_lr) - set(params)
    parts = []
    if missing:
        parts.append(f"misses {names(missing)}")
    if extra:
        parts.append(
            f"has names that are not adapted parameters: {names(extra)}"
        )
    return (
        "the per-parameter inner_lr " + " and ".join(parts) + "; give one step "
        "size per trainable parameter (frozen ones, requires_grad=False, get "
        "none)"
    )


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
    frozen: Params | None = None,
) -> tuple[Params, Tensor]:
    """``adapt_batch`` for a single task: ``support_x`` is ``(n_support,
    *x_shape)``.

    Returns θ' (shaped like θ) and the support losses before each step,
    ``(inner_steps,)``.
    """
    fast, losses = adapt_batch(
        model,
        params,
        support_x.unsqueeze(0),
        support_y.unsqueeze(0),
        loss_fn,
        inner_lr,
        inner_steps,
        first_order,
        buffers,
        frozen=frozen,
    )
    return {k: w.squeeze(0) for k, w in fast.items()}, losses.squeeze(0)
