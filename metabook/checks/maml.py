"""Self-checks for the chapter "MAML from the equations".

Two exercises are checked here. Each check builds its own small float64 problem,
calls the learner's function, compares with the right answer and, when they
differ, compares with the answers that the usual mistakes produce, so that the
message can say which mistake it was:

* :func:`check_linear_meta_gradient`: the one-step MAML meta-gradient of linear
  regression in closed form, ``mean_i (I − α H_i) ∇L_query_i(w'_i)``;
* :func:`check_maml_meta_gradient`: MAML's meta-gradient of any ``nn.Module``,
  compared with :class:`metabook.MAML`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import CheckFailed, passed

# ----------------------------------------------------------------- helpers


def _as_tensor(value: Any, what: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise CheckFailed(
            f"{what} returned a {type(value).__name__}; return a torch.Tensor"
        )
    return value.detach().to(torch.float64).cpu()


def _close(
    a: Tensor, b: Tensor, rtol: float = 1e-6, atol: float = 1e-9
) -> bool:
    return a.shape == b.shape and bool(
        torch.allclose(a, b, rtol=rtol, atol=atol)
    )


def _diagnose(
    value: Tensor, expected: Tensor, mistakes: dict[str, Tensor], name: str
) -> None:
    """Pass if ``value`` matches ``expected``; otherwise name the mistake it
    matches, if any."""
    if value.shape != expected.shape:
        raise CheckFailed(
            f"{name} has shape {tuple(value.shape)}, expected "
            f"{tuple(expected.shape)} "
            "(one entry per parameter, averaged over the tasks)"
        )
    if not torch.isfinite(value).all():
        raise CheckFailed(f"{name} contains nan or inf")
    if _close(value, expected):
        return
    for hint, wrong in mistakes.items():
        if _close(value, wrong):
            raise CheckFailed(f"{name} is not right yet: {hint}")
    err = (value - expected).abs().max().item()
    scale = expected.abs().max().item()
    raise CheckFailed(
        f"{name} differs from the right answer (largest difference {err:.3g}, "
        f"largest entry of the answer {scale:.3g}) and matches none of the "
        "usual mistakes. "
        "Check each factor of the derivation on one task first "
        "(meta_batch_size=1)."
    )


# ---------------------------------------------- linear regression (closed form)


def _linear_problem(
    seed: int,
    meta_batch_size: int = 4,
    n_support: int = 6,
    n_query: int = 8,
    dim: int = 3,
):
    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    w = torch.randn(dim, generator=g, dtype=d)
    sx = torch.randn(meta_batch_size, n_support, dim, generator=g, dtype=d)
    qx = torch.randn(meta_batch_size, n_query, dim, generator=g, dtype=d)
    w_true = torch.randn(meta_batch_size, dim, generator=g, dtype=d)
    sy = torch.einsum("bnd,bd->bn", sx, w_true)
    qy = torch.einsum("bnd,bd->bn", qx, w_true)
    return w, sx, sy, qx, qy


def _mse_grad(x: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """∇_w mean_n (x_n·w − y_n)² for a batch of tasks: x (B, n, d), y (B, n), w
    (B, d) -> (B, d)."""
    residual = torch.einsum("bnd,bd->bn", x, w) - y
    return 2.0 / x.shape[1] * torch.einsum("bnd,bn->bd", x, residual)


def linear_meta_gradient_variants(
    w, support_x, support_y, query_x, query_y, inner_lr
) -> dict[str, Tensor]:
    """The right one-step meta-gradient and the results of common mistakes (for
    the check and its tests)."""
    b, n, dim = support_x.shape
    eye = torch.eye(dim, dtype=w.dtype)
    wb = w.expand(b, dim)
    adapted = wb - inner_lr * _mse_grad(support_x, support_y, wb)  # (B, d)
    hessian = 2.0 / n * support_x.transpose(1, 2) @ support_x  # (B, d, d)
    query_grad = _mse_grad(query_x, query_y, adapted)  # (B, d)

    def through(jacobian: Tensor, g: Tensor) -> Tensor:
        return torch.einsum("bij,bj->bi", jacobian, g)

    right = through(eye - inner_lr * hessian, query_grad)
    half_hessian = through(eye - inner_lr * hessian / 2, query_grad)
    return {
        "right": right.mean(0),
        "first_order": query_grad.mean(0),
        "plus_hessian": through(eye + inner_lr * hessian, query_grad).mean(0),
        "ascent_inner": through(
            eye + inner_lr * hessian,
            _mse_grad(
                query_x,
                query_y,
                wb + inner_lr * _mse_grad(support_x, support_y, wb),
            ),
        ).mean(0),
        "negated": -right.mean(0),
        "summed": right.sum(0),
        "query_grad_at_theta": through(
            eye - inner_lr * hessian, _mse_grad(query_x, query_y, wb)
        ).mean(0),
        "half_hessian": half_hessian.mean(0),
    }


def check_linear_meta_gradient(
    fn: Callable[..., Tensor], inner_lr: float = 0.1
) -> None:
    """Check a closed-form one-step MAML meta-gradient for linear regression.

    ``fn(w, support_x, support_y, query_x, query_y, inner_lr)`` gets ``w`` of
    shape ``(d,)``, ``support_x`` ``(B, n_support, d)``, ``support_y`` ``(B,
    n_support)`` (and the query set alike) and must return ∇_w of the meta-loss
    ``mean_i mean_n (query_x[i, n]·w'_i − query_y[i, n])²`` with ``w'_i = w − α
    ∇_w mean_n (support_x[i, n]·w − support_y[i, n])²``, shape ``(d,)``.
    """
    for seed in (0, 1):
        problem = _linear_problem(seed)
        variants = linear_meta_gradient_variants(*problem, inner_lr)
        value = _as_tensor(
            fn(*(t.clone() for t in problem), inner_lr), "your function"
        )
        mistakes = {
            "it equals the first-order gradient ∇L_query(w'). The factor (I − "
            "α H) is missing, "
            "where H = (2/n) support_xᵀ support_x is the Hessian of the "
            "support loss.": variants["first_order"],
            "it matches (I + α H) ∇L_query(w'). The Jacobian of w' = w − α "
            "∇L_support(w) "
            "is I − α H: the minus sign of the inner step carries "
            "over.": variants["plus_hessian"],
            "your inner step goes uphill: w' must be w − α ∇L_support(w), not "
            "w + α ∇L_support(w).": variants["ascent_inner"],
            "it has the wrong sign: return the gradient (the direction of "
            "steepest ascent), "
            "the outer optimiser subtracts it.": variants["negated"],
            "it is summed over the tasks; the meta-loss averages them, so "
            "divide by meta_batch_size.": variants["summed"],
            "the query gradient is taken at w instead of at the adapted "
            "w'_i.": variants["query_grad_at_theta"],
            "your Hessian is half the right one: the derivative of mean_n "
            "(x_n·w − y_n)² "
            "is (2/n) Σ_n x_n (x_n·w − y_n), so H = (2/n) "
            "xᵀx.": variants["half_hessian"],
        }
        _diagnose(value, variants["right"], mistakes, "your meta-gradient")
    passed(
        "your closed-form meta-gradient equals autograd's, on two random "
        "problems"
    )


# ---------------------------------------------- MAML meta-gradient of a network


def _param_list(value: Any, names: list[str], what: str) -> list[Tensor]:
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            raise CheckFailed(
                f"{what} is a dict without the parameter(s) "
                f"{missing}; key it by model.named_parameters() "
                "names"
            )
        value = [value[n] for n in names]
    if not isinstance(value, (list, tuple)):
        raise CheckFailed(
            f"{what} is a {type(value).__name__}; return a list of tensors in "
            "model.parameters() "
            "order, or a dict keyed by parameter name"
        )
    if len(value) != len(names):
        raise CheckFailed(
            f"{what} has {len(value)} tensors, the model has "
            f"{len(names)} parameters"
        )
    out = []
    for name, t in zip(names, value):
        if t is None:
            raise CheckFailed(
                f"the gradient for {name} is None: is every "
                "parameter passed to torch.autograd.grad?"
            )
        out.append(_as_tensor(t, f"the gradient for {name}"))
    return out


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def check_maml_meta_gradient(
    fn: Callable[..., Any], inner_lr: float = 0.05
) -> None:
    """Check ``fn(model, batch, inner_lr, inner_steps)`` against
    :class:`metabook.MAML`.

    ``fn`` must return ∇θ of the mean query loss after ``inner_steps`` inner
    steps, as a list of tensors in ``model.parameters()`` order (or a dict by
    name). It is called on a small float64 MLP and sinusoid tasks with one and
    with two inner steps.
    """
    from ..algorithms import MAML
    from ..models import MLP
    from ..tasks import SinusoidTasks

    for inner_steps in (1, 2):
        g = torch.Generator().manual_seed(inner_steps)
        # leave the caller's random state alone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(inner_steps)
            model = MLP(hidden=(16, 16)).to(torch.float64)
        batch = SinusoidTasks().sample(4, 5, 5, g, dtype=torch.float64)
        names = [n for n, _ in model.named_parameters()]
        params = list(model.parameters())

        def reference(
            steps: int,
            first_order: bool = False,
            model: torch.nn.Module = model,
            batch: Any = batch,
            params: list[Tensor] = params,
        ) -> Tensor:
            learner = MAML(model, inner_lr, steps, first_order=first_order)
            loss = learner.meta_loss(batch)
            return _flat(list(torch.autograd.grad(loss, params)))

        right = reference(inner_steps)
        mistakes = {
            "it equals the first-order (FOMAML) gradient. The inner gradients "
            "were treated as "
            "constants: pass create_graph=True to torch.autograd.grad in the "
            "inner loop.": reference(inner_steps, True),
            "it is summed over the tasks; MAML's meta-loss is the mean of the "
            "query losses.": right * batch.meta_batch_size,
            "it has the wrong sign: return the gradient itself, the optimiser "
            "subtracts it.": -right,
            "it equals the gradient without any inner step: adapt the weights "
            "on the support set "
            "first and evaluate the query loss with the adapted "
            "weights.": reference(0),
        }
        if inner_steps > 1:
            mistakes[
                "with inner_steps=2 it equals the one-step meta-gradient: the "
                "inner loop must run "
                "inner_steps times, each step starting from the previous "
                "step's weights."
            ] = reference(1)
        # the answers are computed first, in case fn changes the model's weights
        value = _flat(
            _param_list(
                fn(model, batch, inner_lr, inner_steps),
                names,
                "your function's result",
            )
        )
        _diagnose(
            value,
            right,
            mistakes,
            f"your meta-gradient (inner_steps={inner_steps})",
        )
    passed(
        "your meta-gradient equals metabook's MAML, with one and with two "
        "inner steps"
    )
