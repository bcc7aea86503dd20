"""The sinusoid regression task family of Finn et al. (2017), section 5.1.

A task is ``y = amplitude * sin(x - phase)`` with amplitude ~ U[0.1, 5], phase ~
U[0, pi] and inputs x ~ U[-5, 5]. The learner sees ``k_shot`` points of a task
(support) and is scored on ``n_query`` others (query).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..episode import Episode
from ..errors import EpisodeError


@dataclass(frozen=True)
class SinusoidTasks:
    """A distribution over sinusoid regression tasks.

    Args:
        amplitude: (low, high) of the uniform amplitude distribution.
        phase: (low, high) of the uniform phase distribution.
        x_range: (low, high) of the uniform input distribution.
    """

    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)

    def __post_init__(self) -> None:
        for name in ("amplitude", "phase", "x_range"):
            low, high = getattr(self, name)
            if not low < high:
                raise EpisodeError(
                    f"{name}={getattr(self, name)!r} must satisfy low < high"
                )

    @staticmethod
    def curve(
        x: Tensor, amplitude: Tensor | float, phase: Tensor | float
    ) -> Tensor:
        """The task's target function, broadcasting over a leading task
        dimension."""
        amplitude = torch.as_tensor(amplitude, dtype=x.dtype, device=x.device)
        phase = torch.as_tensor(phase, dtype=x.dtype, device=x.device)
        while amplitude.dim() < x.dim():
            amplitude, phase = amplitude.unsqueeze(-1), phase.unsqueeze(-1)
        return amplitude * torch.sin(x - phase)

    def _uniform(
        self,
        shape: tuple[int, ...],
        bounds: tuple[float, float],
        g: torch.Generator | None,
        dtype: torch.dtype,
    ) -> Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(shape, generator=g, dtype=dtype)

    def sample_params(
        self,
        meta_batch_size: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, Tensor]:
        """Amplitudes and phases of ``meta_batch_size`` tasks, each of shape
        ``(meta_batch_size,)``."""
        amp = self._uniform(
            (meta_batch_size,), self.amplitude, generator, dtype
        )
        phase = self._uniform((meta_batch_size,), self.phase, generator, dtype)
        return amp, phase

    def episode_for(
        self,
        amplitude: Tensor,
        phase: Tensor,
        k_shot: int,
        n_query: int,
        generator: torch.Generator | None = None,
    ) -> Episode:
        """A batched episode for given task parameters (each of shape
        ``(meta_batch_size,)``).

        ``support_x``/``support_y`` have shape ``(meta_batch_size, k_shot, 1)``;
        the query set has ``n_query`` points. ``info`` keeps ``amplitude`` and
        ``phase``.
        """
        for name, value in (("k_shot", k_shot), ("n_query", n_query)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise EpisodeError(f"{name}={value!r} must be a positive int")
        b, dtype = amplitude.shape[0], amplitude.dtype
        x = self._uniform(
            (b, k_shot + n_query, 1), self.x_range, generator, dtype
        )
        y = self.curve(x, amplitude, phase)
        return Episode(
            support_x=x[:, :k_shot],
            support_y=y[:, :k_shot],
            query_x=x[:, k_shot:],
            query_y=y[:, k_shot:],
            batched=True,
            info={"amplitude": amplitude, "phase": phase},
        )

    def sample(
        self,
        meta_batch_size: int,
        k_shot: int,
        n_query: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Episode:
        """A batched episode of ``meta_batch_size`` random tasks."""
        if (
            isinstance(meta_batch_size, bool)
            or not isinstance(meta_batch_size, int)
            or meta_batch_size < 1
        ):
            raise EpisodeError(
                f"meta_batch_size={meta_batch_size!r} must be a positive int"
            )
        amp, phase = self.sample_params(meta_batch_size, generator, dtype)
        return self.episode_for(amp, phase, k_shot, n_query, generator)
