"""Models. Any ``nn.Module`` works with metabook's algorithms; these are the
book's."""

from torch import nn

from .incontext import (
    InContextClassifier,
    InContextLearner,
    InContextRegressor,
    LinearSelfAttention,
)
from .mlp import MLP
from .pretrained import (
    CachedEmbeddings,
    CachedTop,
    SentenceEncoder,
    TokenStates,
    TopLayers,
    load_encoder,
)
from .transformer import (
    TransformerClassifier,
    TransformerConfig,
    TransformerEncoder,
)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """The number of scalars in ``model``'s parameters (by default only those
    with ``requires_grad``)."""
    return sum(
        p.numel()
        for p in model.parameters()
        if p.requires_grad or not trainable_only
    )


__all__ = [
    "CachedEmbeddings",
    "CachedTop",
    "SentenceEncoder",
    "TokenStates",
    "TopLayers",
    "load_encoder",
    "InContextClassifier",
    "InContextLearner",
    "InContextRegressor",
    "LinearSelfAttention",
    "MLP",
    "TransformerClassifier",
    "TransformerConfig",
    "TransformerEncoder",
    "count_parameters",
]
