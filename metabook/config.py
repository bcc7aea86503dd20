"""Run sizes: every chapter runs at *full* size (the website) or *quick* size
(tests).

A chapter never writes ``if quick: ...``. It asks its preset for the current
size::

    cfg = metabook.config.SINUSOID.get()  # SinusoidConfig, full or quick
    cfg.meta_iters  # 70_000 in full, a few hundred in quick

Quick size is selected by the environment variable ``METABOOK_QUICK=1`` (the
test suite sets it). Presets are plain frozen dataclasses, so a reader can also
build their own: ``SinusoidConfig(meta_iters=5_000)``.
"""

from __future__ import annotations

import dataclasses
import os
import pprint
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
    """A pair of configurations: what the website shows (``full``) and what
    tests run (``quick``)."""

    full: T
    quick: T

    def __post_init__(self) -> None:
        # Every configuration class has a preset: it gets a readable str() here.
        for cls in {type(self.full), type(self.quick)}:
            if dataclasses.is_dataclass(cls) and "__str__" not in vars(cls):
                cls.__str__ = describe  # type: ignore[method-assign]

    def get(self) -> T:
        """The configuration for the current size (see :func:`quick_mode`)."""
        return self.quick if quick_mode() else self.full


def describe(cfg: object, width: int = 80) -> str:
    """A dataclass as Python, one field per line, within ``width`` columns.

    It is ``str()`` of every configuration with a :class:`Preset`, so
    ``print(cfg)`` fits the page; ``repr(cfg)`` stays the one-line repr.
    """
    lines = [f"{type(cfg).__name__}("]
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        head = f"    {f.name}="
        value = pprint.pformat(
            getattr(cfg, f.name),
            width=max(20, width - len(head) - 1),
            compact=True,
            underscore_numbers=True,
        )
        lines.append(head + value.replace("\n", "\n" + " " * len(head)) + ",")
    return "\n".join(lines + [")"])


def _check_positive(cfg: object) -> None:
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if f.name in {"inner_steps", "seed"}:
                ok = value >= 0
            else:
                ok = value > 0
            if not ok:
                raise ConfigError(
                    f"{type(cfg).__name__}.{f.name}={value!r} must be positive"
                )


@dataclass(frozen=True)
class SinusoidConfig:
    """Sinusoid regression as in Finn et al. (2017), section 5.1.

    From the paper: an MLP with two hidden layers of 40 units (ReLU), K=10
    shots, one inner step with ``inner_lr`` 0.01, Adam as the meta-optimiser,
    one model trained with K=10 and tested with K = 5, 10, 20. The paper gives
    no meta-batch size, meta step size or iteration count for the sinusoids;
    these come from the authors' code (``main.py`` of ``cbfinn/maml``):
    ``meta_batch_size`` 25 and ``meta_lr`` 1e-3 are its flag defaults, 70,000
    meta-iterations is what its 10-shot sinusoid command sets, ``n_query`` = K
    because it draws 2K points per task, and 600 test tasks is its
    ``NUM_TEST_POINTS``. (Its ``update_lr`` flag, the inner step size, defaults
    to 1e-3; the MAML chapter discusses it.)
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
    # The MAML chapter: one MAML and one pretrained baseline are meta-trained
    # with k_shot, then tested with each of k_shots support points, on the same
    # eval_tasks tasks, after each number of test_steps.
    k_shots: tuple[int, ...] = (5, 10, 20)
    # table columns; curves go 0..max(test_steps)
    test_steps: tuple[int, ...] = (0, 1, 10)
    # query points per test task (the test MSE is their mean)
    test_query: int = 100
    # α at test time
    test_inner_lrs: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)
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
    """The setup chapter: how long to time meta-steps on a reader's machine."""

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
    """Part I, "Tasks and episodes": drawing and inspecting tasks (no long
    training).

    Classification episodes are drawn from letters of Unicode scripts; sinusoid
    tasks are those of :class:`SinusoidConfig`. ``inner_lr``/``inner_steps`` are
    the base-learner's few SGD steps on one sinusoid task, from a random
    initialisation.
    """

    n_way: int = 5
    k_shot: int = 1
    n_query: int = 5
    # scripts held out for meta-test (the rest are meta-training)
    n_test_classes: int = 10
    meta_batch_size: int = 4
    n_plot_tasks: int = 6  # sinusoid tasks drawn in the first figure
    sine_k_shot: int = 10
    sine_n_query: int = 10
    inner_lr: float = 0.01
    inner_steps: int = 10
    # episodes sampled to show class frequencies are uniform
    n_episodes: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


