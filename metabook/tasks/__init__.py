"""Task families: generators of episodes."""

from .sinusoid import SinusoidTasks

__all__ = ["SinusoidTasks"]
