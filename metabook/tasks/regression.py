"""In-context linear regression: tasks whose best answer is known.

A task is a weight vector ``w ~ N(0, I_d)``; its examples are
``x ~ N(0, s² I_d)`` and ``y = wᵀx + ε`` with ``ε ~ N(0, σ²)``. The learner
sees ``k_shot`` pairs (the context, or support set) and predicts ``y`` for
``n_query`` other inputs.
This is the setting of Garg et al. (2022; ``garg2022incontext`` in
references.bib) and, noise-free, of von Oswald et al. (2023).

Because the prior is Gaussian, the Bayes-optimal prediction is known: the
posterior mean of ``w`` is ridge regression with penalty ``λ = σ²``
(:func:`ridge_predict`). Least squares (``λ → 0``, the minimum-norm solution
when ``k_shot < d``) and nearest neighbours (:func:`knn_predict`) are the other
references the chapter compares with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..episode import Episode
from ..errors import ConfigError, EpisodeError, check_int


@dataclass(frozen=True)
class LinearRegressionTasks:
    """A distribution over linear regression tasks (see the module docstring).

    Args:
        dim: the input dimension ``d``.
        noise_std: ``σ``, the standard deviation of the noise on ``y``.
        x_scale: ``s``, the standard deviation of every input coordinate
            (1 in training; larger values test inputs the learner never saw).
    """

    dim: int = 5
    noise_std: float = 0.0
    x_scale: float = 1.0

    def __post_init__(self) -> None:
        check_int("dim", self.dim, 1)
        for name, low in (("noise_std", 0.0), ("x_scale", None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name}={value!r} must be a number")
            if (low is None and not value > 0) or (
                low is not None and value < low
            ):
                bound = "positive" if low is None else "non-negative"
                raise ConfigError(f"{name}={value!r} must be {bound}")

    def sample(
        self,
        meta_batch_size: int,
        k_shot: int,
        n_query: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Episode:
        """A batched episode: ``support_x`` ``(B, k_shot, d)``, ``support_y``
        ``(B, k_shot, 1)``, the same for ``n_query`` queries, and ``info["w"]``
        ``(B, d)``.

        The support points come first in one draw, so
        ``episode.support_x[:, :k]`` is a smaller context for the same tasks
        and queries.
        """
        check_int("meta_batch_size", meta_batch_size, 1, EpisodeError)
        check_int("k_shot", k_shot, 1, EpisodeError)
        check_int("n_query", n_query, 1, EpisodeError)
        B, d, n = meta_batch_size, self.dim, k_shot + n_query
        w = torch.randn(B, d, generator=generator, dtype=dtype)
        x = self.x_scale * torch.randn(
            B, n, d, generator=generator, dtype=dtype
        )
        noise = torch.randn(B, n, 1, generator=generator, dtype=dtype)
        y = x @ w.unsqueeze(-1) + self.noise_std * noise  # (B, n, 1)
        return Episode(
            support_x=x[:, :k_shot],
            support_y=y[:, :k_shot],
            query_x=x[:, k_shot:],
            query_y=y[:, k_shot:],
            batched=True,
            info={"w": w},
        )


def ridge_predict(
    context_x: Tensor, context_y: Tensor, query_x: Tensor, lam: float = 0.0
) -> Tensor:
    """Predictions of ridge regression fitted on each context (no intercept).

    ``w = argmin ||X w - y||² + λ ||w||²``; with ``lam=0`` it is least squares,
    and the minimum-norm solution when there are fewer points than dimensions.

    Args:
        context_x: ``(B, N, d)``.
        context_y: ``(B, N, 1)``.
        query_x: ``(B, Q, d)``.
        lam: ``λ ≥ 0``.

    Returns:
        ``(B, Q, 1)``.
    """
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0:
        raise ConfigError(f"lam={lam!r} must be a non-negative number")
    X, y = context_x.double(), context_y.double()
    if lam == 0:
        w = torch.linalg.pinv(X) @ y  # (B, d, 1): minimum-norm least squares
    else:
        d = X.shape[-1]
        gram = X.transpose(1, 2) @ X + lam * torch.eye(d, dtype=X.dtype)
        w = torch.linalg.solve(gram, X.transpose(1, 2) @ y)  # (B, d, 1)
    return (query_x.double() @ w).to(query_x.dtype)


def knn_predict(
    context_x: Tensor, context_y: Tensor, query_x: Tensor, k: int = 3
) -> Tensor:
    """The mean ``y`` of the ``k`` nearest context points (fewer if ``N < k``).

    Args:
        context_x: ``(B, N, d)``.
        context_y: ``(B, N, 1)``.
        query_x: ``(B, Q, d)``.
        k: neighbours.

    Returns:
        ``(B, Q, 1)``.
    """
    check_int("k", k, 1)
    k = min(k, context_x.shape[1])
    dist = torch.cdist(query_x, context_x)  # (B, Q, N)
    idx = dist.topk(k, dim=-1, largest=False).indices  # (B, Q, k)
    ys = context_y.squeeze(-1).unsqueeze(1).expand(-1, idx.shape[1], -1)
    return ys.gather(-1, idx).mean(-1, keepdim=True)  # (B, Q, 1)