EPISODES: Preset[EpisodesConfig] = Preset(
    full=EpisodesConfig(),
    quick=EpisodesConfig(n_episodes=200),
)


@dataclass(frozen=True)
class FirstOrderConfig:
    """Part I, "First-order MAML and Reptile": MAML, FOMAML and Reptile on
    sinusoids.

    Same tasks and model as :class:`SinusoidConfig`. MAML and FOMAML train with
    ``inner_steps``; Reptile needs several inner steps (with one, its update is
    a scaled joint-training gradient) and moves θ with plain SGD of a constant
    step size ``reptile_epsilon`` along mean θ' − θ. (Nichol et al. took the
    inner steps with Adam and annealed ε linearly to 0; here every method shares
    MAML's plain SGD inner loop.) ``meta_iters`` is 30,000 instead of the 70,000
    of :class:`SinusoidConfig` (the MAML authors' sinusoid command) to keep the
    chapter's build time reasonable (the chapter prints the per-step cost); all
    methods get the same number of meta-steps.
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
    # query points per test task (its test MSE is their mean)
    test_query: int = 100
    # test-time inner steps in the "MSE vs steps" figure
    eval_max_steps: int = 10
    # meta-steps per timing round in the inner_steps sweep (median of 5 rounds)
    timing_steps: int = 20
    # memory/time sweep over inner_steps = 1..sweep_max_steps
    sweep_max_steps: int = 10
    smooth_window: int = 500  # running mean for the learning curves
    exercise_iters: int = 2_000  # meta-steps per run in the exercises
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


FIRST_ORDER: Preset[FirstOrderConfig] = Preset(
    full=FirstOrderConfig(),
    quick=FirstOrderConfig(
        meta_iters=200,
        eval_tasks=100,
        timing_steps=3,
        sweep_max_steps=3,
        smooth_window=20,
        exercise_iters=30,
    ),
)


@dataclass(frozen=True)
class ProtoNetConfig:
    """Part I, "Prototypical Networks": 2-D synthetic classification episodes.

    ProtoNet (MLP encoder ``2 -> hidden -> embed_dim``) and MAML (MLP classifier
    ``2 -> hidden -> n_way``, second-order, ``maml_inner_steps`` steps of
    ``maml_inner_lr``) are meta-trained for ``meta_iters`` steps on the same
    stream of episodes from :class:`metabook.tasks.SwirlClasses`, once per entry
    of ``k_shots``, and evaluated on the same ``eval_episodes`` test episodes.
    ``maml_inner_lr`` 0.1 did best of {0.1, 0.4, 1.0} on meta-validation classes
    (5-way 1-shot, 1,500 steps).
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


