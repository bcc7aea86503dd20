"""Reptile's update and ProtoNet's logits, checked against their definitions."""

from __future__ import annotations

import pytest
import torch

import metabook as mb

from . import reference


@pytest.mark.parametrize("inner_steps", [1, 5])
@pytest.mark.parametrize("epsilon", [1.0, 0.1])
def test_reptile_update(device, inner_steps, epsilon):
    g = mb.set_seed(0)
    model = mb.MLP().to(device=device, dtype=torch.float64)
    batch = (
        mb.SinusoidTasks().sample(6, 10, 10, g, dtype=torch.float64).to(device)
    )
    before = [p.detach().clone().requires_grad_() for p in model.parameters()]
    adapted = [
        [
            w.detach()
            for w in reference.adapt_loop(
                before,
                batch.support_x[i],
                batch.support_y[i],
                0.02,
                inner_steps,
                True,
            )
        ]
        for i in range(batch.meta_batch_size)
    ]
    before = [w.detach() for w in before]
    expected = [
        theta + epsilon * torch.stack([a[j] - theta for a in adapted]).mean(0)
        for j, theta in enumerate(before)
    ]
    reptile = mb.Reptile(model, inner_lr=0.02, inner_steps=inner_steps)
    opt = torch.optim.SGD(model.parameters(), lr=epsilon)
    opt.zero_grad()
    reptile.backward(batch)
    opt.step()
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-10, atol=1e-12)


def episode_2d(seed: int, n_way=4, k_shot=3, n_query=5) -> mb.Episode:
    g = torch.Generator().manual_seed(seed)
    x = (
        torch.randn(200, 2, generator=g, dtype=torch.float64)
        + 3 * torch.arange(10).repeat(20)[:, None] % 7
    )
    y = torch.arange(10).repeat(20)
    return mb.EpisodeSampler(
        x, y, n_way, k_shot, n_query, generator=g
    ).sample_batch(3)


def test_protonet_logits_are_negative_squared_distances_to_class_means():
    batch = episode_2d(0)
    encoder = torch.nn.Linear(2, 5).double()
    logits = mb.ProtoNet(encoder).logits(batch)
    for t in range(batch.meta_batch_size):
        emb_s, emb_q = encoder(batch.support_x[t]), encoder(batch.query_x[t])
        means = torch.stack(
            [emb_s[batch.support_y[t] == k].mean(0) for k in range(4)]
        )
        expected = -(torch.cdist(emb_q, means) ** 2)
        torch.testing.assert_close(logits[t], expected, rtol=1e-9, atol=1e-9)


def test_protonet_single_episode_matches_batched():
    batch = episode_2d(1)
    net = mb.ProtoNet(torch.nn.Linear(2, 5).double())
    torch.testing.assert_close(net.logits(batch[1]), net.logits(batch)[1])


def test_protonet_backward_and_accuracy(device):
    batch = episode_2d(2).to(device)
    net = mb.ProtoNet(torch.nn.Linear(2, 5).double().to(device))
    out = net.backward(batch)
    assert all(p.grad is not None for p in net.model.parameters())
    assert out.metrics["accuracy"].shape == (3,)
    assert (
        (out.metrics["accuracy"] >= 0) & (out.metrics["accuracy"] <= 1)
    ).all()
