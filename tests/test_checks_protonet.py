"""The self-checks of "Prototypical Networks": right answers pass, typical
mistakes get a helpful message."""

from __future__ import annotations

import pytest
import torch

import metabook as mb
from metabook.checks import CheckFailed
from metabook.checks import protonet as checks

# ------------------------------------------------------------------- prototypes


def loop_prototypes(embeddings, labels, n_way):
    return torch.stack([embeddings[labels == k].mean(0) for k in range(n_way)])


def test_prototypes_pass_for_a_loop_and_for_the_library(capsys):
    checks.check_prototypes(loop_prototypes)
    checks.check_prototypes(mb.algorithms.prototypes)
    assert capsys.readouterr().out.count("✔") == 2


@pytest.mark.parametrize(
    "wrong, message",
    [
        (
            lambda e, y, n: torch.stack([e[y == k].sum(0) for k in range(n)]),
            "sum",
        ),
        (lambda e, y, n: loop_prototypes(e, y, n).T, "transposed"),
        (
            lambda e, y, n: torch.stack(
                [e[y == k].mean(0) for k in dict.fromkeys(y.tolist())]
            ),
            "wrong order",
        ),
        (
            lambda e, y, n: torch.stack(
                [e[y == k].sum(0) for k in dict.fromkeys(y.tolist())]
            ),
            "also sums",
        ),
        (
            lambda e, y, n: e.mean(0, keepdim=True).expand(n, -1),
            "every row is the same",
        ),
        (
            lambda e, y, n: torch.stack(
                [e[y == k].sum(0) / (len(y) // n) for k in range(n)]
            ),
            "own count",
        ),
        (lambda e, y, n: e, "one row per support example"),
        (
            lambda e, y, n: torch.tensor(loop_prototypes(e, y, n).tolist()),
            "no gradient",
        ),
        (
            lambda e, y, n: loop_prototypes(e, y, n).detach().numpy(),
            "return a torch.Tensor",
        ),
        (lambda e, y, n: loop_prototypes(e, y, n) + 0.1, "row 0"),
        (lambda e, y, n: 1 / 0, "ZeroDivisionError"),
    ],
    ids=[
        "sums",
        "transposed",
        "order",
        "order-and-sums",
        "global-mean",
        "uniform-count",
        "per-example",
        "no-grad",
        "numpy",
        "offset",
        "raises",
    ],
)
def test_prototype_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_prototypes(wrong)


# ------------------------------------------------------------------ linear head


def right_head(c):
    return 2 * c, -(c**2).sum(-1)


def test_linear_head_passes(capsys):
    checks.check_linear_head(right_head)
    assert "W = 2C" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda c: (c, -(c**2).sum(-1)), "factor 2 is missing"),
        (
            lambda c: (2 * c, torch.zeros(c.shape[0])),
            r"−‖c_k‖² term is "
            r"missing",
        ),
        (lambda c: (c, -(c**2).sum(-1) / 2), "half the right logits"),
        (lambda c: (2 * c, (c**2).sum(-1)), "b has the wrong sign"),
        (lambda c: (-2 * c, -(c**2).sum(-1)), "W has the wrong sign"),
        (lambda c: (2 * c, -c.norm(dim=-1)), "not squared"),
        (lambda c: (2 * c.T, -(c**2).sum(-1)), "transposed"),
        (lambda c: (2 * c, -(c**2).sum(-1, keepdim=True)), "flatten"),
        (lambda c: 2 * c, "pair"),
        (lambda c: (2 * c, -(c**2).sum(-1) + 1), "negative squared norm"),
    ],
    ids=[
        "no-2",
        "no-bias",
        "halved",
        "bias-sign",
        "weight-sign",
        "norm",
        "transposed",
        "bias-shape",
        "single",
        "offset",
    ],
)
def test_linear_head_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_linear_head(wrong)