@dataclass(frozen=True)
class TransformerChapterConfig:
    """Part II, "A small Transformer from scratch": the book's text model, built
    and checked.

    The model sizes are :class:`metabook.models.TransformerConfig`'s defaults.
    The attention maps come from a classifier trained with AdamW on the
    definitions of the meta-training classes of
    :class:`metabook.tasks.WordNetDefinitions` (every class at once,
    ``batch_size`` definitions per step, ``holdout`` of them kept aside to
    measure accuracy); the first-token pooling exercise trains a second one the
    same way. ``byte_max_len`` 160 keeps ~97% of definitions whole when read as
    bytes. The MAML demonstration takes one second-order meta-step on
    ``meta_batch_size`` ``n_way``-way ``k_shot``-shot episodes;
    ``eval_episodes`` meta-test episodes measure the trained encoder as a
    prototype classifier. The words-or-bytes comparison trains one classifier
    per reading for ``unit_steps`` steps of the same recipe and tests both on
    the same ``unit_episodes`` meta-test episodes.
    """

    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    byte_max_len: int = 160
    n_way: int = 5
    k_shot: int = 1
    n_query: int = 5
    inner_lr: float = 0.1
    inner_steps: int = 1
    meta_batch_size: int = 2
    train_steps: int = 800
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    holdout: float = 0.1
    eval_episodes: int = 600
    timing_repeats: int = 10
    unit_steps: int = 60  # words or bytes: training steps of each classifier
    unit_episodes: int = 60  # ... and the meta-test episodes both are tested on
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


TRANSFORMER: Preset[TransformerChapterConfig] = Preset(
    full=TransformerChapterConfig(),
    quick=TransformerChapterConfig(
        train_steps=60,
        eval_episodes=100,
        timing_repeats=3,
        unit_steps=5,
        unit_episodes=20,
    ),
)


@dataclass(frozen=True)
class TextMetaConfig:
    """Part II, "Meta-training the Transformer": five methods and TF-IDF
    baselines on WordNet definitions.

    Concepts with at least 20 definitions are split into meta-training,
    meta-validation and meta-test concepts
    (:class:`~metabook.tasks.WordNetDefinitions`); concepts with
    ``extra_min_examples`` to 19 definitions, too few for test episodes, join
    the meta-training concepts. Every method trains the same
    :class:`~metabook.models.TransformerClassifier` (word tokens, ``d_model``
    64, 2 layers) on ``meta_batch_size`` 5-way ``train_k_shot``-shot episodes
    per step, and is tested on the same ``eval_episodes`` meta-test episodes
    for every ``k_shots`` entry. ProtoNet trains for ``meta_iters`` steps of
    Adam (``meta_lr``); MAML, FOMAML and Reptile for ``inner_loop_iters``
    steps. MAML, ProtoNet and the non-meta baseline are trained once per
    entry of ``seeds``.

    The inner loops get one tuning budget: ``tune_iters`` meta-steps per
    setting, scored on the first ``tune_episodes`` of the ``val_episodes``
    meta-validation episodes per shot (which also give the learning curves).
    MAML and FOMAML try the (α, S) pairs of ``inner_grid``, which contains
    the first, stalling try (``stall_inner_lr``, ``stall_inner_steps``);
    Reptile tries the (α, S, ε) triples of ``reptile_grid``. Reptile's outer
    step is plain SGD with ε annealed linearly to 0, as in Nichol et al.
    (2018); its inner loop is the book's plain SGD (theirs was Adam).

    The non-meta baseline pre-trains on batches of ``pretrain_batch``
    definitions for ``pretrain_iters`` steps, then fits a fresh head
    (``head_steps`` steps of ``head_lr``) per test episode. The TF-IDF
    baselines read words, or character n-grams of the lengths
    ``char_ngrams``.

    ``extra_min_examples``, ``train_k_shot`` and ``meta_iters`` were chosen
    on meta-validation concepts; the chapter reruns the comparisons that
    decided them (``ablation_iters`` steps each). Levers tried while writing
    the chapter that did not lift ProtoNet's meta-validation accuracy beyond
    about 0.01 at either shot: ``d_model`` 128, 20-way training episodes,
    and adding the taxa and instance concepts to meta-training.
    """

    n_way: int = 5
    k_shots: tuple[int, ...] = (1, 5)
    train_k_shot: int = 5
    n_query: int = 5  # per class, in meta-training episodes
    test_query: int = 15  # per class, in test episodes
    extra_min_examples: int = 10
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    meta_lr: float = 1e-3
    meta_batch_size: int = 4
    meta_iters: int = 1000
    inner_loop_iters: int = 500
    seeds: tuple[int, ...] = (0, 1, 2)
    # (inner_lr, inner_steps) for MAML and FOMAML; (inner_lr, inner_steps,
    # epsilon) for Reptile
    inner_grid: tuple[tuple[float, int], ...] = (
        (0.1, 1),
        (0.3, 1),
        (1.0, 1),
        (0.3, 5),
    )
    reptile_grid: tuple[tuple[float, int, float], ...] = (
        (0.1, 5, 1.0),
        (0.3, 5, 1.0),
        (0.1, 3, 1.0),
        (0.1, 5, 0.3),
    )
    tune_iters: int = 100
    tune_episodes: int = 50  # the first meta-validation episodes, per shot
    stall_inner_lr: float = 0.3  # the first, failing MAML setting
    stall_inner_steps: int = 5
    # inner-loop losses at initialisation
    sweep_inner_lrs: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
    probe_episodes: int = 20  # meta-validation episodes of that sweep
    pretrain_iters: int = 1500
    pretrain_batch: int = 64
    head_lr: float = 1.0
    head_steps: int = 100
    char_ngrams: tuple[int, int] = (2, 5)
    ablation_iters: int = 500
    val_episodes: int = 100
    eval_every: int = 250
    eval_episodes: int = 600
    # the benchmark's workload: 4 tasks, 5-way 1-shot, 5 inner steps
    memory_inner_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


