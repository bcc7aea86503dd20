"""Any model a reader brings, and one clear error for every mistake.

Models: frozen parameters, unused parameters and normalisation layers, each
checked against a per-task reference written here (a Python loop over tasks with
``torch.autograd.grad``, no ``torch.func``). Mistakes: each raises a metabook
error at the user's call, whose short message names the offending value.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import metabook as mb

# ------------------------------------------------------------------ models


class FrozenBody(nn.Module):
    """A body (optionally frozen), a head, and an auxiliary head never used."""

    def __init__(self, freeze: bool, aux: bool) -> None:
        super().__init__()
        self.body = nn.Linear(1, 16)
        self.head = nn.Linear(16, 1)
        self.aux = nn.Linear(16, 3) if aux else None
        if freeze:
            self.body.requires_grad_(False)

    def forward(self, x):
        return self.head(torch.tanh(self.body(x)))


def reference(model, batch, inner_lr, steps, first_order, loss=F.mse_loss):
    """Per-task MAML: adapt the trainable parameters, keep the others fixed.

    Returns the meta-loss and its gradient w.r.t. every trainable parameter
    (zero where a parameter does not reach the loss).
    """
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    theta = dict(model.named_parameters())
    total = 0.0
    for i in range(batch.meta_batch_size):
        fast = dict(theta)
        for _ in range(steps):
            out = torch.func.functional_call(model, fast, (batch.support_x[i],))
            grads = torch.autograd.grad(
                loss(out, batch.support_y[i]),
                [fast[k] for k in names],
                create_graph=not first_order,
                allow_unused=True,
            )
            for k, g in zip(names, grads):
                if g is not None:
                    fast[k] = fast[k] - inner_lr * g
        out = torch.func.functional_call(model, fast, (batch.query_x[i],))
        total = total + loss(out, batch.query_y[i])
    meta = total / batch.meta_batch_size
    grads = torch.autograd.grad(
        meta, [theta[k] for k in names], allow_unused=True
    )
    return meta, {
        k: torch.zeros_like(theta[k]) if g is None else g
        for k, g in zip(names, grads)
    }


def sinusoid_batch(seed=0, tasks=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return mb.SinusoidTasks().sample(tasks, 5, 5, g, dtype=dtype)


def meta_grads(model):
    return {
        k: torch.zeros_like(p) if p.grad is None else p.grad
        for k, p in model.named_parameters()
        if p.requires_grad
    }


@pytest.mark.parametrize(
    "freeze,aux", [(True, False), (False, True), (True, True)]
)
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 3])
def test_maml_frozen_and_unused_parameters(freeze, aux, first_order, steps):
    torch.manual_seed(0)
    model = FrozenBody(freeze, aux).double()
    batch = sinusoid_batch()
    frozen_before = model.body.weight.detach().clone()
    maml = mb.MAML(model, 0.1, steps, first_order=first_order)
    out = maml.backward(batch)
    ref_loss, ref_grads = reference(model, batch, 0.1, steps, first_order)
    torch.testing.assert_close(out.loss, ref_loss.detach(), rtol=1e-12, atol=0)
    for k, g in meta_grads(model).items():
        torch.testing.assert_close(g, ref_grads[k], rtol=1e-10, atol=1e-14)
    if freeze:
        assert model.body.weight.grad is None
        assert torch.equal(model.body.weight, frozen_before)
    if aux:  # unused: a zero inner gradient, so it stays at θ in every task
        adapted = maml.run_tasks(batch).adapted
        assert torch.equal(adapted["aux.weight"][0], model.aux.weight)


@pytest.mark.parametrize("freeze,aux", [(True, False), (False, True)])
def test_reptile_frozen_and_unused_parameters(freeze, aux):
    torch.manual_seed(0)
    model = FrozenBody(freeze, aux).double()
    batch = sinusoid_batch()
    theta = {k: p.detach().clone() for k, p in model.named_parameters()}
    mb.Reptile(model, 0.1, 3).backward(batch)
    expected = {k: torch.zeros_like(v) for k, v in theta.items()}
    trainable = [k for k, p in model.named_parameters() if p.requires_grad]
    for i in range(batch.meta_batch_size):  # plain SGD on each task, by hand
        fast = {
            k: v.clone().requires_grad_(k in trainable)
            for k, v in theta.items()
        }
        for _ in range(3):
            out = torch.func.functional_call(model, fast, (batch.support_x[i],))
            loss = F.mse_loss(out, batch.support_y[i])
            grads = torch.autograd.grad(
                loss, [fast[k] for k in trainable], allow_unused=True
            )
            fast = dict(fast)
            for k, g in zip(trainable, grads):
                if g is not None:
                    step = (fast[k] - 0.1 * g).detach().requires_grad_()
                    fast[k] = step
        for k in trainable:
            expected[k] += (theta[k] - fast[k].detach()) / batch.meta_batch_size
    for k, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(
                p.grad, expected[k], rtol=1e-10, atol=1e-14
            )
        else:
            assert p.grad is None


def test_adapt_keeps_frozen_parameters_and_returns_them():
    torch.manual_seed(0)
    model = FrozenBody(True, False).double()
    episode = sinusoid_batch()[0]
    adapted = mb.MAML(model, 0.1, 2).adapt(episode)
    assert set(adapted) == set(dict(model.named_parameters()))
    assert torch.equal(adapted["body.weight"], model.body.weight)
    assert not torch.equal(adapted["head.weight"], model.head.weight)


def test_transformer_with_frozen_embedding_table():
    """A frozen embedding table, per-task rows on and off: the same
    meta-gradient."""
    torch.manual_seed(0)
    model = mb.models.TransformerClassifier(
        30, n_way=3, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=6
    ).double()
    model.encoder.tok_emb.weight.requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    batch = mb.Episode(
        torch.randint(1, 30, (2, 3, 6), generator=g),
        torch.arange(3).repeat(2, 1),
        torch.randint(1, 30, (2, 6, 6), generator=g),
        torch.arange(3).repeat_interleave(2).repeat(2, 1),
        batched=True,
    )
    grads = []
    for localize in (True, False):
        model.zero_grad()
        maml = mb.MAML(model, 0.3, 2)
        maml.localize = localize
        maml.backward(batch)
        grads.append(meta_grads(model))
    _, ref = reference(model, batch, 0.3, 2, False, loss=F.cross_entropy)
    for k in ref:
        torch.testing.assert_close(grads[0][k], ref[k], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(grads[1][k], ref[k], rtol=1e-9, atol=1e-12)
    assert model.encoder.tok_emb.weight.grad is None


def test_every_parameter_frozen_is_a_config_error():
    model = FrozenBody(True, False).requires_grad_(False)
    maml = mb.MAML(model, 0.1)
    with pytest.raises(mb.ConfigError, match="nothing to adapt"):
        maml.backward(sinusoid_batch(dtype=torch.float32))


class WithNorm(nn.Module):
    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.inp = nn.Linear(1, 8)
        self.norm = norm
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(torch.relu(self.norm(self.inp(x))))


@pytest.mark.parametrize("learner", [mb.MAML, mb.Reptile, mb.JointTraining])
def test_batchnorm_with_running_stats_is_refused_at_construction(learner):
    with pytest.raises(
        mb.ConfigError,
        match=r"model\.norm \(BatchNorm1d\).*track_running_stats=False",
    ):
        learner(WithNorm(nn.BatchNorm1d(8)), inner_lr=0.1)


def test_batchnorm_without_running_stats_matches_reference():
    """Per-task statistics: each forward pass normalises with its own batch."""
    torch.manual_seed(0)
    model = WithNorm(nn.BatchNorm1d(8, track_running_stats=False)).double()
    batch = sinusoid_batch()
    maml = mb.MAML(model, 0.05, 2)
    maml.backward(batch)
    _, ref = reference(model, batch, 0.05, 2, False)
    for k, g in meta_grads(model).items():
        torch.testing.assert_close(g, ref[k], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ errors
SHORT = 300  # characters: a message, not a tensor dump


def raises(error, pattern, fn, *args, **kwargs):
    with pytest.raises(error, match=pattern) as info:
        fn(*args, **kwargs)
    assert len(str(info.value)) < SHORT, str(info.value)
    return info.value


def classification_batch(n_way=3, tasks=2, in_dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return mb.Episode(
        torch.randn(tasks, n_way, in_dim, generator=g),
        torch.arange(n_way).repeat(tasks, 1),
        torch.randn(tasks, 2 * n_way, in_dim, generator=g),
        torch.arange(n_way).repeat_interleave(2).repeat(tasks, 1),
        batched=True,
    )


def with_label(batch, side, value):
    y = getattr(batch, f"{side}_y").clone()
    y[1, 0] = value
    fields = {
        "support_x": batch.support_x,
        "support_y": batch.support_y,
        "query_x": batch.query_x,
        "query_y": batch.query_y,
    }
    fields[f"{side}_y"] = y
    return mb.Episode(**fields, batched=True)


def learners():
    torch.manual_seed(0)
    mlp = mb.MLP(in_dim=4, out_dim=3, hidden=(8,))
    return {
        "MAML": lambda: mb.MAML(mlp, 0.1),
        "FOMAML": lambda: mb.MAML(mlp, 0.1, first_order=True),
        "Reptile": lambda: mb.Reptile(mlp, 0.1, 2),
        "JointTraining": lambda: mb.JointTraining(mlp, 0.1),
        "ProtoNet": lambda: mb.ProtoNet(
            mb.MLP(in_dim=4, out_dim=8, hidden=(8,))
        ),
    }


@pytest.mark.parametrize("name", list(learners()))
@pytest.mark.parametrize("side", ["support", "query"])
@pytest.mark.parametrize("label", [-1, 3, 7])
def test_labels_outside_n_way(name, side, label):
    learner = learners()[name]()
    batch = with_label(classification_batch(), side, label)
    if name == "ProtoNet" and side == "support" and label > 0:
        # ProtoNet's classes are those of the support set: now one is missing
        pattern = r"class \d of n_way=\d has no support example"
    else:
        pattern = rf"{side}_y holds the label {label}, outside 0\.\.2"
    raises(mb.EpisodeError, pattern, learner.backward, batch)
    if name != "JointTraining":
        raises(mb.EpisodeError, pattern, learner.task_metrics, batch)


def test_fine_tune_baseline_checks_query_labels():
    encoder = mb.MLP(in_dim=4, out_dim=8, hidden=(8,))
    baseline = mb.FineTuneBaseline(encoder, n_classes=5)
    batch = with_label(classification_batch(), "query", 3)
    raises(
        mb.EpisodeError,
        r"query_y holds the label 3, outside "
        r"0\.\.2",
        baseline.task_metrics,
        batch,
    )


def token_batch(vocab=30, bad=None, side="support"):
    g = torch.Generator().manual_seed(0)
    sx = torch.randint(1, vocab, (2, 3, 6), generator=g)
    qx = torch.randint(1, vocab, (2, 6, 6), generator=g)
    if bad is not None:
        (sx if side == "support" else qx)[1, 0, 2] = bad
    return mb.Episode(
        sx,
        torch.arange(3).repeat(2, 1),
        qx,
        torch.arange(3).repeat_interleave(2).repeat(2, 1),
        batched=True,
    )


@pytest.mark.parametrize("bad", [-1, 30, 1000])
@pytest.mark.parametrize("side", ["support", "query"])
@pytest.mark.parametrize("path", ["rows", "full", "protonet", "direct"])
def test_token_ids_outside_vocabulary(bad, side, path):
    model = mb.models.TransformerClassifier(
        30, n_way=3, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=6
    )
    batch = token_batch(bad=bad, side=side)
    pattern = (
        rf"{side}_x holds the token id {bad}, outside the vocabulary 0\.\.29"
    )
    if path == "protonet":
        raises(
            mb.EpisodeError, pattern, mb.ProtoNet(model.encoder).backward, batch
        )
    elif path == "direct":
        pattern = rf"tokens holds the token id {bad}, outside the vocabulary"
        raises(mb.EpisodeError, pattern, model, getattr(batch, f"{side}_x")[1])
    else:
        maml = mb.MAML(model, 0.3)
        maml.localize = path == "rows"
        raises(mb.EpisodeError, pattern, maml.backward, batch)


@pytest.mark.parametrize("fast_path", [True, False])
def test_feature_size_mismatch(fast_path):
    model = mb.MLP(in_dim=1)
    maml = mb.MAML(model, 0.01)
    if not fast_path:  # a buffer turns the hand-batched fast path off
        model.register_buffer("scale", torch.ones(()))
    batch = classification_batch(in_dim=3)
    batch = mb.Episode(
        batch.support_x,
        batch.support_x[..., :1].clone(),
        batch.query_x,
        batch.query_x[..., :1].clone(),
        batched=True,
    )
    raises(
        mb.EpisodeError,
        r"support_x has shape \(2, 3, "
        r"3\).*in_dim=1",
        maml.backward,
        batch,
    )


@pytest.mark.parametrize(
    "lr,pattern",
    [
        (lambda p: {k: 0.1 for k in list(p)[:-1]}, r"misses layers\.2\.bias"),
        (
            lambda p: {**{k: 0.1 for k in p}, "oops": 0.1},
            r"not adapted "
            r"parameters: oops",
        ),
        (
            lambda p: (
                {k: torch.full_like(v, 0.1) for k, v in p.items()}
                | {"layers.0.weight": torch.ones(7)}
            ),
            r"inner_lr\['layers\.0\.weight'\] has shape \(7,\)",
        ),
        (
            lambda p: {
                k: torch.full_like(v, float("nan")) for k, v in p.items()
            },
            r"holds nan/inf",
        ),
    ],
)
def test_per_parameter_inner_lr_mistakes(lr, pattern):
    model = mb.MLP()
    raises(
        mb.ConfigError,
        pattern,
        mb.MAML,
        model,
        lr(dict(model.named_parameters())),
    )


def test_per_parameter_inner_lr_short_repr_and_same_result_as_float():
    torch.manual_seed(0)
    model = mb.MLP().double()
    batch = sinusoid_batch()
    lr = {k: torch.full_like(p, 0.01) for k, p in model.named_parameters()}
    a = mb.MAML(model, lr, 2)
    assert len(repr(a)) < 80
    b = mb.MAML(model, 0.01, 2)
    torch.testing.assert_close(
        a.meta_loss(batch), b.meta_loss(batch), rtol=1e-12, atol=0
    )


def test_frozen_parameters_take_no_per_parameter_lr():
    model = FrozenBody(True, False)
    lr = {k: 0.1 for k in ("head.weight", "head.bias")}
    mb.MAML(model, lr).backward(sinusoid_batch(dtype=torch.float32))
    raises(
        mb.ConfigError,
        r"not adapted parameters: body\.bias, "
        r"body\.weight",
        mb.MAML,
        model,
        {k: 0.1 for k, _ in model.named_parameters()},
    )


@pytest.mark.parametrize(
    "value", [float("inf"), float("nan"), 0.0, -0.1, True, "0.1"]
)
def test_bad_inner_lr(value):
    raises(
        mb.ConfigError,
        r"inner_lr=.* must be a positive, finite "
        r"number",
        mb.MAML,
        mb.MLP(),
        value,
    )


@pytest.mark.parametrize(
    "seed,pattern",
    [
        (
            2**64,
            r"seed=18446744073709551616 "
            r"must be in",
        ),
        (-1, r"seed=-1 must be in"),
        (1.5, r"seed=1\.5 must be an int"),
    ],
)
def test_bad_seed_seeds_nothing(seed, pattern):
    mb.set_seed(7)
    state = (
        random.getstate(),
        np.random.get_state()[1].copy(),
        torch.get_rng_state(),
    )
    raises(mb.ConfigError, pattern, mb.set_seed, seed)
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert torch.equal(torch.get_rng_state(), state[2])
    mb.set_seed(2**64 - 1)  # the largest torch takes


# -------------------------------------------------------- non-finite values
@pytest.mark.parametrize(
    "tensor", ["support_x", "query_x", "support_y", "query_y"]
)
@pytest.mark.parametrize("learner", ["MAML", "Reptile"])
def test_nan_in_regression_inputs_is_named(tensor, learner):
    batch = sinusoid_batch(dtype=torch.float32)
    getattr(batch, tensor)[2, 1] = float("nan")
    model = mb.MLP()
    algo = (
        mb.MAML(model, 0.01)
        if learner == "MAML"
        else mb.Reptile(model, 0.01, 2)
    )
    raises(
        mb.EpisodeError,
        rf"episode\.{tensor} contains nan \(task "
        r"2\)",
        algo.backward,
        batch,
    )
    raises(
        mb.EpisodeError,
        rf"episode\.{tensor} contains "
        r"nan",
        mb.evaluate,
        algo,
        batch,
    )


@pytest.mark.parametrize("tensor", ["support_x", "query_x"])
def test_inf_in_protonet_inputs_is_named(tensor):
    batch = classification_batch()
    getattr(batch, tensor)[0, 1, 2] = float("inf")
    protonet = mb.ProtoNet(mb.MLP(in_dim=4, out_dim=8, hidden=(8,)))
    raises(
        mb.EpisodeError,
        rf"episode\.{tensor} contains inf \(task "
        r"0\)",
        protonet.backward,
        batch,
    )
    raises(
        mb.EpisodeError,
        rf"episode\.{tensor} contains "
        r"inf",
        mb.evaluate,
        protonet,
        batch,
    )


def test_inner_lr_too_large_blames_inner_lr():
    batch = sinusoid_batch(dtype=torch.float32)
    for steps, where in (
        (3, "support loss became"),
        (1, "query loss after adaptation"),
    ):
        maml = mb.MAML(mb.MLP(), 1e30, steps)
        err = raises(mb.NonFiniteLossError, where, maml.backward, batch)
        assert "lower inner_lr" in str(err) and "meta_lr" not in str(err)


class BlowUp(torch.optim.Optimizer):
    """An outer optimiser whose step ruins θ (as a too large meta_lr would)."""

    def __init__(self, params):
        super().__init__(params, {})

    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.data.fill_(float("nan"))


@pytest.mark.parametrize("learner", ["MAML", "ProtoNet"])
def test_outer_step_blowing_up_is_blamed_on_meta_lr(learner):
    if learner == "MAML":
        algo = mb.MAML(mb.MLP(), 0.01)
        tasks = mb.SinusoidTasks()
        sample = lambda: tasks.sample(4, 5, 5)  # noqa: E731
    else:
        algo = mb.ProtoNet(mb.MLP(in_dim=4, out_dim=8, hidden=(8,)))
        sample = classification_batch
    err = raises(
        mb.NonFiniteLossError,
        r"meta-iteration 2: .*lower "
        r"meta_lr",
        mb.meta_train,
        algo,
        sample,
        BlowUp(algo.model.parameters()),
        5,
        progress=False,
    )
    assert "lower inner_lr" not in str(err)


def test_protonet_overflowing_embeddings():
    protonet = mb.ProtoNet(mb.MLP(in_dim=4, out_dim=8, hidden=(8,)))
    with torch.no_grad():
        for p in protonet.model.parameters():
            p.fill_(1e15)
    raises(
        mb.NonFiniteLossError,
        r"the query loss is .*embeddings "
        r"overflow",
        protonet.backward,
        classification_batch(),
    )


def test_meta_train_checks_learners_that_do_not_check():
    class Silent:
        def __init__(self):
            self.model = nn.Linear(1, 1)

        def backward(self, batch):
            loss = self.model(batch.support_x).sum() * float("nan")
            loss.backward()
            return mb.algorithms.StepOutput(loss.detach(), {})

    learner = Silent()
    raises(
        mb.NonFiniteLossError,
        r"meta-iteration 1: the meta-loss is "
        r"nan",
        mb.meta_train,
        learner,
        lambda: sinusoid_batch(dtype=torch.float32),
        torch.optim.SGD(learner.model.parameters(), 0.1),
        3,
        progress=False,
    )


def test_evaluate_on_zero_tasks():
    maml = mb.MAML(mb.MLP(), 0.01)
    empty = sinusoid_batch(dtype=torch.float32)[0:0]
    raises(
        mb.ConfigError, "episodes holds 0 test tasks", mb.evaluate, maml, empty
    )
    raises(
        mb.ConfigError,
        "episodes holds 0 test tasks",
        mb.evaluate_per_task,
        maml,
        empty,
    )
