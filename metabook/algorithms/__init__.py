"""Meta-learning algorithms. One per file: where is Reptile? In ``reptile.py``."""

from .base import GradientLearner, StepOutput, TaskOutputs, default_loss
from .finetune import FineTuneBaseline, fit_heads
from .maml import MAML
from .pretrain import JointTraining
from .protonet import ProtoNet, prototypes, squared_distances
from .reptile import Reptile

__all__ = [
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