TEXT_META: Preset[TextMetaConfig] = Preset(
    full=TextMetaConfig(),
    quick=TextMetaConfig(
        meta_iters=8,
        inner_loop_iters=4,
        tune_iters=3,
        tune_episodes=5,
        pretrain_iters=10,
        ablation_iters=4,
        probe_episodes=5,
        val_episodes=10,
        eval_every=4,
        eval_episodes=30,
        head_steps=20,
    ),
)


@dataclass(frozen=True)
class CrossLingualConfig:
    """Part II, "Cross-lingual transfer": which language is this word from?

    Words of :class:`metabook.tasks.WordLanguages` (``n_words`` per language,
    read as UTF-8 bytes cut at ``max_len``). The ``test_languages`` are fixed:
    four in the Latin script, two in Cyrillic, and Greek and Hebrew, whose
    scripts no other language of the list uses; the other 34 are split
    ``fractions[0]:fractions[1]`` into meta-training and meta-validation
    languages. A ProtoNet over a byte-level
    :class:`~metabook.models.TransformerEncoder` (``d_model``, ``n_heads``,
    ``n_layers``, ``d_ff``) is meta-trained with Adam (``meta_lr``) for
    ``meta_iters`` steps of ``meta_batch_size`` ``n_way``-way
    ``train_k_shot``-shot episodes (fewer ways when there are fewer languages),
    on ``subsets`` random sets of each of ``language_counts`` meta-training
    languages and once on all of them. Every model is tested on the same
    ``eval_episodes`` test episodes (``n_query`` queries per class) for each of
    ``k_shots``, and on ``pair_episodes`` 2-way episodes per pair of test
    languages. The byte n-gram baseline hashes n-grams into ``ngram_buckets``
    counts.

    The encoder is small (17.6k parameters) so that the ten meta-training runs
    fit the chapter's CPU budget. ``meta_iters`` was chosen on the
    meta-validation languages (3-way 5-shot, all meta-training languages, two
    runs): accuracy there rose from about 0.86 after 250 steps to about 0.88
    after 1,000 and by less than 0.02 more up to 2,000.
    """

    test_languages: tuple[str, ...] = (
        "es",
        "pt",
        "it",
        "fi",
        "uk",
        "bg",
        "el",
        "he",
    )
    n_words: int = 1000
    max_len: int = 24
    # with fixed test languages, only the first two count
    fractions: tuple[float, float, float] = (0.9, 0.1, 0.1)
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 1
    d_ff: int = 64
    n_way: int = 5
    train_k_shot: int = 5
    train_query: int = 5  # queries per class in meta-training episodes
    k_shots: tuple[int, ...] = (1, 5, 10)
    n_query: int = 10  # queries per class in test episodes
    meta_lr: float = 1e-3
    meta_batch_size: int = 4
    meta_iters: int = 1000
    # and all meta-training languages
    language_counts: tuple[int, ...] = (2, 4, 8, 16)
    subsets: int = 2
    eval_episodes: int = 600
    pair_episodes: int = 200
    ngram_buckets: int = 2048
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


