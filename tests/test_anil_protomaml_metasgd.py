"""ANIL, Proto-MAML and Meta-SGD against per-task references and learn2learn."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import metabook as mb
from metabook.algorithms import (
    ANIL,
    MetaSGD,
    ProtoMAML,
    prototype_head,
    prototypes,
    squared_distances,
    step_sizes,
)

D_IN, D, N_WAY = 6, 5, 3


def episodes(seed: int, tasks: int = 3, k: int = 2, q: int = 4) -> mb.Episode:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(tasks, N_WAY, D_IN, generator=g, dtype=torch.float64)

    def draw(n):
        y = torch.arange(N_WAY).repeat_interleave(n).repeat(tasks, 1)
        x = centres.gather(1, y[..., None].expand(-1, -1, D_IN))
        noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
        return x + 0.5 * noise, y

    sx, sy = draw(k)
    qx, qy = draw(q)
    return mb.Episode(sx, sy, qx, qy, batched=True)


def make_body(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(D_IN, D), nn.Tanh()).double()


def make_head(seed: int = 1) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(D, N_WAY).double()


def head_loop(zs, ys, w, b, alpha_w, alpha_b, steps, first_order):
    for _ in range(steps):
        loss = F.cross_entropy(zs @ w.T + b, ys)
        gw, gb = torch.autograd.grad(loss, (w, b), create_graph=not first_order)
        w, b = w - alpha_w * gw, b - alpha_b * gb
    return w, b


def reference_loss(body, batch, start, alpha, steps, first_order=False):
    """The outer loss, task by task, with plain autograd."""
    total = 0.0
    for i in range(batch.meta_batch_size):
        zs, zq = body(batch.support_x[i]), body(batch.query_x[i])
        w, b = start(zs, batch.support_y[i])
        w, b = head_loop(
            zs, batch.support_y[i], w, b, *alpha, steps, first_order
        )
        total = total + F.cross_entropy(zq @ w.T + b, batch.query_y[i])
    return total / batch.meta_batch_size


def grads(tensors, loss):
    return torch.autograd.grad(loss, list(tensors), allow_unused=True)


def close(a, b):
    for x, y in zip(a, b):
        if x is None or y is None:
            assert x is None and y is None
        else:
            torch.testing.assert_close(x, y, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------- ANIL
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 3])
def test_anil_equals_per_task_reference(first_order, steps):
    body, head, batch = make_body(), make_head(), episodes(0)
    anil = ANIL(body, head, 0.5, steps, first_order=first_order)
    tensors = list(anil.parameters())
    ours = grads(tensors, anil.meta_loss(batch))

    def start(zs, ys):
        return head.weight, head.bias

    ref = reference_loss(body, batch, start, (0.5, 0.5), steps, first_order)
    close(ours, grads(tensors, ref))


def test_anil_backward_fills_body_and_head():
    anil = ANIL(make_body(), make_head(), 0.5, 2)
    out = anil.backward(episodes(1))
    assert all(p.grad is not None for p in anil.model.parameters())
    assert out.metrics["accuracy"].shape == (3,)
    assert set(anil.run_tasks(episodes(1)).adapted) == {
        "head.weight",
        "head.bias",
    }


def test_anil_frozen_body_is_not_trained():
    body = make_body().requires_grad_(False)
    head = make_head()
    anil = ANIL(body, head, 0.5, 2)
    anil.backward(episodes(2))
    assert all(p.grad is None for p in body.parameters())

    def start(zs, ys):
        return head.weight, head.bias

    ref = grads(
        [head.weight, head.bias],
        reference_loss(body, episodes(2), start, (0.5, 0.5), 2),
    )
    close([head.weight.grad, head.bias.grad], ref)


def test_anil_with_learned_step_sizes_is_metasgd_on_the_head():
    body, head, batch = make_body(), make_head(), episodes(3)
    lrs = step_sizes(head, 0.3)
    with torch.no_grad():
        for a in lrs.values():
            a.mul_(torch.rand_like(a) + 0.5)
    anil = ANIL(body, head, lrs, 2)
    tensors = list(anil.parameters())
    assert len(tensors) == 2 + 2 + 2  # body, head, step sizes

    def start(zs, ys):
        return head.weight, head.bias

    ref = reference_loss(body, batch, start, (lrs["weight"], lrs["bias"]), 2)
    close(grads(tensors, anil.meta_loss(batch)), grads(tensors, ref))


def test_anil_adapt_and_predict_match_run_tasks():
    anil = ANIL(make_body(), make_head(), 0.5, 3)
    batch = episodes(4)
    params = anil.adapt(batch[1])
    out = anil.run_tasks(batch)
    torch.testing.assert_close(
        anil.predict(params, batch.query_x[1]), out.query_output[1].detach()
    )


@pytest.mark.learn2learn
@pytest.mark.parametrize("first_order", [False, True])
def test_anil_equals_learn2learn(l2l, first_order):
    """learn2learn's ANIL examples: features from the body, MAML on the head."""
    body, head, batch = make_body(), make_head(), episodes(5)
    anil = ANIL(body, head, 0.5, 2, first_order=first_order)
    tensors = list(anil.parameters())
    ours = grads(tensors, anil.meta_loss(batch))
    maml = l2l.algorithms.MAML(head, lr=0.5, first_order=first_order)
    loss = 0.0
    for i in range(batch.meta_batch_size):
        learner = maml.clone()
        zs, zq = body(batch.support_x[i]), body(batch.query_x[i])
        for _ in range(2):
            learner.adapt(F.cross_entropy(learner(zs), batch.support_y[i]))
        loss = loss + F.cross_entropy(learner(zq), batch.query_y[i])
    close(ours, grads(tensors, loss / batch.meta_batch_size))


