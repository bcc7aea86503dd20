"""The self-checks of "Meta-learning meets pre-training" pass right answers and
explain wrong ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metabook.algorithms import prototype_head, prototypes
from metabook.checks import CheckFailed
from metabook.checks.pretrained import (
    check_mean_pool,
    check_metasgd_step,
    check_prototype_head,
)
from metabook.models.pretrained import mean_pool


def pool(states, keep, *, mask=True, norm=True):
    w = (keep if mask else torch.ones_like(keep)).unsqueeze(-1).to(states.dtype)
    mean = (states * w).sum(1) / w.sum(1)
    return F.normalize(mean, dim=-1) if norm else mean


def test_mean_pool_right_answers_pass(capsys):
    check_mean_pool(mean_pool)
    check_mean_pool(pool)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda s, k: pool(s, k, mask=False), "padding included"),
        (lambda s, k: pool(s, k, norm=False), "unit length"),
        (lambda s, k: F.normalize(s[:, 0], dim=-1), "differ from the mean"),
        (lambda s, k: pool(s, k)[None], "shape"),
        (lambda s, k: pool(s, k).tolist(), "tensor"),
        (lambda s, k: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_mean_pool_wrong_answers_explained(wrong, match):
    with pytest.raises(CheckFailed, match=match):
        check_mean_pool(wrong)


def head(support, labels, n_way, *, scale=2.0, sign=-1.0, square=True):
    c = prototypes(support, labels, n_way)
    norm = c.pow(2).sum(-1) if square else c.norm(dim=-1)
    return scale * c, sign * norm


def test_prototype_head_right_answers_pass(capsys):
    check_prototype_head(lambda *a: prototype_head(*a))  # a dict is accepted
    check_prototype_head(head)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda *a: head(*a, scale=1.0), "2c"),
        (lambda *a: head(*a, sign=1.0), "wrong sign"),
        (lambda *a: head(*a, square=False), "squared"),
        (lambda *a: (head(*a)[0], head(*a)[1] * 0), "does not predict"),
        (lambda *a: head(*a)[0], r"return \(W, b\)"),
        (lambda *a: (head(*a)[0][0], head(*a)[1]), "shape"),
    ],
)
def test_prototype_head_wrong_answers_explained(wrong, match):
    with pytest.raises(CheckFailed, match=match):
        check_prototype_head(wrong)


def step(params, lrs, support, labels, *, scalar=False, sign=1.0, detach=False):
    logits = support @ params["weight"].T + params["bias"]
    loss = F.cross_entropy(logits, labels)
    g = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    out = {}
    for (k, p), gk in zip(params.items(), g):
        a = lrs[k].mean() if scalar else lrs[k]
        out[k] = p - sign * a * gk
    return {k: v.detach() for k, v in out.items()} if detach else out


def test_metasgd_step_right_answer_passes(capsys):
    check_metasgd_step(step)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda *a: step(*a, scalar=True), "one step size per tensor"),
        (lambda *a: step(*a, sign=-1.0), "uphill"),
        (lambda *a: step(*a, detach=True), "detached"),
        (
            lambda p, lrs, s, y: step(
                p, {k: v.detach() for k, v in lrs.items()}, s, y
            ),
            "no gradient",
        ),
        (lambda p, lrs, s, y: {k: v * 1.0 for k, v in p.items()}, "differs"),
        (lambda *a: list(step(*a).values()), "dict"),
    ],
)
def test_metasgd_step_wrong_answers_explained(wrong, match):
    with pytest.raises(CheckFailed, match=match):
        check_metasgd_step(wrong)