CROSS_LINGUAL: Preset[CrossLingualConfig] = Preset(
    full=CrossLingualConfig(),
    quick=CrossLingualConfig(
        n_words=200,
        meta_iters=30,
        subsets=1,
        eval_episodes=100,
        pair_episodes=30,
    ),
)


@dataclass(frozen=True)
class Learn2LearnConfig:
    """Part III, "The same algorithms in learn2learn": parity and cost.

    Sinusoids as in :class:`SinusoidConfig`: an MLP with ``hidden`` layers,
    ``inner_lr``, meta-batches of ``meta_batch_size`` tasks with ``k_shot``
    support and ``n_query`` query points, Adam with ``meta_lr``. Parity is
    checked in float64 on ``parity_tasks`` tasks for each of
    ``parity_inner_steps``; then both libraries meta-train copies of the same
    MLP on the same ``train_iters`` meta-batches.

    ProtoNet reads words of :class:`~metabook.tasks.WordLanguages`
    (``n_words`` per language, bytes cut at ``max_len``) with a
    :class:`~metabook.models.TransformerEncoder` (``d_model``, ``n_heads``,
    ``n_layers``, ``d_ff``; the cross-lingual chapter's encoder). Episodes
    are ``n_way``-way ``text_k_shot``-shot with ``text_query`` queries per
    class, drawn by learn2learn's ``TaskDataset``; both sides train for
    ``proto_iters`` steps of ``proto_batch`` episodes and are tested on
    ``eval_episodes`` meta-test episodes.

    The benchmark times second-order MAML meta-steps for each meta-batch
    size in ``bench_batch_sizes`` (and ``bench_inner_steps`` inner steps at
    the largest), in ``timing_rounds`` alternating rounds of
    ``timing_repeats`` steps.
    """

    hidden: tuple[int, ...] = (40, 40)
    k_shot: int = 10
    n_query: int = 10
    inner_lr: float = 0.01
    meta_lr: float = 1e-3
    meta_batch_size: int = 25
    parity_tasks: int = 5
    parity_inner_steps: tuple[int, ...] = (1, 3)
    train_iters: int = 300
    n_words: int = 1000
    max_len: int = 24
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 1
    d_ff: int = 64
    n_way: int = 5
    text_k_shot: int = 1
    text_query: int = 5
    proto_batch: int = 4
    proto_iters: int = 100
    eval_episodes: int = 300
    bench_batch_sizes: tuple[int, ...] = (1, 5, 25)
    bench_inner_steps: int = 5
    timing_repeats: int = 10
    timing_rounds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


LEARN2LEARN: Preset[Learn2LearnConfig] = Preset(
    full=Learn2LearnConfig(),
    quick=Learn2LearnConfig(
        train_iters=20,
        n_words=200,
        proto_iters=5,
        eval_episodes=30,
        timing_repeats=2,
        timing_rounds=2,
    ),
)


