"""Models. Any ``nn.Module`` works with metabook's algorithms; these are the book's."""

from .mlp import MLP

__all__ = ["MLP"]
