"""metabook: the meta-learning implementations behind the book.

The package a reader can read in an evening: an episode type and sampler, task
families, a functional inner loop, MAML / FOMAML / Reptile / ProtoNet on top of
it, a training loop and an evaluator with confidence intervals.
"""

from . import checks, config
from .algorithms import (
    ANIL,
    MAML,
    FineTuneBaseline,
    GradientLearner,
    JointTraining,
    MetaSGD,
    ProtoMAML,
    ProtoNet,
    Reptile,
)
from .device import get_device, set_seed
from .episode import Episode
from .errors import (
    ConfigError,
    DeviceError,
    EpisodeError,
    MetabookError,
    MissingDataError,
    NonFiniteLossError,
)
from .evaluate import (
    Estimate,
    evaluate,
    evaluate_per_task,
    mean_ci,
    paired_difference,
)
from .inner import adapt, adapt_batch
from .models import MLP
from .profiling import Cost, measure, peak_memory, seconds_per_call
from .sampler import EpisodeSampler
from .tasks import SinusoidTasks
from .train import History, meta_train

__version__ = "0.1.0"


def __getattr__(name: str):
    # metabook.plotting needs matplotlib (the "book" extra): loaded on first
    # use only.
    if name == "plotting":
        import importlib

        return importlib.import_module(".plotting", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ANIL",
    "MAML",
    "MetaSGD",
    "ProtoMAML",
    "MLP",
    "ConfigError",
    "DeviceError",
    "Episode",
    "EpisodeError",
    "EpisodeSampler",
    "Estimate",
    "FineTuneBaseline",
    "GradientLearner",
    "History",
    "JointTraining",
    "MetabookError",
    "MissingDataError",
    "NonFiniteLossError",
    "ProtoNet",
    "Reptile",
    "SinusoidTasks",
    "adapt",
    "adapt_batch",
    "Cost",
    "measure",
    "peak_memory",
    "seconds_per_call",
    "checks",
    "config",
    "evaluate",
    "evaluate_per_task",
    "get_device",
    "mean_ci",
    "paired_difference",
    "meta_train",
    "set_seed",
]