@dataclass(frozen=True)
class PretrainedConfig:
    """Part III, "Meta-learning meets pre-training": methods on a frozen
    encoder.

    The encoder is all-MiniLM-L6-v2 (:mod:`metabook.models.pretrained`), run
    once per definition in bfloat16 autocast (``bf16``) and cached. Test
    episodes are Part II's: ``eval_episodes`` per ``k_shots`` entry with
    ``test_query`` queries per class (the same seeds as
    :class:`TextMetaConfig`); the accuracy-against-shots figure uses
    ``curve_query`` queries, so that every test class can serve ten shots.
    Every meta-trained method trains a linear adapter (identity at the start)
    on top of the frozen embeddings with Adam (``meta_lr``) for ``meta_iters``
    steps of ``meta_batch_size`` ``n_way``-way ``train_k_shot``-shot episodes
    with ``n_query`` queries per class, from definitions of the meta-training
    classes (at most ``train_per_class`` of each). ANIL, Proto-MAML and
    Meta-SGD adapt a linear head in their inner loops (Meta-SGD's step sizes
    learn with Adam at ``metasgd_meta_lr``). The top-layer run
    fine-tunes the encoder's last ``top_layers`` layers with ProtoNet's loss
    (``top_iters`` steps of ``top_batch`` episodes, learning rate ``top_lr``).
    The inner-loop settings, ``meta_lr`` and ``meta_iters`` were chosen on
    meta-validation classes; the chapter reruns part of that search
    (``sweep_lrs`` × ``sweep_ways``, ``sweep_iters`` steps each).
    ``scratch_iters`` steps of Part II's ProtoNet (its settings otherwise)
    give the from-scratch reference, a reduced budget that the chapter states.
    """

    n_way: int = 5
    k_shots: tuple[int, ...] = (1, 5)
    curve_shots: tuple[int, ...] = (1, 2, 5, 10)
    test_query: int = 15
    curve_query: int = 10
    eval_episodes: int = 600
    curve_episodes: int = 600
    val_episodes: int = 300
    track_episodes: int = 200  # meta-train/val/test episodes of the curves
    train_k_shot: int = 1
    n_query: int = 10
    train_per_class: int = 1000
    meta_batch_size: int = 4
    meta_lr: float = 1e-3
    meta_iters: int = 500
    eval_every: int = 50
    anil_inner_lr: float = 10.0
    anil_inner_steps: int = 5
    protomaml_inner_lr: float = 1.0
    protomaml_inner_steps: int = 5
    metasgd_inner_lr: float = 10.0
    metasgd_inner_steps: int = 5
    metasgd_meta_lr: float = 0.1  # Adam's step for Meta-SGD's step sizes
    head_lrs: tuple[float, ...] = (1.0, 10.0, 30.0)  # fit_heads, chosen on val
    head_steps: int = 100
    top_layers: int = 1
    top_iters: int = 100
    top_batch: int = 2
    top_lr: float = 1e-4
    sweep_lrs: tuple[float, ...] = (3e-4, 3e-3)
    sweep_ways: tuple[int, ...] = (5, 20)
    sweep_iters: int = 300
    scratch_iters: int = 500
    bf16: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


PRETRAINED: Preset[PretrainedConfig] = Preset(
    full=PretrainedConfig(),
    quick=PretrainedConfig(
        eval_episodes=20,
        curve_episodes=5,
        val_episodes=10,
        track_episodes=10,
        n_query=3,
        train_per_class=4,
        meta_iters=10,
        eval_every=5,
        head_steps=20,
        top_iters=2,
        sweep_iters=3,
        scratch_iters=5,
    ),
)


