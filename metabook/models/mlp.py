"""A small fully connected network: the sinusoid learner of Finn et al. (2017)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """``in_dim -> hidden... -> out_dim`` with ReLU between layers.

    Args:
        in_dim: input features.
        out_dim: outputs (1 for regression, ``n_way`` for classification).
        hidden: sizes of the hidden layers; the paper's sinusoid model is ``(40, 40)``.
    """

    def __init__(self, in_dim: int = 1, out_dim: int = 1, hidden: Sequence[int] = (40, 40)) -> None:
        super().__init__()
        sizes = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor) -> Tensor:  # x: (..., in_dim) -> (..., out_dim)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
