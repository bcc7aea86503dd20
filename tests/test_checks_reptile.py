"""The Reptile chapter's self-checks pass right answers and name the usual
mistakes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from metabook.checks import CheckFailed
from metabook.checks import reptile as checks

# ------------------------------------------------------------------ Reptile


def reptile_step(
    model,
    tasks,
    inner_lr,
    inner_steps,
    epsilon,
    *,
    sign=1.0,
    reduce="mean",
    use_eps=True,
    chain=False,
    zero_grad=True,
    steps=None,
    on_query=False,
    last_only=False,
):
    """A correct Reptile step with switches that reproduce typical mistakes."""
    theta = [p.detach().clone() for p in model.parameters()]
    deltas = [torch.zeros_like(p) for p in theta]
    start = model
    for task in tasks:
        task_model = copy.deepcopy(start)
        opt = torch.optim.SGD(task_model.parameters(), lr=inner_lr)
        x, y = (
            (task.query_x, task.query_y)
            if on_query
            else (task.support_x, task.support_y)
        )
        for _ in range(inner_steps if steps is None else steps):
            if zero_grad:
                opt.zero_grad()
            F.mse_loss(task_model(x), y).backward()
            opt.step()
        for d, p, t in zip(deltas, task_model.parameters(), theta):
            d += p.detach() - t if not last_only else 0.0
        if last_only:
            deltas = [
                p.detach() - t for p, t in zip(task_model.parameters(), theta)
            ]
        if chain:
            start = task_model
    scale = 1.0 if last_only or reduce == "sum" else 1.0 / len(tasks)
    eps = epsilon if use_eps else 1.0
    with torch.no_grad():
        for p, t, d in zip(model.parameters(), theta, deltas):
            p.copy_(t + sign * eps * scale * d)


def functional_reptile_step(model, tasks, inner_lr, inner_steps, epsilon):
    """The same step written with torch.func and autograd.grad, float32
    arithmetic inside."""
    theta = {k: v.detach() for k, v in model.named_parameters()}
    # float32 on purpose
    total = {k: torch.zeros(v.shape) for k, v in theta.items()}
    for task in tasks:
        w = {k: v.clone().requires_grad_() for k, v in theta.items()}
        for _ in range(inner_steps):
            loss = F.mse_loss(
                torch.func.functional_call(model, w, (task.support_x,)),
                task.support_y,
            )
            grads = torch.autograd.grad(loss, list(w.values()))
            w = {
                k: (v - inner_lr * g).detach().requires_grad_()
                for (k, v), g in zip(w.items(), grads)
            }
        for k in total:
            total[k] += (w[k].detach() - theta[k]).float() / len(tasks)
    model.load_state_dict(
        {k: theta[k] + epsilon * total[k].double() for k in theta}
    )


def test_reptile_right_answers_pass(capsys):
    checks.check_reptile_step(reptile_step)
    checks.check_reptile_step(functional_reptile_step)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sign": -1.0}, "wrong way"),
        ({"reduce": "sum"}, "summed over the 4 tasks"),
        ({"use_eps": False}, "ε is not applied"),
        ({"chain": True}, "the tasks chain"),
        ({"chain": True, "last_only": True}, "chain and only the last task"),
        ({"last_only": True}, "only the last task's"),
        ({"zero_grad": False}, "inner gradients accumulate"),
        ({"steps": 1}, "one inner step"),
        ({"on_query": True}, "query set"),
    ],
)
def test_reptile_mistakes_are_named(kwargs, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_reptile_step(lambda *a: reptile_step(*a, **kwargs))


def test_reptile_unchanged_model_and_unknown_mistake():
    with pytest.raises(CheckFailed, match="did not change"):
        checks.check_reptile_step(lambda model, *a: {"new": 1})

    def chains_halfway(model, tasks, inner_lr, inner_steps, epsilon):
        # the first two tasks chain, the others do not: order-dependent,
        # matches no listed mistake
        reptile_step(
            model, tasks[:2], inner_lr, inner_steps, epsilon / 2, chain=True
        )
        reptile_step(model, tasks[2:], inner_lr, inner_steps, epsilon / 2)

    with pytest.raises(CheckFailed, match="depends on the order of the tasks"):
        checks.check_reptile_step(chains_halfway)

    def slightly_off(model, tasks, inner_lr, inner_steps, epsilon):
        reptile_step(model, tasks, inner_lr * 1.5, inner_steps, epsilon)

    with pytest.raises(CheckFailed, match="matches none"):
        checks.check_reptile_step(slightly_off)


# ------------------------------------------------------------------- FOMAML


def sketch_meta_gradient(
    model,
    batch,
    inner_lr,
    inner_steps,
    *,
    zero_before_query=True,
    reduce="mean",
    adapt=True,
):
    """The seed article's copy-and-backward loop, with switches for its
    mistakes."""
    total = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(batch.meta_batch_size):
        task = batch[i]
        task_model = copy.deepcopy(model)
        for _ in range(inner_steps if adapt else 0):
            loss = F.mse_loss(task_model(task.support_x), task.support_y)
            task_model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in task_model.parameters():
                    p -= inner_lr * p.grad
        if zero_before_query:
            task_model.zero_grad()
        F.mse_loss(task_model(task.query_x), task.query_y).backward()
        for t, p in zip(total, task_model.parameters()):
            t += p.grad
    scale = 1.0 / batch.meta_batch_size if reduce == "mean" else 1.0
    return [t * scale for t in total]


def second_order(model, batch, inner_lr, inner_steps):
    import metabook as mb

    loss = mb.MAML(model, inner_lr, inner_steps).meta_loss(batch)
    return list(torch.autograd.grad(loss, list(model.parameters())))


def test_fomaml_right_answer_passes(capsys):
    checks.check_fomaml_meta_gradient(sketch_meta_gradient)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, message",
    [
        (second_order, "second-order MAML"),
        (
            lambda *a: sketch_meta_gradient(*a, reduce="sum"),
            "summed over the tasks",
        ),
        (
            lambda *a: sketch_meta_gradient(*a, zero_before_query=False),
            "last inner step's support gradient as well",
        ),
        (
            lambda *a: sketch_meta_gradient(
                *a, zero_before_query=False, reduce="sum"
            ),
            "and is summed",
        ),
        (
            lambda *a: sketch_meta_gradient(*a, adapt=False),
            "without adaptation",
        ),
        (lambda *a: [-g for g in sketch_meta_gradient(*a)], "wrong sign"),
    ],
)
def test_fomaml_mistakes_are_named(fn, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_fomaml_meta_gradient(fn)


def test_fomaml_shape_and_in_place_mistakes():
    def changes_model(model, batch, inner_lr, inner_steps):
        with torch.no_grad():
            next(model.parameters()).add_(1.0)
        return sketch_meta_gradient(model, batch, inner_lr, inner_steps)

    with pytest.raises(CheckFailed, match="changed the model's weights"):
        checks.check_fomaml_meta_gradient(changes_model)
    with pytest.raises(CheckFailed, match="is NoneType"):
        checks.check_fomaml_meta_gradient(
            lambda model, *a: [None for _ in model.parameters()]
        )
    with pytest.raises(CheckFailed, match="one gradient tensor per parameter"):
        checks.check_fomaml_meta_gradient(lambda *a: torch.zeros(3))
