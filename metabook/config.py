"""Run sizes: every chapter runs at *full* size (the website) or *quick* size (tests).

A chapter never writes ``if quick: ...``. It asks its preset for the current size::

    cfg = metabook.config.SINUSOID.get()      # SinusoidConfig, full or quick
    cfg.meta_iters                             # 70_000 in full, a few hundred in quick

Quick size is selected by the environment variable ``METABOOK_QUICK=1`` (the test
suite sets it). Presets are plain frozen dataclasses, so a reader can also build
their own: ``SinusoidConfig(meta_iters=5_000)``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """Whether ``METABOOK_QUICK`` asks for the quick size.

    Raises:
        ConfigError: if the variable holds something other than a yes/no value.
    """
    raw = os.environ.get("METABOOK_QUICK", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(
        f"METABOOK_QUICK={os.environ['METABOOK_QUICK']!r} is not understood; "
        "use 1 (quick size) or 0 / unset (full size)"
    )


def size_name() -> str:
    """``"quick"`` or ``"full"``: the size this process runs at."""
    return "quick" if quick_mode() else "full"


@dataclass(frozen=True)
class Preset(Generic[T]):
    """A pair of configurations: what the website shows (``full``) and what tests run (``quick``)."""

    full: T
    quick: T

    def get(self) -> T:
        """The configuration for the current size (see :func:`quick_mode`)."""
        return self.quick if quick_mode() else self.full


def _check_positive(cfg: object) -> None:
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if f.name in {"inner_steps", "seed"}:
                ok = value >= 0
            else:
                ok = value > 0
            if not ok:
                raise ConfigError(f"{type(cfg).__name__}.{f.name}={value!r} must be positive")


@dataclass(frozen=True)
class SinusoidConfig:
    """Sinusoid regression as in Finn et al. (2017), section 5.1.

    The defaults are the paper's: an MLP with two hidden layers of 40 units, K=10
    shots, one inner step with ``inner_lr`` 0.01, meta-batches of 25 tasks and Adam
    with ``meta_lr`` 1e-3 for 70,000 meta-iterations, evaluated on 600 test tasks.
    """

    hidden: tuple[int, ...] = (40, 40)
    k_shot: int = 10
    n_query: int = 10
    inner_lr: float = 0.01
    inner_steps: int = 1
    meta_lr: float = 1e-3
    meta_batch_size: int = 25
    meta_iters: int = 70_000
    eval_tasks: int = 600
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


SINUSOID: Preset[SinusoidConfig] = Preset(
    full=SinusoidConfig(),
    quick=SinusoidConfig(meta_iters=300, eval_tasks=100),
)


@dataclass(frozen=True)
class EnvironmentConfig:
    """The setup chapter: how long to time meta-steps when checking a machine."""

    meta_iters: int = 200  # meta-steps timed per algorithm
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


ENVIRONMENT: Preset[EnvironmentConfig] = Preset(
    full=EnvironmentConfig(),
    quick=EnvironmentConfig(meta_iters=20),
)


@dataclass(frozen=True)
class EpisodesConfig:
    """Part I, "Tasks and episodes": drawing and inspecting tasks (no long training)."""

    n_way: int = 5
    k_shot: int = 1
    n_query: int = 5
    n_plot_tasks: int = 6  # sinusoid tasks drawn in the first figure
    n_episodes: int = 2000  # episodes sampled to show class frequencies are uniform
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


EPISODES: Preset[EpisodesConfig] = Preset(
    full=EpisodesConfig(),
    quick=EpisodesConfig(n_episodes=200),
)


@dataclass(frozen=True)
class FirstOrderConfig:
    """Part I, "First-order MAML and Reptile": MAML, FOMAML and Reptile on sinusoids.

    Same tasks and model as :class:`SinusoidConfig`. Reptile needs several inner steps
    (with one, its update is a scaled joint-training gradient) and uses an outer SGD
    step size ``reptile_epsilon`` on θ − mean θ'.
    """

    hidden: tuple[int, ...] = (40, 40)
    k_shot: int = 10
    n_query: int = 10
    inner_lr: float = 0.01
    inner_steps: int = 1
    reptile_inner_steps: int = 5
    reptile_inner_lr: float = 0.01
    reptile_epsilon: float = 1.0
    meta_lr: float = 1e-3
    meta_batch_size: int = 25
    meta_iters: int = 30_000
    eval_tasks: int = 600
    timing_steps: int = 50  # meta-steps timed per method for the cost table
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


FIRST_ORDER: Preset[FirstOrderConfig] = Preset(
    full=FirstOrderConfig(),
    quick=FirstOrderConfig(meta_iters=200, eval_tasks=100, timing_steps=5),
)


@dataclass(frozen=True)
class ProtoNetConfig:
    """Part I, "Prototypical Networks": 2-D synthetic classification episodes.

    ProtoNet and MAML are meta-trained on the same episode family and evaluated on
    the same ``eval_episodes`` test episodes.
    """

    n_way: int = 5
    k_shots: tuple[int, ...] = (1, 5)
    n_query: int = 15
    hidden: tuple[int, ...] = (64, 64)
    embed_dim: int = 16
    meta_lr: float = 1e-3
    meta_batch_size: int = 16
    meta_iters: int = 5_000
    maml_inner_lr: float = 0.1
    maml_inner_steps: int = 5
    eval_episodes: int = 600
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


PROTONET: Preset[ProtoNetConfig] = Preset(
    full=ProtoNetConfig(),
    quick=ProtoNetConfig(meta_iters=150, eval_episodes=100),
)
