"""MAML's meta-gradient is right: against a per-task autograd loop, finite
differences and learn2learn."""

from __future__ import annotations

import pytest
import torch

import metabook as mb

from . import reference


def make(
    seed: int,
    meta_batch_size: int,
    dtype=torch.float64,
    device="cpu",
    hidden=(40, 40),
):
    g = mb.set_seed(seed)
    model = mb.MLP(hidden=hidden).to(device=device, dtype=dtype)
    batch = (
        mb.SinusoidTasks()
        .sample(meta_batch_size, 10, 10, g, dtype=dtype)
        .to(device)
    )
    return model, batch


def metabook_grad(model, batch, inner_lr, inner_steps, first_order=False):
    maml = mb.MAML(
        model,
        inner_lr=inner_lr,
        inner_steps=inner_steps,
        first_order=first_order,
    )
    return torch.autograd.grad(maml.meta_loss(batch), list(model.parameters()))


def assert_close(a, b, rtol=1e-9, atol=1e-11):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("inner_steps", [1, 2, 5])
@pytest.mark.parametrize("meta_batch_size", [1, 4, 25])
def test_second_order_equals_per_task_autograd_loop(
    seed, inner_steps, meta_batch_size
):
    model, batch = make(seed, meta_batch_size)
    ours = metabook_grad(model, batch, 0.01, inner_steps)
    ref = reference.maml_meta_gradient(model, batch, 0.01, inner_steps)
    assert_close(ours, ref)


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradient_on_device(device, first_order):
    """Same numbers on every device (float64 on CPU as the reference)."""
    model, batch = make(3, 8, dtype=torch.float32, device=device)
    ours = metabook_grad(model, batch, 0.01, 2, first_order)
    ref = reference.maml_meta_gradient(model, batch, 0.01, 2, first_order)
    assert_close(ours, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_second_order_matches_finite_differences(seed, inner_steps):
    """Directional derivatives of the meta-loss by central differences in
    float64."""
    model, batch = make(seed, 5, hidden=(16, 16))
    maml = mb.MAML(model, inner_lr=0.05, inner_steps=inner_steps)
    params = list(model.parameters())
    grads = torch.autograd.grad(maml.meta_loss(batch), params)
    g = torch.Generator().manual_seed(seed)
    eps = 1e-6
    for _ in range(5):
        direction = [
            torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params
        ]
        analytic = sum((gr * d).sum() for gr, d in zip(grads, direction)).item()
        with torch.no_grad():

            def loss_at(sign, direction=direction):
                shifted = {
                    n: p + sign * eps * d
                    for (n, p), d in zip(model.named_parameters(), direction)
                }
                return (
                    maml.run_tasks(batch, params=shifted)
                    .query_loss.mean()
                    .item()
                )

            numeric = (loss_at(1) - loss_at(-1)) / (2 * eps)
        assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric)), (
            analytic,
            numeric,
        )


def test_first_order_is_query_gradient_at_adapted_weights():
    model, batch = make(4, 6)
    ours = metabook_grad(model, batch, 0.02, 3, first_order=True)
    weights = list(model.parameters())
    expected = [torch.zeros_like(w) for w in weights]
    for i in range(batch.meta_batch_size):
        fast = reference.adapt_loop(
            weights,
            batch.support_x[i],
            batch.support_y[i],
            0.02,
            3,
            first_order=True,
        )
        fast = [w.detach().requires_grad_() for w in fast]
        loss = torch.nn.functional.mse_loss(
            reference.mlp_forward(fast, batch.query_x[i]), batch.query_y[i]
        )
        for e, gr in zip(expected, torch.autograd.grad(loss, fast)):
            e += gr / batch.meta_batch_size
    assert_close(ours, expected)


def test_first_order_differs_from_second_order():
    model, batch = make(5, 10)
    first = metabook_grad(model, batch, 0.01, 1, first_order=True)
    second = metabook_grad(model, batch, 0.01, 1, first_order=False)
    diff = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(first, second)))
    norm = torch.sqrt(sum((b**2).sum() for b in second))
    assert diff / norm > 1e-3, (
        "dropping the Hessian term must change the meta-gradient"
    )
    assert diff / norm < 0.5, (
        "with a small inner_lr the two should still be related"
    )


def test_zero_inner_steps_is_plain_gradient():
    model, batch = make(6, 3)
    ours = metabook_grad(model, batch, 0.01, 0)
    ref = reference.maml_meta_gradient(model, batch, 0.01, 0)
    assert_close(ours, ref)


def test_backward_fills_grad_and_reports_per_task_loss():
    model, batch = make(7, 4)
    maml = mb.MAML(model, inner_lr=0.01)
    out = maml.backward(batch)
    ref = reference.maml_meta_gradient(model, batch, 0.01, 1)
    assert_close([p.grad for p in model.parameters()], ref)
    assert out.metrics["loss"].shape == (4,)
    torch.testing.assert_close(out.loss, out.metrics["loss"].mean())


@pytest.mark.learn2learn
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_equals_learn2learn(l2l, first_order, inner_steps):
    model, batch = make(8, 5)
    ours = metabook_grad(model, batch, 0.01, inner_steps, first_order)

    theirs = l2l.algorithms.MAML(model, lr=0.01, first_order=first_order)
    loss = 0.0
    for i in range(batch.meta_batch_size):
        learner = theirs.clone()
        for _ in range(inner_steps):
            learner.adapt(
                torch.nn.functional.mse_loss(
                    learner(batch.support_x[i]), batch.support_y[i]
                )
            )
        loss = loss + torch.nn.functional.mse_loss(
            learner(batch.query_x[i]), batch.query_y[i]
        )
    l2l_grads = torch.autograd.grad(
        loss / batch.meta_batch_size, list(model.parameters())
    )
    assert_close(ours, l2l_grads)


def test_generic_vmap_path_equals_reference():
    """A model without ``forward_batched`` goes through vmap(functional_call):
    same meta-gradient."""
    g = mb.set_seed(9)
    model = torch.nn.Sequential(
        torch.nn.Linear(1, 40),
        torch.nn.ReLU(),
        torch.nn.Linear(40, 40),
        torch.nn.ReLU(),
        torch.nn.Linear(40, 1),
    ).double()
    batch = mb.SinusoidTasks().sample(6, 10, 10, g, dtype=torch.float64)
    for first_order in (False, True):
        ours = metabook_grad(model, batch, 0.01, 2, first_order)
        ref = reference.maml_meta_gradient(model, batch, 0.01, 2, first_order)
        assert_close(ours, ref)


def test_mlp_forward_batched_equals_vmap():
    from torch.func import functional_call, vmap

    model = mb.MLP(in_dim=3, out_dim=2, hidden=(8, 5))
    params = {k: torch.randn(4, *p.shape) for k, p in model.named_parameters()}
    x = torch.randn(4, 6, 7, 3)  # extra leading example dimensions are kept
    expected = vmap(lambda p, xi: functional_call(model, p, (xi,)))(params, x)
    torch.testing.assert_close(model.forward_batched(params, x), expected)
