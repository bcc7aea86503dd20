"""The self-checks of the in-context chapter: right answers pass, typical
mistakes get a helpful message."""

from __future__ import annotations

import copy

import pytest
import torch

from metabook.checks import CheckFailed
from metabook.checks import incontext as checks

# ------------------------------------------------------------ expected loss


def right_loss(eta, n, d):
    return eta**2 * d * (n + d + 1) / n - 2 * eta * d + d


def test_expected_loss_passes(capsys):
    checks.check_expected_loss(right_loss)
    assert "matches" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda eta, n, d: eta**2 * d - 2 * eta * d + d, "E\\[S²\\] = I"),
        (
            lambda eta, n, d: eta**2 * d * (n + d) / n - 2 * eta * d + d,
            "not \\(N \\+ d\\)/N",
        ),
        (lambda eta, n, d: right_loss(eta, n, d) / d, "d times too small"),
        (lambda eta, n, d: 1.0, "x_qᵀ\\(ηS - I\\)w"),
        (lambda eta, n, d: "one", "return a number"),
        (lambda eta, n, d: 1 / 0, "ZeroDivisionError"),
    ],
    ids=[
        "no-wishart",
        "off-by-one",
        "per-dimension",
        "wrong",
        "string",
        "raises",
    ],
)
def test_expected_loss_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_expected_loss(wrong)


# ---------------------------------------------------------------- rescaling


def right_rescale(layer, c):
    new = copy.deepcopy(layer)
    with torch.no_grad():
        new.key.weight.mul_(c)
        new.query.weight.div_(c)
    return new


def in_place(layer, c):
    with torch.no_grad():
        layer.key.weight.mul_(c)
        layer.query.weight.div_(c)
    return layer


def both_by_c(layer, c):
    new = copy.deepcopy(layer)
    with torch.no_grad():
        new.key.weight.mul_(c)
        new.query.weight.mul_(c)
    return new


def across_products(layer, c):
    # also right: the prediction depends on b ⊗ A only (b: y row of P W_V)
    new = copy.deepcopy(layer)
    with torch.no_grad():
        new.key.weight.mul_(c)
        new.proj.weight.div_(c)
    return new


def value_only(layer, c):
    new = copy.deepcopy(layer)
    with torch.no_grad():
        new.value.weight.mul_(c)
    return new


@pytest.mark.parametrize("rescale", [right_rescale, across_products])
def test_rescaling_passes(rescale, capsys):
    checks.check_rescaling(rescale)
    assert "same predictions" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (in_place, "changed the layer it was given"),
        (both_by_c, "multiply both matrices"),
        (lambda layer, c: copy.deepcopy(layer), "same weights"),
        (
            lambda layer, c: {"key": layer.key.weight},
            "return a LinearSelfAttention",
        ),
        (value_only, "changed the predictions"),
    ],
    ids=["in-place", "both-by-c", "unchanged", "dict", "one-factor"],
)
def test_rescaling_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_rescaling(wrong)


# ------------------------------------------------------------ posterior mean


def right_posterior(context_x, context_y, noise_std):
    X, y = context_x, context_y
    gram = X.transpose(1, 2) @ X + noise_std**2 * torch.eye(X.shape[-1])
    return torch.linalg.solve(gram.to(X.dtype), X.transpose(1, 2) @ y).squeeze(
        -1
    )


def test_posterior_mean_passes(capsys):
    checks.check_posterior_mean(right_posterior)
    assert "posterior means match" in capsys.readouterr().out


def sigma_not_squared(context_x, context_y, noise_std):
    return right_posterior(context_x, context_y, noise_std**0.5)


def least_squares(context_x, context_y, noise_std):
    return (torch.linalg.pinv(context_x) @ context_y).squeeze(-1)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (sigma_not_squared, "λ = σ;"),
        (least_squares, "least squares"),
        (lambda x, y, s: right_posterior(x, y, s).unsqueeze(-1), "squeeze"),
        (lambda x, y, s: right_posterior(x, y, s)[:, :1], "expected"),
        (lambda x, y, s: right_posterior(x, y, s).tolist(), "return a tensor"),
        (lambda x, y, s: 2 * right_posterior(x, y, s), "complete the square"),
    ],
    ids=["sigma", "lstsq", "column", "shape", "list", "wrong"],
)
def test_posterior_mean_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_posterior_mean(wrong)