# -------------------------------------------------------------- Proto-MAML
def test_prototype_head_predicts_as_protonet():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 6, D, generator=g, dtype=torch.float64)
    y = torch.arange(N_WAY).repeat_interleave(2).repeat(2, 1)
    q = torch.randn(2, 7, D, generator=g, dtype=torch.float64)
    head = prototype_head(z, y, N_WAY)
    logits = q @ head["weight"].transpose(1, 2) + head["bias"][:, None]
    proto = -squared_distances(q, prototypes(z, y, N_WAY))
    torch.testing.assert_close(
        logits - proto, (logits - proto)[..., :1].expand_as(logits)
    )


def test_protomaml_without_steps_is_protonet():
    body, batch = make_body(), episodes(6)
    pm = ProtoMAML(body, 0.5, inner_steps=0)
    net = mb.ProtoNet(body)
    ours = pm.task_metrics(batch)["accuracy"]
    torch.testing.assert_close(ours, net.task_metrics(batch)["accuracy"])


@pytest.mark.parametrize("first_order", [False, True])
def test_protomaml_equals_per_task_reference(first_order):
    body, batch = make_body(), episodes(7)
    pm = ProtoMAML(body, 0.5, inner_steps=2, first_order=first_order)
    tensors = list(pm.parameters())

    def start(zs, ys):
        c = prototypes(zs, ys, N_WAY)
        return 2 * c, -c.pow(2).sum(-1)

    ref = reference_loss(body, batch, start, (0.5, 0.5), 2, first_order)
    close(grads(tensors, pm.meta_loss(batch)), grads(tensors, ref))


def test_protomaml_adapts_under_no_grad_with_a_frozen_body():
    body = make_body().requires_grad_(False)
    pm = ProtoMAML(body, 0.5, inner_steps=3)
    with torch.no_grad():
        out = pm.run_tasks(episodes(8))
    losses = out.support_losses
    assert losses.shape == (3, 3) and (losses[:, -1] < losses[:, 0]).all()


# ----------------------------------------------------------------- Meta-SGD
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(D_IN, 8), nn.Tanh(), nn.Linear(8, N_WAY)
    ).double()


