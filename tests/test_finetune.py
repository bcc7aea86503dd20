"""The non-meta baseline (pre-train, then a fresh head per task) and per-task
evaluation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import metabook as mb
from metabook.algorithms import fit_heads


def blobs(seed: int, n_classes: int = 12, per_class: int = 30, dim: int = 8):
    """Gaussian blobs: class c is centred at a random point (easy to split)."""
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(n_classes, dim, generator=g)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    x = centres[y] + torch.randn(len(y), dim, generator=g)
    return x, y


def make_baseline(n_classes=12, **kwargs):
    torch.manual_seed(0)
    encoder = mb.MLP(in_dim=8, out_dim=16, hidden=(32,))
    return mb.FineTuneBaseline(encoder, n_classes, **kwargs)


def test_fit_heads_is_logistic_regression_by_gradient_descent():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 1, 1, 0, 0]])
    W, b, losses = fit_heads(z, y, 3, lr=0.5, steps=3)
    for task in range(2):  # the same fit, one task at a time, by hand
        Wt = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
        bt = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        for step in range(3):
            loss = F.cross_entropy(z[task] @ Wt.T + bt, y[task])
            torch.testing.assert_close(losses[task, step], loss.detach())
            gW, gb = torch.autograd.grad(loss, (Wt, bt))
            Wt, bt = (
                (Wt - 0.5 * gW).detach().requires_grad_(),
                (bt - 0.5 * gb).detach().requires_grad_(),
            )
        torch.testing.assert_close(W[task], Wt.detach())
        torch.testing.assert_close(b[task], bt.detach())
    # zero head: uniform
    assert losses[:, 0].allclose(torch.tensor(3.0, dtype=torch.float64).log())


def test_pretraining_and_fresh_heads_learn_new_classes():
    x, y = blobs(0)
    train = y < 8  # classes 8..11 are never seen in pre-training
    baseline = make_baseline(n_classes=8, head_lr=1.0, head_steps=50)
    opt = torch.optim.Adam(baseline.model.parameters(), 1e-2)
    evals = []
    history = baseline.pretrain(
        x[train],
        y[train],
        200,
        32,
        opt,
        torch.Generator().manual_seed(0),
        progress=False,
        evaluate_every=100,
        evaluate=lambda: evals.append(1) or len(evals),
    )
    assert history.steps == 200 and history.evals == [(100, 1), (200, 2)]
    assert sum(history.metrics["accuracy"][-20:]) / 20 > 0.9
    sampler = mb.EpisodeSampler(
        x[~train],
        y[~train] - 8,
        n_way=4,
        k_shot=1,
        n_query=5,
        generator=torch.Generator().manual_seed(1),
    )
    episodes = mb.Episode.stack([sampler.sample() for _ in range(40)])
    per_task = mb.evaluate_per_task(baseline, episodes, chunk_size=15)
    assert per_task["accuracy"].shape == (40,) and per_task["loss"].shape == (
        40,
    )
    assert per_task["accuracy"].mean() > 0.6  # chance is 0.25
    assert mb.evaluate(baseline, episodes, chunk_size=15)[
        "accuracy"
    ].mean == pytest.approx(per_task["accuracy"].mean().item())
    zero = mb.evaluate_per_task(baseline, episodes, inner_steps=0)["accuracy"]
    # a zero head ties every class: argmax says 0
    assert torch.equal(zero, torch.full((40,), 0.25))


def test_pretraining_is_reproducible():
    x, y = blobs(1)
    runs = []
    for _ in range(2):
        baseline = make_baseline()
        opt = torch.optim.Adam(baseline.model.parameters(), 1e-2)
        runs.append(
            baseline.pretrain(
                x,
                y,
                20,
                16,
                opt,
                torch.Generator().manual_seed(3),
                progress=False,
            ).loss
        )
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda b, x, y: b.pretrain(x, y[:-1], 5, 8, None),
            mb.EpisodeError,
            "360 examples but y has 359",
        ),
        (
            lambda b, x, y: b.pretrain(x, y, 5, 1000, None),
            mb.ConfigError,
            "batch_size=1000 is larger",
        ),
        (
            lambda b, x, y: b.pretrain(x, y + 1, 5, 8, None),
            mb.EpisodeError,
            r"labels must lie in 0\.\.11",
        ),
        (
            lambda b, x, y: b.pretrain(x, y, 5, 8, None, evaluate_every=2),
            mb.ConfigError,
            "evaluate_every=2 needs",
        ),
        (
            lambda b, x, y: b.pretrain(x, y, -1, 8, None),
            mb.ConfigError,
            "iters=-1",
        ),
        (
            lambda b, x, y: b.task_metrics(
                mb.Episode(x[:4], y[:4] % 2, x[4:8], y[4:8] % 2)
            ),
            mb.EpisodeError,
            "batched",
        ),
        (
            lambda b, x, y: b.task_metrics(
                mb.Episode(
                    x[None, :4],
                    x[None, :4],
                    x[None, 4:8],
                    x[None, 4:8],
                    batched=True,
                )
            ),
            mb.EpisodeError,
            "class labels",
        ),
    ],
)
def test_errors_name_the_value(call, error, match):
    x, y = blobs(2)
    with pytest.raises(error, match=match):
        call(make_baseline(), x, y)


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: mb.FineTuneBaseline("encoder", 5),
            "encoder must be an nn.Module",
        ),
        (lambda: mb.FineTuneBaseline(mb.MLP(), 1), "n_classes=1"),
        (lambda: mb.FineTuneBaseline(mb.MLP(), 5, head_lr=0), "head_lr=0"),
        (
            lambda: mb.FineTuneBaseline(mb.MLP(), 5, head_steps=-1),
            "head_steps=-1",
        ),
        (
            lambda: mb.FineTuneBaseline(torch.nn.ReLU(), 5),
            "cannot tell the embedding width",
        ),
    ],
)
def test_config_errors(build, match):
    with pytest.raises(mb.ConfigError, match=match):
        build()


def test_evaluate_per_task_needs_a_batch():
    x, y = blobs(3)
    with pytest.raises(mb.ConfigError, match="batched episode"):
        mb.evaluate_per_task(
            make_baseline(), mb.Episode(x[:4], y[:4] % 2, x[4:8], y[4:8] % 2)
        )
