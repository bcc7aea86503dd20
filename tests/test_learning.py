"""Meta-learning learns: short runs beat their baselines."""

from __future__ import annotations

import torch

import metabook as mb


def test_maml_beats_joint_training_after_one_step():
    """After a short meta-training run on sinusoids, MAML adapted with one step
    is better than the jointly trained baseline adapted with the same step."""
    tasks = mb.SinusoidTasks()
    results = {}
    for name, cls in (("maml", mb.MAML), ("joint", mb.JointTraining)):
        g = mb.set_seed(0)
        model = mb.MLP()
        learner = cls(model, inner_lr=0.01, inner_steps=1)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        mb.meta_train(
            learner,
            lambda g=g: tasks.sample(25, 10, 10, g),
            opt,
            1500,
            progress=False,
        )
        test = tasks.sample(300, 10, 10, torch.Generator().manual_seed(123))
        results[name] = mb.evaluate(learner, test, inner_steps=1)["loss"]
    assert results["maml"].high < results["joint"].low, results


def test_protonet_learns_above_chance():
    g = mb.set_seed(0)
    centres = torch.randn(30, 8, generator=g) * 2
    y = torch.arange(30).repeat_interleave(40)
    x = centres[y] + torch.randn(len(y), 8, generator=g)
    sampler = mb.EpisodeSampler(x, y, n_way=5, k_shot=1, n_query=5, generator=g)
    net = mb.ProtoNet(mb.MLP(in_dim=8, out_dim=16, hidden=(32,)))
    opt = torch.optim.Adam(net.model.parameters(), 1e-3)
    history = mb.meta_train(
        net, lambda: sampler.sample_batch(8), opt, 200, progress=False
    )
    acc = mb.evaluate(net, sampler.sample_batch(200))["accuracy"]
    assert acc.low > 0.5, acc  # chance is 0.2
    assert len(history.metrics["accuracy"]) == 200
