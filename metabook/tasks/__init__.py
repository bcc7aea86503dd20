"""Task families: generators of episodes."""

from .sinusoid import SinusoidTasks
from .swirl import ClassPoints, Splits, SwirlClasses, swirl, unswirl

__all__ = ["ClassPoints", "SinusoidTasks", "Splits", "SwirlClasses", "swirl", "unswirl"]
