"""Hand-written references the tests compare metabook against.

They avoid torch.func entirely: an explicit MLP forward on a list of weight
tensors and a per-task Python loop with
``torch.autograd.grad(create_graph=True)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mlp_forward(weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``weights`` = [W1, b1, W2, b2, ...] in ``model.parameters()`` order."""
    pairs = list(zip(weights[0::2], weights[1::2]))
    for w, b in pairs[:-1]:
        x = torch.relu(x @ w.T + b)
    w, b = pairs[-1]
    return x @ w.T + b


def adapt_loop(weights, x, y, inner_lr, inner_steps, first_order):
    fast = list(weights)
    for _ in range(inner_steps):
        loss = F.mse_loss(mlp_forward(fast, x), y)
        grads = torch.autograd.grad(loss, fast, create_graph=not first_order)
        fast = [w - inner_lr * g for w, g in zip(fast, grads)]
    return fast


def maml_meta_loss(weights, batch, inner_lr, inner_steps, first_order=False):
    """Mean query loss over tasks, one task at a time."""
    total = 0.0
    for i in range(batch.meta_batch_size):
        fast = adapt_loop(
            weights,
            batch.support_x[i],
            batch.support_y[i],
            inner_lr,
            inner_steps,
            first_order,
        )
        total = total + F.mse_loss(
            mlp_forward(fast, batch.query_x[i]), batch.query_y[i]
        )
    return total / batch.meta_batch_size


def maml_meta_gradient(model, batch, inner_lr, inner_steps, first_order=False):
    weights = list(model.parameters())
    loss = maml_meta_loss(weights, batch, inner_lr, inner_steps, first_order)
    return torch.autograd.grad(loss, weights)
