"""The MAML chapter's self-checks pass right answers and name the usual
mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import metabook as mb
from metabook.checks import CheckFailed
from metabook.checks import maml as checks

# --------------------------------------------------------- linear closed form


def closed_form(
    w,
    sx,
    sy,
    qx,
    qy,
    inner_lr,
    *,
    hessian_sign=-1.0,
    reduce="mean",
    grad_at="adapted",
):
    """A correct closed-form answer, with switches that reproduce typical
    mistakes."""
    n, m, dim = sx.shape[1], qx.shape[1], w.shape[0]
    grads = []
    for i in range(sx.shape[0]):
        gs = 2 / n * sx[i].T @ (sx[i] @ w - sy[i])
        adapted = w - inner_lr * gs
        at = adapted if grad_at == "adapted" else w
        gq = 2 / m * qx[i].T @ (qx[i] @ at - qy[i])
        hessian = 2 / n * sx[i].T @ sx[i]
        grads.append(
            (torch.eye(dim, dtype=w.dtype) + hessian_sign * inner_lr * hessian)
            @ gq
        )
    stacked = torch.stack(grads)
    return stacked.mean(0) if reduce == "mean" else stacked.sum(0)


def autograd_linear(w, sx, sy, qx, qy, inner_lr):
    w = w.clone().requires_grad_()
    losses = []
    for i in range(sx.shape[0]):
        support = ((sx[i] @ w - sy[i]) ** 2).mean()
        (g,) = torch.autograd.grad(support, w, create_graph=True)
        adapted = w - inner_lr * g
        losses.append(((qx[i] @ adapted - qy[i]) ** 2).mean())
    (grad,) = torch.autograd.grad(torch.stack(losses).mean(), w)
    return grad


def test_linear_right_answers_pass(capsys):
    checks.check_linear_meta_gradient(closed_form)
    checks.check_linear_meta_gradient(autograd_linear)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hessian_sign": 0.0}, "first-order"),
        ({"hessian_sign": 1.0}, r"\(I \+ α H\)"),
        ({"reduce": "sum"}, "summed over the tasks"),
        ({"grad_at": "theta"}, "at w instead of at the adapted"),
        ({"hessian_sign": -0.5}, "half the right one"),
    ],
)
def test_linear_mistakes_are_named(kwargs, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_linear_meta_gradient(lambda *a: closed_form(*a, **kwargs))


def test_linear_sign_and_shape_mistakes():
    with pytest.raises(CheckFailed, match="wrong sign"):
        checks.check_linear_meta_gradient(lambda *a: -closed_form(*a))
    with pytest.raises(CheckFailed, match="shape"):
        checks.check_linear_meta_gradient(
            lambda *a: closed_form(*a).unsqueeze(0)
        )
    with pytest.raises(CheckFailed, match="torch.Tensor"):
        checks.check_linear_meta_gradient(lambda *a: closed_form(*a).tolist())
    with pytest.raises(CheckFailed, match="none of the usual mistakes"):
        checks.check_linear_meta_gradient(lambda *a: closed_form(*a) + 1.0)


# ------------------------------------------------------- network meta-gradient


def meta_gradient(
    model,
    batch,
    inner_lr,
    inner_steps,
    *,
    create_graph=True,
    reduce="mean",
    steps=None,
):
    params = dict(model.named_parameters())
    losses = []
    for i in range(batch.meta_batch_size):
        fast = params
        for _ in range(inner_steps if steps is None else steps):
            loss = F.mse_loss(
                functional_call(model, fast, (batch.support_x[i],)),
                batch.support_y[i],
            )
            grads = torch.autograd.grad(
                loss, list(fast.values()), create_graph=create_graph
            )
            fast = {
                k: w - inner_lr * g for (k, w), g in zip(fast.items(), grads)
            }
        losses.append(
            F.mse_loss(
                functional_call(model, fast, (batch.query_x[i],)),
                batch.query_y[i],
            )
        )
    total = torch.stack(losses)
    total = total.mean() if reduce == "mean" else total.sum()
    return list(torch.autograd.grad(total, list(params.values())))


def test_network_right_answer_passes(capsys):
    checks.check_maml_meta_gradient(meta_gradient)
    checks.check_maml_meta_gradient(
        lambda m, b, a, s: dict(
            zip([n for n, _ in m.named_parameters()], meta_gradient(m, b, a, s))
        )
    )
    assert "✔" in capsys.readouterr().out


def test_network_matches_metabook_directly():
    def via_metabook(model, batch, inner_lr, inner_steps):
        loss = mb.MAML(model, inner_lr, inner_steps).meta_loss(batch)
        return torch.autograd.grad(loss, list(model.parameters()))

    checks.check_maml_meta_gradient(via_metabook)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"create_graph": False}, "create_graph=True"),
        ({"reduce": "sum"}, "summed over the tasks"),
        ({"steps": 0}, "without any inner step"),
        ({"steps": 1}, "one-step meta-gradient"),
    ],
)
def test_network_mistakes_are_named(kwargs, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_maml_meta_gradient(
            lambda m, b, a, s: meta_gradient(m, b, a, s, **kwargs)
        )


def test_network_result_type_errors():
    with pytest.raises(CheckFailed, match="list of tensors"):
        checks.check_maml_meta_gradient(
            lambda m, b, a, s: meta_gradient(m, b, a, s)[0]
        )
    with pytest.raises(CheckFailed, match="has 5 tensors"):
        checks.check_maml_meta_gradient(
            lambda m, b, a, s: meta_gradient(m, b, a, s)[:5]
        )
    with pytest.raises(CheckFailed, match="wrong sign"):
        checks.check_maml_meta_gradient(
            lambda m, b, a, s: [-g for g in meta_gradient(m, b, a, s)]
        )


def test_check_leaves_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_maml_meta_gradient(meta_gradient)
    torch.testing.assert_close(torch.rand(3), expected)
