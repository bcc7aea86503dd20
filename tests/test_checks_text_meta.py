"""The self-checks of the chapter "Meta-training the Transformer" pass right answers and explain wrong ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import metabook as mb
from metabook.algorithms import fit_heads
from metabook.checks import CheckFailed
from metabook.checks.text_meta import check_fit_heads, check_paired_difference


def heads(support, labels, n_way, lr, steps, *, task_mean=False, example_sum=False, bias=True, init=0.0):
    B, _, d = support.shape
    W = torch.full((B, n_way, d), init, dtype=support.dtype, requires_grad=True)
    b = torch.zeros(B, n_way, dtype=support.dtype, requires_grad=True)
    for _ in range(steps):
        logits = support @ W.transpose(1, 2) + b[:, None]
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(B, -1)
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
        (lambda s, y, n, lr, k: (heads(s, y, n, lr, k)[0].transpose(1, 2), heads(s, y, n, lr, k)[1]), "shape"),
        (lambda s, y, n, lr, k: heads(s, y, n, 2 * lr, k), "differ from the expected"),
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
    unpaired = mb.Estimate((a.mean() - b.mean()).item(), (mb.mean_ci(a).ci ** 2 + mb.mean_ci(b).ci ** 2) ** 0.5, 600)
    with pytest.raises(CheckFailed, match="episode by episode"):
        check_paired_difference(unpaired, a, b)
    with pytest.raises(CheckFailed, match="same episodes"):
        check_paired_difference(mb.mean_ci(a), a, b[:10])
    with pytest.raises(CheckFailed, match="Estimate"):
        check_paired_difference(0.1, a, b)
