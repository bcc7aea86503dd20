"""Swirled 2-D classes: a small classification family where the metric matters.

Every class is a round Gaussian blob in a hidden 2-D plane ``z``, centred at a
random point of a disc. What a learner sees is ``x = swirl(z)``: each point is
rotated about the origin by an angle proportional to its distance from it::

    x = R(twist · ‖z‖) z        R(a) = [[cos a, −sin a], [sin a, cos a]]

The swirl is smooth and invertible (it keeps ‖x‖ = ‖z‖), so it destroys no
information, but it bends each blob into an arc whose length, bend and
orientation depend on where the class sits. Euclidean distance in ``x`` is then
a poor measure of "same class", while distance in ``z`` is a good one: an
embedding that learns to undo the swirl turns a mediocre nearest-class-mean
classifier into a good one. The swirl is the same for every class, which is what
makes it learnable from the meta-training classes and useful on new ones.

Classes are split by id into meta-train, meta-validation and meta-test sets,
which share no class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import ConfigError, check_int
from ..sampler import EpisodeSampler


def swirl(z: Tensor, twist: float) -> Tensor:
    """Rotate each point of ``z`` (shape ``(..., 2)``) by ``twist · ‖z‖``
    radians."""
    angle = twist * z.norm(dim=-1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack(
        [cos * z[..., 0] - sin * z[..., 1], sin * z[..., 0] + cos * z[..., 1]],
        dim=-1,
    )


def unswirl(x: Tensor, twist: float) -> Tensor:
    """The inverse of :func:`swirl` (the swirl keeps norms, so rotate back by
    ``twist · ‖x‖``)."""
    return swirl(x, -twist)


@dataclass(frozen=True)
class ClassPoints:
    """The labelled points of one split.

    Attributes:
        x: ``(n_points, 2)`` observed inputs.
        labels: ``(n_points,)`` global class ids (unique to this split).
        latent: ``(n_points, 2)`` the same points in the hidden plane (``x =
            swirl(latent)``).
        centres: ``(n_classes, 2)`` latent class centres, row ``i`` for class
            ``classes[i]``.
        classes: ``(n_classes,)`` the class ids of this split.
    """

    x: Tensor
    labels: Tensor
    latent: Tensor
    centres: Tensor
    classes: Tensor

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def sampler(
        self,
        n_way: int,
        k_shot: int,
        n_query: int,
        generator: torch.Generator | None = None,
    ) -> EpisodeSampler:
        """An :class:`~metabook.EpisodeSampler` of ``n_way``-way ``k_shot``-shot
        episodes over this split."""
        return EpisodeSampler(
            self.x, self.labels, n_way, k_shot, n_query, generator=generator
        )


class Splits(NamedTuple):
    """Meta-train, meta-validation and meta-test classes (disjoint)."""

    train: ClassPoints
    val: ClassPoints
    test: ClassPoints


def _positive(name: str, value: object, allow_zero: bool = False) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
    ):
        raise ConfigError(f"{name}={value!r} must be a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(
            f"{name}={value!r} must be "
            f"{'non-negative' if allow_zero else 'positive'}"
        )


_count = check_int


@dataclass(frozen=True)
class SwirlClasses:
    """A fixed, seeded set of swirled 2-D classes (see the module docstring).

    Args:
        train_classes: classes for meta-training (ids ``0 .. train_classes-1``).
        val_classes: classes for meta-validation (the next ids).
        test_classes: classes for meta-testing (the last ids).
        points_per_class: points drawn per class.
        radius: class centres are uniform in the latent disc of this radius.
        spread: standard deviation of each class blob in the latent plane.
        twist: radians of rotation per unit of distance from the origin (0: no
            swirl).
        seed: everything is drawn from a generator seeded with this.

    Example:
        >>> data = SwirlClasses().generate()
        >>> sampler = data.train.sampler(n_way=5, k_shot=1, n_query=15)
        >>> episode = sampler.sample()          # support_x: (5, 2)
    """

    train_classes: int = 240
    val_classes: int = 80
    test_classes: int = 80
    points_per_class: int = 40
    radius: float = 3.0
    spread: float = 0.35
    twist: float = 1.5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "train_classes",
            "val_classes",
            "test_classes",
            "points_per_class",
        ):
            _count(name, getattr(self, name), 2)
        _positive("radius", self.radius)
        _positive("spread", self.spread)
        _positive("twist", self.twist, allow_zero=True)
        _count("seed", self.seed, 0)

    @property
    def n_classes(self) -> int:
        return self.train_classes + self.val_classes + self.test_classes

    def generate(self, dtype: torch.dtype = torch.float32) -> Splits:
        """Draw every class (the same ones for the same settings and seed) and
        split them.

        Returns:
            ``Splits(train, val, test)``, each a :class:`ClassPoints` on the
            CPU.
        """
        g = torch.Generator().manual_seed(self.seed)
        n, m = self.n_classes, self.points_per_class
        # uniform in the disc
        r = self.radius * torch.sqrt(
            torch.rand(n, generator=g, dtype=torch.float64)
        )
        a = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
        # (n, 2)
        centres = torch.stack([r * torch.cos(a), r * torch.sin(a)], dim=-1)
        latent = centres[:, None] + self.spread * torch.randn(
            n, m, 2, generator=g, dtype=torch.float64
        )
        x = swirl(latent, self.twist)  # (n, m, 2)
        labels = torch.arange(n).repeat_interleave(m)  # (n * m,)
        bounds = [
            0,
            self.train_classes,
            self.train_classes + self.val_classes,
            n,
        ]
        parts = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            parts.append(
                ClassPoints(
                    x=x[lo:hi].reshape(-1, 2).to(dtype),
                    labels=labels[lo * m : hi * m].clone(),
                    latent=latent[lo:hi].reshape(-1, 2).to(dtype),
                    centres=centres[lo:hi].to(dtype),
                    classes=torch.arange(lo, hi),
                )
            )
        return Splits(*parts)