def reference_metasgd(model, lrs, batch, steps, first_order=False):
    names = [n for n, _ in model.named_parameters()]
    total = 0.0
    for i in range(batch.meta_batch_size):
        fast = dict(model.named_parameters())
        for _ in range(steps):
            out = torch.func.functional_call(model, fast, (batch.support_x[i],))
            loss = F.cross_entropy(out, batch.support_y[i])
            g = torch.autograd.grad(
                loss, list(fast.values()), create_graph=not first_order
            )
            fast = {n: fast[n] - lrs[n] * gn for n, gn in zip(names, g)}
        out = torch.func.functional_call(model, fast, (batch.query_x[i],))
        total = total + F.cross_entropy(out, batch.query_y[i])
    return total / batch.meta_batch_size


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 2])
def test_metasgd_equals_per_task_reference(first_order, steps):
    model, batch = mlp(), episodes(9)
    learner = MetaSGD(model, 0.2, steps, first_order=first_order)
    with torch.no_grad():
        for a in learner.inner_lr.values():
            a.mul_(torch.rand_like(a) + 0.5)
    tensors = list(learner.parameters())
    ref = reference_metasgd(model, learner.inner_lr, batch, steps, first_order)
    close(grads(tensors, learner.meta_loss(batch)), grads(tensors, ref))


def test_metasgd_step_sizes_follow_the_trainable_parameters():
    model = mlp()
    model[0].requires_grad_(False)
    learner = MetaSGD(model, 0.2)
    assert set(learner.inner_lr) == {"2.weight", "2.bias"}
    assert all(torch.all(a == 0.2) for a in learner.inner_lr.values())
    assert len(list(learner.parameters())) == 4 + 2
    assert "per parameter" in repr(learner)


@pytest.mark.learn2learn
@pytest.mark.parametrize("first_order", [False, True])
def test_metasgd_equals_learn2learn(l2l, first_order):
    model, batch = mlp(), episodes(10)
    ours = MetaSGD(model, 0.2, 1, first_order=first_order)
    theirs = l2l.algorithms.MetaSGD(model, lr=0.2, first_order=first_order)
    with torch.no_grad():
        for a, b in zip(ours.inner_lr.values(), theirs.lrs):
            a.mul_(torch.rand_like(a) + 0.5)
            b.copy_(a)
    mine = grads(list(ours.parameters()), ours.meta_loss(batch))
    loss = 0.0
    for i in range(batch.meta_batch_size):
        learner = theirs.clone()
        learner.adapt(
            F.cross_entropy(learner(batch.support_x[i]), batch.support_y[i])
        )
        loss = loss + F.cross_entropy(
            learner(batch.query_x[i]), batch.query_y[i]
        )
    ref = grads(
        list(model.parameters()) + list(theirs.lrs),
        loss / batch.meta_batch_size,
    )
    close(mine, ref)


# ------------------------------------------------------------------- errors
def test_errors_name_the_bad_value():
    with pytest.raises(mb.ConfigError, match="body must be an nn.Module"):
        ANIL("body", make_head(), 0.5)
    with pytest.raises(mb.ConfigError, match="inner_lr"):
        ANIL(make_body(), make_head(), -1.0)
    with pytest.raises(mb.ConfigError, match="inner_lr=0"):
        MetaSGD(mlp(), 0)
    with pytest.raises(mb.ConfigError, match="model must be an nn.Module"):
        MetaSGD([1, 2], 0.1)
    with pytest.raises(mb.ConfigError, match="misses"):
        ANIL(make_body(), make_head(), {"weight": torch.ones(N_WAY, D)})
    with pytest.raises(mb.EpisodeError, match="batched"):
        ANIL(make_body(), make_head(), 0.5).run_tasks(episodes(0)[0])
    with pytest.raises(mb.EpisodeError, match="one task"):
        ANIL(make_body(), make_head(), 0.5).adapt(episodes(0))


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: mb.MAML("net", 0.1), "model"),
        (lambda: mb.Reptile(None, 0.1), "model"),
        (lambda: MetaSGD(3, 0.1), "model"),
        (lambda: mb.ProtoNet([mlp()]), "encoder"),
        (lambda: ANIL(make_body(), "head", 0.5), "head"),
        (lambda: mb.FineTuneBaseline(None, 5), "encoder"),
        (lambda: mb.models.InContextClassifier("encoder", 16), "encoder"),
    ],
)
def test_every_learner_names_an_argument_that_is_not_a_module(build, name):
    # one check (metabook.errors.check_module) behind every constructor
    with pytest.raises(mb.ConfigError, match=f"^{name} must be an nn.Module"):
        build()
