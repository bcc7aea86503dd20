"""Meta-learning algorithms, one per file: Reptile is in ``reptile.py``."""

from .anil import ANIL, BodyHead
from .base import GradientLearner, StepOutput, TaskOutputs, default_loss
from .finetune import FineTuneBaseline, fit_heads
from .maml import MAML
from .metasgd import MetaSGD, step_sizes
from .pretrain import JointTraining
from .protomaml import ProtoMAML, PrototypeHead, prototype_head
from .protonet import ProtoNet, prototypes, squared_distances
from .reptile import Reptile

__all__ = [
    "ANIL",
    "BodyHead",
    "MetaSGD",
    "PrototypeHead",
    "ProtoMAML",
    "prototype_head",
    "step_sizes",
    "FineTuneBaseline",
    "GradientLearner",
    "JointTraining",
    "MAML",
    "ProtoNet",
    "Reptile",
    "StepOutput",
    "TaskOutputs",
    "default_loss",
    "fit_heads",
    "prototypes",
    "squared_distances",
]
