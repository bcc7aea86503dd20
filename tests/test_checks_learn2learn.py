"""The self-checks of "The same algorithms in learn2learn": right answers pass,
typical mistakes get a message that names them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import metabook as mb
from metabook.checks import CheckFailed
from metabook.checks import learn2learn as checks

# ------------------------------------------------------------- meta-gradient


def metabook_meta_gradient(model, batch, inner_lr, inner_steps):
    loss = mb.MAML(model, inner_lr, inner_steps).run_tasks(batch).query_loss
    return torch.autograd.grad(loss.mean(), list(model.parameters()))


def l2l_meta_gradient(l2l, first_order=False, reduce="mean", clone=True):
    """learn2learn's loop, right or with one of the usual slips."""

    def meta_gradient(model, batch, inner_lr, inner_steps):
        maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=first_order)
        total = 0.0
        for task in batch:
            learner = maml.clone() if clone else maml
            for _ in range(inner_steps):
                loss = F.mse_loss(learner(task.support_x), task.support_y)
                learner.adapt(loss)
            total = total + F.mse_loss(learner(task.query_x), task.query_y)
        if reduce == "mean":
            total = total / len(batch)
        return torch.autograd.grad(total, list(model.parameters()))

    return meta_gradient


def test_meta_gradient_passes_for_metabook(capsys):
    checks.check_l2l_meta_gradient(metabook_meta_gradient)
    assert "✔" in capsys.readouterr().out


@pytest.mark.learn2learn
def test_meta_gradient_passes_for_learn2learn(l2l, capsys):
    checks.check_l2l_meta_gradient(l2l_meta_gradient(l2l))
    assert "✔" in capsys.readouterr().out


@pytest.mark.learn2learn
@pytest.mark.parametrize(
    "options, message",
    [
        ({"reduce": "sum"}, "summed"),
        ({"first_order": True}, "first-order"),
        ({"clone": False}, "maml.clone"),
    ],
    ids=["sum", "first-order", "no-clone"],
)
def test_meta_gradient_mistakes_with_learn2learn(l2l, options, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_l2l_meta_gradient(l2l_meta_gradient(l2l, **options))


def one_step(model, batch, inner_lr, inner_steps):
    return metabook_meta_gradient(model, batch, inner_lr, 1)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (one_step, "after 1 inner step"),
        (lambda m, b, lr, k: metabook_meta_gradient(m, b, lr, 0), "before any"),
        (lambda m, b, lr, k: None, "returned None"),
        (lambda m, b, lr, k: torch.zeros(3), "one gradient tensor per"),
        (lambda m, b, lr, k: [torch.zeros(1)], "returned 1 tensors"),
        (
            lambda m, b, lr, k: list(metabook_meta_gradient(m, b, lr, k))[::-1],
            "order of model.parameters",
        ),
        (
            lambda m, b, lr, k: [
                2 * g for g in metabook_meta_gradient(m, b, lr * 2, k)
            ],
            "differs by up to",
        ),
        (lambda m, b, lr, k: 1 / 0, "ZeroDivisionError"),
    ],
    ids=[
        "one-step",
        "no-step",
        "none",
        "tensor",
        "count",
        "order",
        "other",
        "raises",
    ],
)
def test_meta_gradient_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_l2l_meta_gradient(wrong)


# ---------------------------------------------------------------- Meta-SGD


def right_inner_lrs(meta_sgd):
    names = [name for name, _ in meta_sgd.module.named_parameters()]
    return dict(zip(names, meta_sgd.lrs))


@pytest.mark.learn2learn
def test_inner_lrs_passes(l2l, capsys):
    checks.check_inner_lrs(right_inner_lrs)
    assert "✔" in capsys.readouterr().out


@pytest.mark.learn2learn
@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda m: dict(m.named_parameters()), "prefix 'module.'"),
        (lambda m: dict(m.lrs.named_parameters()), "step sizes' own names"),
        (lambda m: list(m.lrs), "return a dict"),
        (
            lambda m: {k: v.detach() for k, v in right_inner_lrs(m).items()},
            "detached",
        ),
        (
            lambda m: dict(
                zip(
                    [n for n, _ in m.module.named_parameters()],
                    [m.lrs[1], m.lrs[0], *list(m.lrs)[2:]],
                )
            ),
            "shape|other step sizes",
        ),
        (
            lambda m: {
                k: v * 1.0 for k, v in list(right_inner_lrs(m).items())[1:]
            },
            "missing",
        ),
        (
            lambda m: {
                k: v.flip(0) if v.dim() else v
                for k, v in right_inner_lrs(m).items()
            },
            "other step sizes",
        ),
    ],
    ids=[
        "wrapper-names",
        "lrs-names",
        "list",
        "detached",
        "swapped",
        "missing",
        "flipped",
    ],
)
def test_inner_lrs_mistakes_are_named(l2l, wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_inner_lrs(wrong)


# ------------------------------------------------------ functional adaptation


def right_adapted_predictions(model, task, inner_lr):
    params = dict(model.named_parameters())
    loss = F.mse_loss(
        functional_call(model, params, (task.support_x,)), task.support_y
    )
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    adapted = {k: p - inner_lr * g for (k, p), g in zip(params.items(), grads)}
    return functional_call(model, adapted, (task.query_x,))


def with_metabook_adapt(model, task, inner_lr):
    params = dict(model.named_parameters())
    adapted, _ = mb.adapt(
        model, params, task.support_x, task.support_y, F.mse_loss, inner_lr, 1
    )
    return functional_call(model, adapted, (task.query_x,))


@pytest.mark.parametrize("fn", [right_adapted_predictions, with_metabook_adapt])
def test_functional_adapt_passes(fn, capsys):
    checks.check_functional_adapt(fn)
    assert "✔" in capsys.readouterr().out


def first_order(model, task, inner_lr):
    params = dict(model.named_parameters())
    loss = F.mse_loss(model(task.support_x), task.support_y)
    grads = torch.autograd.grad(loss, list(params.values()))
    adapted = {k: p - inner_lr * g for (k, p), g in zip(params.items(), grads)}
    return functional_call(model, adapted, (task.query_x,))


def uphill(model, task, inner_lr):
    return right_adapted_predictions(model, task, -inner_lr)


def in_place(model, task, inner_lr):
    loss = F.mse_loss(model(task.support_x), task.support_y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p -= inner_lr * g
    return model(task.query_x)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda m, t, lr: m(t.query_x), "before"),
        (uphill, "uphill"),
        (first_order, "create_graph=True"),
        (
            lambda m, t, lr: right_adapted_predictions(m, t, lr).detach(),
            "no graph",
        ),
        (in_place, "own parameters changed"),
        (lambda m, t, lr: right_adapted_predictions(m, t, lr)[:2], "shape"),
        (lambda m, t, lr: right_adapted_predictions(m, t, 2 * lr), "check the"),
        (lambda m, t, lr: [1.0], "a tensor"),
    ],
    ids=[
        "stale",
        "uphill",
        "first-order",
        "detached",
        "in-place",
        "shape",
        "other",
        "list",
    ],
)
def test_functional_adapt_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_functional_adapt(wrong)
