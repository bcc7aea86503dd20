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
    # The MAML chapter: one MAML and one pretrained baseline are meta-trained per k_shot
    # and tested on the same eval_tasks tasks after each number of test_steps.
    k_shots: tuple[int, ...] = (5, 10, 20)
    test_steps: tuple[int, ...] = (0, 1, 10)  # table columns; curves go 0..max(test_steps)
    test_query: int = 100  # query points per test task (the test MSE is their mean)
    test_inner_lrs: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)  # α at test time
    fd_directions: int = 5  # random directions of the finite-difference check
    timing_repeats: int = 20  # calls per timing round (loop vs vectorised)

    def __post_init__(self) -> None:
        _check_positive(self)


SINUSOID: Preset[SinusoidConfig] = Preset(
    full=SinusoidConfig(),
    quick=SinusoidConfig(meta_iters=300, eval_tasks=100, timing_repeats=5),
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
    """Part I, "Tasks and episodes": drawing and inspecting tasks (no long training).

    Classification episodes are drawn from letters of Unicode scripts; sinusoid tasks
    are those of :class:`SinusoidConfig`. ``inner_lr``/``inner_steps`` are the
    base-learner's few SGD steps on one sinusoid task, from a random initialisation.
    """

    n_way: int = 5
    k_shot: int = 1
    n_query: int = 5
    n_test_classes: int = 10  # scripts held out for meta-test (the rest are meta-training)
    meta_batch_size: int = 4
    n_plot_tasks: int = 6  # sinusoid tasks drawn in the first figure
    sine_k_shot: int = 10
    sine_n_query: int = 10
    inner_lr: float = 0.01
    inner_steps: int = 10
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

    Same tasks and model as :class:`SinusoidConfig`. MAML and FOMAML train with
    ``inner_steps``; Reptile needs several inner steps (with one, its update is a
    scaled joint-training gradient) and moves θ with plain SGD of step size
    ``reptile_epsilon`` along mean θ' − θ. ``meta_iters`` is 30,000 instead of the
    paper's 70,000 to keep the chapter's build time reasonable (the chapter prints
    the per-step cost); all methods get the same number of meta-steps.
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
    test_query: int = 100  # query points per test task (its test MSE is their mean)
    eval_max_steps: int = 10  # test-time inner steps in the "MSE vs steps" figure
    timing_steps: int = 20  # meta-steps per timing round in the inner_steps sweep (median of 5 rounds)
    sweep_max_steps: int = 10  # memory/time sweep over inner_steps = 1..sweep_max_steps
    smooth_window: int = 500  # running mean for the learning curves
    exercise_iters: int = 2_000  # meta-steps per run in the exercises
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


FIRST_ORDER: Preset[FirstOrderConfig] = Preset(
    full=FirstOrderConfig(),
    quick=FirstOrderConfig(
        meta_iters=200, eval_tasks=100, timing_steps=3, sweep_max_steps=3, smooth_window=20, exercise_iters=30,
    ),
)


@dataclass(frozen=True)
class ProtoNetConfig:
    """Part I, "Prototypical Networks": 2-D synthetic classification episodes.

    ProtoNet (MLP encoder ``2 -> hidden -> embed_dim``) and MAML (MLP classifier
    ``2 -> hidden -> n_way``, second-order, ``maml_inner_steps`` steps of
    ``maml_inner_lr``) are meta-trained for ``meta_iters`` steps on the same stream of
    episodes from :class:`metabook.tasks.SwirlClasses`, once per entry of ``k_shots``,
    and evaluated on the same ``eval_episodes`` test episodes. ``maml_inner_lr`` 0.1
    did best of {0.1, 0.4, 1.0} on meta-validation classes (5-way 1-shot, 1,500 steps).
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
