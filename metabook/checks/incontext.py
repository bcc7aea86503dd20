"""Self-checks for the chapter "The Transformer as an in-context meta-learner".

* :func:`check_expected_loss`: does ``expected_loss(eta, n_context, dim)``
  give the expected squared error of one gradient step of size ``eta`` from
  ``w = 0``, for ``x ~ N(0, I)``, ``w ~ N(0, I)`` and no noise?
* :func:`check_rescaling`: does ``rescale(layer, c)`` return a *new* linear
  self-attention layer with other weights but exactly the same predictions?
* :func:`check_posterior_mean`: does ``posterior_mean(context_x, context_y,
  noise_std)`` return the posterior mean of ``w`` under the prior
  ``w ~ N(0, I)`` and noise ``N(0, σ²)``?
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..models.incontext import LinearSelfAttention, effective_matrix
from . import CheckFailed, call_user, passed

# --------------------------------------------------------- expected loss


def _loss(eta: float, n: int, d: int, second_moment: float) -> float:
    return d - 2 * eta * d + eta**2 * d * second_moment


def _as_float(name: str, value: object) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CheckFailed(f"{name} is a {type(value).__name__}; return a number")


def check_expected_loss(fn: Callable[[float, int, int], float]) -> None:
    """``fn(eta, n_context, dim)`` must be ``d - 2ηd + η² d (N + d + 1) / N``.

    That is ``E (ŷ - y)²`` for ``ŷ = η (1/N) Σ y_i x_iᵀ x_q``, with ``N``
    context points, inputs ``x ~ N(0, I_d)``, weights ``w ~ N(0, I_d)`` and no
    noise.
    """
    cases = [(0.5, 20, 10), (0.1, 5, 3), (1.0, 1, 4), (0.0, 8, 2), (2.0, 50, 1)]
    for eta, n, d in cases:
        got = _as_float(
            f"expected_loss({eta}, {n}, {d})", call_user(fn, eta, n, d)
        )
        want = _loss(eta, n, d, (n + d + 1) / n)
        if abs(got - want) <= 1e-6 * max(1.0, abs(want)):
            continue
        where = (
            f"expected_loss({eta}, {n}, {d}) = {got:.6g}, expected {want:.6g}"
        )
        if eta > 0 and abs(got - _loss(eta, n, d, 1.0)) < 1e-6 * max(1, want):
            raise CheckFailed(
                f"{where}. You used E[S²] = I for S = (1/N) Σ x_i x_iᵀ; but S "
                "only averages N samples: E[S²] = (N + d + 1)/N · I (a Wishart "
                "moment). That extra term is why one step cannot reach 0 error."
            )
        if abs(got - _loss(eta, n, d, (n + d) / n)) < 1e-6 * max(1, want):
            raise CheckFailed(
                f"{where}. Close: E[S²] = (N + d + 1)/N · I, not (N + d)/N; "
                "count E[(x_iᵀx_i)²] = d² + 2d for a Gaussian x_i."
            )
        if eta > 0 and abs(got - _loss(eta, n, d, (n + d + 1) / n) / d) < 1e-6:
            raise CheckFailed(
                f"{where}: your value is d times too small. The error sums "
                "over the d directions of w - ŵ: E||(η S - I) w||², with "
                "E[wwᵀ] = I."
            )
        raise CheckFailed(
            f"{where}. Write the error as x_qᵀ(ηS - I)w, average over x_q "
            "and w to get E tr[(ηS - I)²], then use E[S] = I and E[S²]."
        )
    passed(
        "expected_loss matches d - 2ηd + η²d(N + d + 1)/N in "
        f"{len(cases)} cases"
    )


# ------------------------------------------------------------- rescaling


def _prompt(d: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 9, d, generator=g, dtype=torch.float64)
    w = torch.randn(3, d, 1, generator=g, dtype=torch.float64)
    return x[:, :6], x[:, :6] @ w, x[:, 6:]


def check_rescaling(
    fn: Callable[[LinearSelfAttention, float], LinearSelfAttention],
) -> None:
    """``fn(layer, c)`` must return a new layer with other weights but the same
    predictions (and so the same effective matrix), leaving ``layer`` as it
    was."""
    d = 3
    torch.manual_seed(0)
    layer = LinearSelfAttention(d).double()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    context_x, context_y, query_x = _prompt(d, 1)
    with torch.no_grad():
        want = layer.predict(context_x, context_y, query_x)
    for c in (2.0, 0.25):
        new = call_user(fn, layer, c)
        for k, v in layer.state_dict().items():
            if not torch.equal(v, before[k]):
                raise CheckFailed(
                    f"rescale(layer, {c}) changed the layer it was given "
                    f"({k}); build a copy (copy.deepcopy) and change that"
                )
        if not isinstance(new, LinearSelfAttention):
            raise CheckFailed(
                f"rescale returned a {type(new).__name__}; return a "
                "LinearSelfAttention"
            )
        same = all(
            torch.allclose(v, new.state_dict()[k]) for k, v in before.items()
        )
        if same:
            raise CheckFailed(
                f"rescale(layer, {c}) returned the same weights; scale one "
                "matrix of a product by c and its partner by 1/c"
            )
        with torch.no_grad():
            got = new.double().predict(context_x, context_y, query_x)
        if not torch.allclose(got, want, rtol=1e-9, atol=1e-10):
            ratio = (got / want).median().item()
            hint = (
                f"the predictions are {ratio:.3g} times the original ones: "
                "did you multiply both matrices of a product by c?"
                if abs(ratio - 1) > 1e-3
                else "compare which products of weights reach the prediction"
            )
            raise CheckFailed(
                f"rescale(layer, {c}) changed the predictions; {hint} The "
                "prediction depends on W_Kᵀ W_Q and on P W_V only."
            )
        m_old, e_old = effective_matrix(layer)
        m_new, e_new = effective_matrix(new)
        if not (torch.allclose(m_old, m_new) and torch.allclose(e_old, e_new)):
            raise CheckFailed(
                "the predictions agree on this prompt but the effective matrix "
                "changed; change only products' factors, not the products"
            )
    passed(
        "new weights, same predictions and same effective matrix "
        "(c = 2 and c = 1/4)"
    )


# ------------------------------------------------------ posterior mean


def _ridge(X: Tensor, y: Tensor, lam: float) -> Tensor:
    gram = X.transpose(1, 2) @ X + lam * torch.eye(X.shape[-1], dtype=X.dtype)
    return torch.linalg.solve(gram, X.transpose(1, 2) @ y).squeeze(-1)


def check_posterior_mean(
    fn: Callable[[Tensor, Tensor, float], Tensor],
) -> None:
    """``fn(context_x, context_y, noise_std)`` -> ``(B, d)`` posterior means.

    With ``w ~ N(0, I)`` and ``y = xᵀw + N(0, σ²)`` the posterior mean is
    ``(XᵀX + σ² I)⁻¹ Xᵀ y``: ridge regression with ``λ = σ²``.
    """
    g = torch.Generator().manual_seed(3)
    for n, d, sigma in ((3, 5, 0.5), (12, 4, 1.5), (1, 2, 0.1)):
        X = torch.randn(4, n, d, generator=g, dtype=torch.float64)
        y = torch.randn(4, n, 1, generator=g, dtype=torch.float64)
        got = call_user(fn, X.clone(), y.clone(), sigma)
        if not isinstance(got, Tensor):
            raise CheckFailed(
                f"posterior_mean returned a {type(got).__name__}; return a "
                "tensor of shape (B, d)"
            )
        if got.shape == (4, d, 1):
            raise CheckFailed(
                f"the result has shape {tuple(got.shape)}; squeeze the last "
                f"dimension to return (B, d) = {(4, d)}"
            )
        if got.shape != (4, d):
            raise CheckFailed(
                f"the result has shape {tuple(got.shape)}, expected {(4, d)}"
            )
        got = got.double()
        if torch.allclose(got, _ridge(X, y, sigma**2), rtol=1e-6, atol=1e-8):
            continue
        if torch.allclose(got, _ridge(X, y, sigma), rtol=1e-6, atol=1e-8):
            raise CheckFailed(
                "you used λ = σ; the prior and the noise enter as variances: "
                "λ = σ² / 1 (noise variance over prior variance)"
            )
        pinv = (torch.linalg.pinv(X) @ y).squeeze(-1)
        if torch.allclose(got, pinv, rtol=1e-6, atol=1e-8):
            raise CheckFailed(
                "that is least squares (λ = 0): the prior w ~ N(0, I) adds "
                "σ² I to XᵀX"
            )
        raise CheckFailed(
            f"posterior mean wrong for {n} context points in dimension {d}; "
            "complete the square in log p(w | X, y) = -|Xw - y|²/(2σ²) - "
            "|w|²/2 + const"
        )
    passed("posterior means match (XᵀX + σ²I)⁻¹Xᵀy in 3 cases")


__all__ = ["check_expected_loss", "check_posterior_mean", "check_rescaling"]
