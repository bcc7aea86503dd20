"""In-context learners: masks, the gradient-step construction, shapes,
invariances, errors and two small learning tests."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import metabook as mb
from metabook.errors import ConfigError, EpisodeError
from metabook.models import (
    InContextClassifier,
    InContextLearner,
    InContextRegressor,
    LinearSelfAttention,
)
from metabook.models.incontext import (
    LABEL,
    QUERY,
    context_mask,
    draw_symbols,
    effective_matrix,
    episode_mask,
    regression_tokens,
    sequence_layout,
    with_symbols,
)
from metabook.tasks import LinearRegressionTasks
from metabook.tasks.regression import knn_predict, ridge_predict

# ---------------------------------------------------------------- masks


def test_context_mask_lets_queries_read_the_context_and_themselves():
    allowed = context_mask(3, 2)
    assert allowed.shape == (5, 5) and allowed.dtype == torch.bool
    assert allowed[:, :3].all()  # everybody reads the context
    assert not allowed[:3, 3:].any()  # the context never reads a query
    assert allowed[3, 3] and allowed[4, 4]
    assert not allowed[3, 4] and not allowed[4, 3]  # queries never meet


def test_episode_mask_binds_each_label_to_its_example():
    allowed = episode_mask(3, 2)
    kinds = sequence_layout(3, 2)
    assert kinds.tolist() == [0, 1, 0, 1, 0, 1, 2, 2]
    for i in torch.nonzero(kinds == LABEL).flatten().tolist():
        assert torch.nonzero(allowed[i]).flatten().tolist() == [i - 1, i]
    for i in (0, 2, 4):  # examples read the whole support set, no query
        assert allowed[i, :6].all() and not allowed[i, 6:].any()
    queries = torch.nonzero(kinds == QUERY).flatten()
    assert allowed[queries][:, :6].all()
    assert allowed[6, 6] and allowed[7, 7]
    assert not allowed[6, 7] and not allowed[7, 6]


@pytest.mark.parametrize(
    "call",
    [lambda: context_mask(0, 2), lambda: episode_mask(2, -1)],
    ids=["no-context", "negative-queries"],
)
def test_masks_reject_bad_sizes(call):
    with pytest.raises(ConfigError):
        call()


# --------------------------------------------------- linear self-attention


def _prompts(d=4, n=7, q=3, b=5, seed=0, dtype=torch.float64):
    tasks = LinearRegressionTasks(d)
    return tasks.sample(b, n, q, torch.Generator().manual_seed(seed), dtype)


def test_lsa_matches_its_formula():
    torch.manual_seed(0)
    layer = LinearSelfAttention(3).double()
    ep = _prompts(d=3)
    tokens = regression_tokens(ep.support_x, ep.support_y, ep.query_x)
    N = ep.n_support
    Wq, Wk, Wv, P = (
        m.weight for m in (layer.query, layer.key, layer.value, layer.proj)
    )
    expected = tokens.clone()
    for j in range(tokens.shape[1]):
        ej = tokens[:, j]  # (B, D)
        total = 0
        for i in range(N):
            ei = tokens[:, i]
            score = ((ei @ Wk.T) * (ej @ Wq.T)).sum(-1, keepdim=True)
            total = total + score * (ei @ Wv.T @ P.T)
        expected[:, j] = ej + total / N
    torch.testing.assert_close(layer(tokens, N), expected)


def test_gradient_step_construction_is_one_step_of_gd_and_of_maml():
    d, eta = 4, 0.37
    ep = _prompts(d=d, dtype=torch.float32)
    layer = LinearSelfAttention.gradient_step(d, eta)
    with torch.no_grad():
        pred = layer.predict(ep.support_x, ep.support_y, ep.query_x)
    w = eta * (ep.support_x * ep.support_y).mean(1)  # (B, d)
    torch.testing.assert_close(pred, ep.query_x @ w.unsqueeze(-1))
    linear = nn.Linear(d, 1, bias=False)
    nn.init.zeros_(linear.weight)
    maml = mb.MAML(linear, inner_lr=eta / 2, inner_steps=1)
    with torch.no_grad():
        by_maml = maml.run_tasks(ep, first_order=True).query_output
    torch.testing.assert_close(by_maml, pred, rtol=1e-5, atol=1e-6)
    M, even = effective_matrix(layer)
    torch.testing.assert_close(M, eta * torch.eye(d))
    assert even.abs().max() == 0


def test_effective_matrix_predicts_and_ignores_rescaling():
    torch.manual_seed(1)
    layer = LinearSelfAttention(3).double()
    ep = _prompts(d=3)
    M, even = effective_matrix(layer)
    assert M.shape == (3, 3) and even.shape == (3 * 3 * 3 + 3,)
    # the odd part of the prediction is (1/N) sum_i y_i x_i^T M x_q
    flipped = layer.predict(ep.support_x, -ep.support_y, ep.query_x)
    odd = (layer.predict(ep.support_x, ep.support_y, ep.query_x) - flipped) / 2
    expected = ((ep.support_x * ep.support_y).mean(1) @ M).unsqueeze(1)
    torch.testing.assert_close(
        odd.detach(), (expected * ep.query_x).sum(-1, True)
    )
    scaled = copy.deepcopy(layer)
    with torch.no_grad():
        scaled.key.weight.mul_(3.0)
        scaled.query.weight.div_(3.0)
        scaled.value.weight.mul_(0.5)
        scaled.proj.weight.div_(0.5)
    M2, even2 = effective_matrix(scaled)
    torch.testing.assert_close(M2, M)
    torch.testing.assert_close(even2, even)


def test_lsa_learns_the_gradient_step():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    d, N = 3, 10
    tasks = LinearRegressionTasks(d)
    layer = LinearSelfAttention(d)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    for _ in range(400):
        ep = tasks.sample(128, N, 8, g)
        pred = layer.predict(ep.support_x, ep.support_y, ep.query_x)
        loss = F.mse_loss(pred, ep.query_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    M, even = effective_matrix(layer)
    eta = N / (N + d + 1)  # the best step for Gaussian inputs
    target = eta * torch.eye(d)
    assert (M - target).norm() / target.norm() < 0.15
    assert even.norm() / target.norm() < 0.15


# ---------------------------------------------------------- regression


def test_regression_tasks_and_reference_estimators():
    tasks = LinearRegressionTasks(3, noise_std=0.0, x_scale=2.0)
    ep = tasks.sample(4, 6, 2, torch.Generator().manual_seed(0))
    assert ep.support_x.shape == (4, 6, 3) and ep.support_y.shape == (4, 6, 1)
    w = ep.info["w"]
    torch.testing.assert_close(ep.query_y, ep.query_x @ w.unsqueeze(-1))
    # noise-free with more points than dimensions: least squares is exact
    pred = ridge_predict(ep.support_x, ep.support_y, ep.query_x, 0.0)
    torch.testing.assert_close(pred, ep.query_y, rtol=1e-4, atol=1e-4)
    shrunk = ridge_predict(ep.support_x, ep.support_y, ep.query_x, 100.0)
    assert shrunk.abs().mean() < pred.abs().mean()
    # one neighbour: the y of the nearest context point
    near = knn_predict(ep.support_x, ep.support_y, ep.support_x[:, :2], k=1)
    torch.testing.assert_close(near, ep.support_y[:, :2])
    few = knn_predict(ep.support_x[:, :2], ep.support_y[:, :2], ep.query_x, 5)
    torch.testing.assert_close(
        few, ep.support_y[:, :2].mean(1, keepdim=True).expand(-1, 2, -1)
    )


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: LinearRegressionTasks(0), ConfigError),
        (lambda: LinearRegressionTasks(2, noise_std=-1.0), ConfigError),
        (lambda: LinearRegressionTasks(2, x_scale=0.0), ConfigError),
        (lambda: LinearRegressionTasks(2).sample(0, 3, 3), EpisodeError),
        (
            lambda: ridge_predict(
                torch.zeros(1, 2, 2),
                torch.zeros(1, 2, 1),
                torch.zeros(1, 1, 2),
                -1,
            ),
            ConfigError,
        ),
        (
            lambda: regression_tokens(
                torch.zeros(1, 2, 2), torch.zeros(1, 2), torch.zeros(1, 1, 2)
            ),
            EpisodeError,
        ),
    ],
    ids=["dim", "noise", "scale", "batch", "lam", "y-shape"],
)
def test_regression_errors_name_the_value(call, error):
    with pytest.raises(error):
        call()


def test_regressor_queries_are_isolated_and_context_is_a_set():
    torch.manual_seed(0)
    model = InContextRegressor(3, d_model=16, n_heads=2, n_layers=2, d_ff=32)
    ep = _prompts(d=3, dtype=torch.float32)
    with torch.no_grad():
        out = model(ep.support_x, ep.support_y, ep.query_x)
        assert out.shape == (5, 3, 1)
        moved = ep.query_x.clone()
        moved[:, 0] += 5.0
        again = model(ep.support_x, ep.support_y, moved)
        assert torch.equal(again[:, 1:], out[:, 1:])
        assert not torch.equal(again[:, 0], out[:, 0])
        perm = torch.randperm(ep.n_support)
        shuffled = model(
            ep.support_x[:, perm], ep.support_y[:, perm], ep.query_x
        )
        torch.testing.assert_close(shuffled, out, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------- classification


def _episodes(b=3, n_way=3, k=2, q=2, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(b, n_way, dim, generator=g)
    sy = torch.arange(n_way).repeat_interleave(k).expand(b, -1).clone()
    qy = torch.arange(n_way).repeat_interleave(q).expand(b, -1).clone()
    sx = centres.gather(1, sy[..., None].expand(-1, -1, dim))
    qx = centres.gather(1, qy[..., None].expand(-1, -1, dim))
    sx = sx + 0.3 * torch.randn(sx.shape, generator=g)
    qx = qx + 0.3 * torch.randn(qx.shape, generator=g)
    return mb.Episode(sx, sy, qx, qy, batched=True)


def _classifier(dim=6, **kwargs):
    torch.manual_seed(0)
    return InContextClassifier(
        nn.Identity(),
        dim,
        n_symbols=5,
        d_model=16,
        n_heads=2,
        d_ff=32,
        **kwargs,
    )


def test_classifier_shapes_and_sequence():
    model = _classifier()
    ep = _episodes()
    symbols = draw_symbols(3, 3, 5, torch.Generator().manual_seed(0))
    assert symbols.shape == (3, 3)
    assert all(len(set(row.tolist())) == 3 for row in symbols)
    seq = model.sequence(ep.support_x, ep.support_y, ep.query_x, symbols)
    assert seq.shape == (3, 2 * 6 + 6, 16)
    logits = model(ep.support_x, ep.support_y, ep.query_x, symbols)
    assert logits.shape == (3, 6, 3)
    maps = model.attention_maps(ep.support_x, ep.support_y, ep.query_x, symbols)
    assert len(maps) == 2 and maps[0].shape == (3, 2, 18, 18)
    allowed = episode_mask(6, 6)
    assert (maps[0][:, :, ~allowed] == 0).all()  # masked weights are exactly 0


def test_a_query_does_not_see_the_other_queries():
    model = _classifier()
    ep = _episodes()
    symbols = draw_symbols(3, 3, 5, torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(ep.support_x, ep.support_y, ep.query_x, symbols)
        moved = ep.query_x.clone()
        moved[:, 2] = torch.randn(moved[:, 2].shape)
        again = model(ep.support_x, ep.support_y, moved, symbols)
    keep = [0, 1, 3, 4, 5]
    assert torch.equal(again[:, keep], out[:, keep])
    assert not torch.equal(again[:, 2], out[:, 2])


def test_support_order_and_joint_renaming_change_nothing():
    model = _classifier()
    ep = _episodes()
    symbols = draw_symbols(3, 3, 5, torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(ep.support_x, ep.support_y, ep.query_x, symbols)
        perm = torch.randperm(ep.n_support)
        shuffled = model(
            ep.support_x[:, perm], ep.support_y[:, perm], ep.query_x, symbols
        )
        torch.testing.assert_close(shuffled, out, rtol=1e-5, atol=1e-5)
        # rename class k to (k + 1) % 3 and let each class keep its symbol:
        # the sequence is the same, so the logits are the renamed ones
        renamed = model(
            ep.support_x,
            (ep.support_y + 1) % 3,
            ep.query_x,
            symbols.roll(1, -1),
        )
        torch.testing.assert_close(renamed.roll(-1, -1), out)


def test_classifier_errors_name_the_value():
    model = _classifier()
    ep = _episodes()
    with pytest.raises(EpisodeError, match="symbols"):
        model(ep.support_x, ep.support_y, ep.query_x, torch.tensor([[0, 1]]))
    with pytest.raises(EpisodeError, match="support labels"):
        model(ep.support_x, ep.support_y, ep.query_x, torch.zeros(3, 2).long())
    with pytest.raises(EpisodeError, match="n_symbols"):
        model(ep.support_x, ep.support_y, ep.query_x, torch.full((3, 3), 9))
    with pytest.raises(ConfigError):
        draw_symbols(2, 4, 3)
    with pytest.raises(ConfigError):
        InContextClassifier("not a module", 6)
    with pytest.raises(ConfigError):
        InContextLearner(nn.Linear(2, 2))
    with pytest.raises(EpisodeError):
        with_symbols(ep[0], 5)


def test_learner_uses_fixed_symbols_and_trains_in_context():
    torch.manual_seed(0)
    model = _classifier()
    learner = InContextLearner(model)
    fixed = with_symbols(
        _episodes(b=8, seed=9), 5, torch.Generator().manual_seed(0)
    )
    a = learner.task_metrics(fixed)["accuracy"]
    b = learner.task_metrics(fixed)["accuracy"]
    assert torch.equal(a, b)  # fixed symbols: the same sequences every time
    seeds = iter(range(10_000))
    history = mb.meta_train(
        learner,
        lambda: _episodes(b=16, seed=next(seeds)),
        torch.optim.Adam(model.parameters(), lr=3e-3),
        150,
        progress=False,
    )
    test = with_symbols(_episodes(b=64, seed=99_999), 5)
    accuracy = mb.evaluate(learner, test)["accuracy"]
    assert accuracy.low > 0.6, (accuracy, history.metrics["accuracy"][-10:])