@dataclass(frozen=True)
class InContextConfig:
    """Part III, "The Transformer as an in-context meta-learner".

    **One gradient step.** A :class:`~metabook.models.LinearSelfAttention` layer
    is trained with Adam (``lsa_lr``, cosine decay) for ``lsa_steps`` steps of
    ``lsa_batch`` noise-free linear regression prompts in dimension ``lsa_dim``
    with ``lsa_context`` context points and ``lsa_queries`` queries, as in von
    Oswald et al. (2023). The best step size of one gradient step is fitted on
    ``eta_prompts`` training prompts.

    **The softmax Transformer** (:class:`~metabook.models.InContextRegressor`,
    ``d_model``, ``n_heads``, ``n_layers``, ``d_ff``) learns regression in
    dimension ``dim`` with noise ``noise_std``, from 1 to ``max_context``
    context points (uniform per batch), ``steps`` steps of Adam (one-cycle
    schedule peaking at ``lr``) on batches of ``batch`` prompts with ``n_query``
    queries. MAML adapts a linear model with ``maml_inner_steps`` steps of
    ``maml_inner_lr`` (the largest step size that a one-point context leaves
    stable in practice: ``2 α |x|²`` stays below 2 unless ``|x|² > 25``) and
    meta-learns its initialisation with Adam (``maml_meta_lr``) for
    ``maml_iters`` steps of ``maml_batch`` prompts. Everything is tested on the
    same ``eval_prompts`` prompts with up to ``test_context`` context points and
    ``test_query`` queries; ``x_scales`` stretch the test inputs.

    **Text.** Words → language with bytes, as in the cross-lingual chapter
    (``test_languages``, ``n_words``, ``max_len``, ``fractions``), 5-way.
    ProtoNet and MAML (one step of ``text_inner_lr``, chosen on the
    meta-validation languages: after 400 steps, 3-way 5-shot accuracy there was
    0.84, 0.86 and 0.70 for 0.3, 1.0 and 3.0) train byte-level Transformers of
    the same sizes (``enc_*``) for ``meta_iters`` steps of ``meta_batch_size``
    ``train_k_shot``-shot episodes. The in-context classifier (``icl_*``,
    ``n_symbols`` label symbols) reads the words through ProtoNet's encoder,
    frozen, and trains for ``icl_iters`` steps of ``icl_batch`` episodes; a
    second one without the copying initialisation trains ``plateau_iters``
    steps. All are tested on the same ``eval_episodes`` episodes with
    ``test_query`` queries per class, for each of ``k_shots``.
    """

    lsa_dim: int = 10
    lsa_context: int = 20
    lsa_queries: int = 10
    lsa_batch: int = 256
    lsa_steps: int = 1500
    lsa_lr: float = 3e-3
    eta_prompts: int = 4096
    dim: int = 5
    noise_std: float = 0.5
    max_context: int = 20
    n_query: int = 10
    batch: int = 64
    steps: int = 1000
    lr: float = 2e-3
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    knn_k: int = 3
    maml_inner_lr: float = 0.04
    maml_inner_steps: int = 20
    maml_iters: int = 300
    maml_batch: int = 25
    maml_meta_lr: float = 1e-2
    test_context: int = 40
    test_query: int = 20
    x_scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    eval_prompts: int = 600
    test_languages: tuple[str, ...] = (
        "es", "pt", "it", "fi", "uk", "bg", "el", "he",
    )  # fmt: skip
    n_words: int = 1000
    max_len: int = 24
    fractions: tuple[float, float, float] = (0.9, 0.1, 0.1)
    enc_d_model: int = 32
    enc_n_heads: int = 2
    enc_n_layers: int = 1
    enc_d_ff: int = 64
    n_way: int = 5
    train_k_shot: int = 5
    train_query: int = 5
    k_shots: tuple[int, ...] = (1, 5, 10)
    text_query: int = 10
    meta_lr: float = 1e-3
    meta_batch_size: int = 4
    meta_iters: int = 500
    text_inner_lr: float = 1.0
    text_inner_steps: int = 1
    n_symbols: int = 10
    icl_d_model: int = 64
    icl_n_heads: int = 4
    icl_n_layers: int = 2
    icl_d_ff: int = 128
    icl_batch: int = 8
    icl_iters: int = 1000
    icl_lr: float = 1e-3
    plateau_iters: int = 300
    eval_episodes: int = 600
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self)


IN_CONTEXT: Preset[InContextConfig] = Preset(
    full=InContextConfig(),
    quick=InContextConfig(
        lsa_steps=100,
        eta_prompts=512,
        steps=40,
        maml_iters=10,
        test_context=30,
        eval_prompts=100,
        n_words=200,
        meta_iters=10,
        icl_iters=30,
        plateau_iters=10,
        eval_episodes=100,
    ),
)
