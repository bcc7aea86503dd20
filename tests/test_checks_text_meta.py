"""The self-checks of "Meta-training the Transformer": right answers pass,
wrong ones are explained."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

import metabook as mb
from metabook.algorithms import fit_heads
from metabook.checks import CheckFailed
from metabook.checks.text_meta import (
    check_fit_heads,
    check_nearest_class_mean,
    check_paired_difference,
)


def heads(
    support,
    labels,
    n_way,
    lr,
    steps,
    *,
    task_mean=False,
    example_sum=False,
    bias=True,
    init=0.0,
):
    B, _, d = support.shape
    W = torch.full((B, n_way, d), init, dtype=support.dtype, requires_grad=True)
    b = torch.zeros(B, n_way, dtype=support.dtype, requires_grad=True)
    for _ in range(steps):
        logits = support @ W.transpose(1, 2) + b[:, None]
        loss = F.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), reduction="none"
        ).view(B, -1)
        loss = loss.sum(1) if example_sum else loss.mean(1)
        total = loss.mean() if task_mean else loss.sum()
        gW, gb = torch.autograd.grad(total, (W, b))
        with torch.no_grad():
            W -= lr * gW
            if bias:
                b -= lr * gb
    return W.detach(), b.detach()


def test_fit_heads_right_answers_pass(capsys):
    check_fit_heads(lambda *a: fit_heads(*a)[:2])
    check_fit_heads(heads)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda *a: heads(*a, example_sum=True), "n_support times too large"),
        (lambda *a: heads(*a, task_mean=True), "times too small"),
        (lambda *a: heads(*a, bias=False), "b never moved"),
        (lambda *a: heads(*a, init=0.1), "exactly zero"),
        (lambda s, y, n, lr, k: heads(s, y, n, lr, k)[0], "tuple"),
        (
            lambda s, y, n, lr, k: (
                heads(s, y, n, lr, k)[0].transpose(1, 2),
                heads(s, y, n, lr, k)[1],
            ),
            "shape",
        ),
        (
            lambda s, y, n, lr, k: heads(s, y, n, 2 * lr, k),
            "differ from the expected",
        ),
        (lambda *a: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_fit_heads_wrong_answers_explained(wrong, match):
    with pytest.raises(CheckFailed, match=match):
        check_fit_heads(wrong)


def test_paired_difference():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(600, generator=g)
    b = (a - 0.05 + 0.05 * torch.randn(600, generator=g)).clamp(0, 1)
    check_paired_difference(mb.mean_ci(a - b), a, b)
    with pytest.raises(CheckFailed, match="B minus A"):
        check_paired_difference(mb.mean_ci(b - a), a, b)
    unpaired = mb.Estimate(
        (a.mean() - b.mean()).item(),
        (mb.mean_ci(a).ci ** 2 + mb.mean_ci(b).ci ** 2) ** 0.5,
        600,
    )
    with pytest.raises(CheckFailed, match="episode by episode"):
        check_paired_difference(unpaired, a, b)
    with pytest.raises(CheckFailed, match="same episodes"):
        check_paired_difference(mb.mean_ci(a), a, b[:10])
    with pytest.raises(CheckFailed, match="Estimate"):
        check_paired_difference(0.1, a, b)


def ncm(support, labels, query, *, variant="right"):
    n_way = int(labels.max()) + 1
    means = torch.stack([support[labels == c].mean(0) for c in range(n_way)])
    if variant == "sums":
        means = means * (len(labels) // n_way)
    if variant == "cosine":
        return (query @ F.normalize(means, dim=-1).T).argmax(-1)
    if variant == "dot":
        return (query @ means.T).argmax(-1)
    distances = torch.cdist(query, means)
    return (
        distances.argmax(-1) if variant == "farthest" else distances.argmin(-1)
    )


def test_nearest_class_mean_right_answers_pass(capsys):
    check_nearest_class_mean(ncm)
    check_nearest_class_mean(lambda s, y, q: ncm(s, y, q).tolist())
    check_nearest_class_mean(lambda s, y, q: ncm(s, y, q).numpy())
    assert "✔" in capsys.readouterr().out


def test_nearest_class_mean_agrees_with_scikit_learn(capsys):
    neighbors = pytest.importorskip("sklearn.neighbors")

    def sklearn_ncm(support, labels, query):
        fitted = neighbors.NearestCentroid().fit(
            support.numpy(), labels.numpy()
        )
        return fitted.predict(query.numpy())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one shot: 0/0 within-class spread
        check_nearest_class_mean(sklearn_ncm)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    "variant, match",
    [
        ("farthest", "farthest"),
        ("sums", "class sums"),
        ("cosine", "cosine"),
        ("dot", "dot product"),
    ],
)
def test_nearest_class_mean_wrong_answers_explained(variant, match):
    with pytest.raises(CheckFailed, match=match):
        check_nearest_class_mean(lambda s, y, q: ncm(s, y, q, variant=variant))


def test_nearest_class_mean_shape_and_errors():
    with pytest.raises(CheckFailed, match="one integer label per query"):
        check_nearest_class_mean(lambda s, y, q: ncm(s, y, q)[:-1])
    with pytest.raises(CheckFailed, match="one integer label per query"):
        check_nearest_class_mean(lambda s, y, q: ncm(s, y, q).double())
    with pytest.raises(CheckFailed, match="tensor, an array or a list"):
        check_nearest_class_mean(lambda s, y, q: {"labels": 1})
    with pytest.raises(CheckFailed, match="queries got another label"):
        check_nearest_class_mean(lambda s, y, q: torch.zeros(len(q), dtype=int))
