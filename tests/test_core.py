"""Episodes, the sampler, task families, presets, seeds and the evaluator."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import metabook as mb
from metabook import config


def test_sampler_episode_structure():
    x = torch.arange(60).float()[:, None]
    y = torch.arange(6).repeat_interleave(10)
    ep = mb.EpisodeSampler(
        x,
        y,
        n_way=3,
        k_shot=2,
        n_query=4,
        generator=torch.Generator().manual_seed(1),
    ).sample()
    assert ep.support_x.shape == (6, 1) and ep.query_x.shape == (12, 1)
    assert ep.support_y.tolist() == [0, 0, 1, 1, 2, 2]
    classes = ep.info["classes"]
    # every example really belongs to the class its episode label stands for
    for xs, ys in ((ep.support_x, ep.support_y), (ep.query_x, ep.query_y)):
        assert torch.equal(y[xs[:, 0].long()], classes[ys])
    # support and query are disjoint
    assert not set(ep.support_x[:, 0].tolist()) & set(ep.query_x[:, 0].tolist())


def test_sampler_is_reproducible_and_batches():
    x, y = torch.randn(100, 4), torch.arange(10).repeat(10)
    a = mb.EpisodeSampler(
        x, y, 5, 1, 3, generator=torch.Generator().manual_seed(7)
    ).sample_batch(4)
    b = mb.EpisodeSampler(
        x, y, 5, 1, 3, generator=torch.Generator().manual_seed(7)
    ).sample_batch(4)
    assert (
        a.batched and a.meta_batch_size == 4 and a.support_x.shape == (4, 5, 4)
    )
    assert torch.equal(a.query_x, b.query_x) and torch.equal(
        a.info["classes"], b.info["classes"]
    )


def test_sampler_with_collate_for_non_tensor_data():
    words = [f"w{i}" for i in range(20)]
    labels = [i % 4 for i in range(20)]

    def collate(items):
        return torch.tensor([int(w[1:]) for w in items])

    ep = mb.EpisodeSampler(words, labels, 2, 2, 1, collate=collate).sample()
    assert ep.support_x.dtype == torch.long and ep.support_x.shape == (4,)


def test_sampler_skips_small_classes():
    y = torch.tensor([0] * 5 + [1] * 5 + [2] * 2)
    s = mb.EpisodeSampler(torch.randn(12, 1), y, 2, 2, 2)
    assert len(s.eligible) == 2 and 2 not in s.eligible


def test_episode_to_index_iterate_and_stack(device):
    batch = mb.SinusoidTasks().sample(3, 5, 7, torch.Generator().manual_seed(0))
    moved = batch.to(device, dtype=torch.float64)
    assert (
        moved.support_x.device.type == device.type
        and moved.support_x.dtype == torch.float64
    )
    assert moved.info["amplitude"].device.type == device.type
    one = batch[1]
    assert not one.batched and one.n_support == 5 and one.n_query == 7
    assert len(list(batch)) == 3 and len(batch) == 3
    again = mb.Episode.stack(list(batch))
    assert torch.equal(again.query_y, batch.query_y) and torch.equal(
        again.info["phase"], batch.info["phase"]
    )
    assert batch[0:2].batched and batch[0:2].meta_batch_size == 2


def test_sinusoid_tasks_follow_the_paper():
    batch = mb.SinusoidTasks().sample(
        2000, 10, 10, torch.Generator().manual_seed(0)
    )
    amp, phase = batch.info["amplitude"], batch.info["phase"]
    assert (
        0.1 <= amp.min()
        and amp.max() <= 5.0
        and 0 <= phase.min()
        and phase.max() <= math.pi
    )
    assert -5 <= batch.support_x.min() and batch.query_x.max() <= 5
    expected = amp[:, None, None] * torch.sin(
        batch.support_x - phase[:, None, None]
    )
    torch.testing.assert_close(batch.support_y, expected)


def test_same_seed_same_numbers():
    def run():
        g = mb.set_seed(11)
        model = mb.MLP()
        maml = mb.MAML(model, 0.01)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        h = mb.meta_train(
            maml,
            lambda: mb.SinusoidTasks().sample(5, 5, 5, g),
            opt,
            20,
            progress=False,
        )
        return h.loss, [p.detach().clone() for p in model.parameters()]

    (loss_a, params_a), (loss_b, params_b) = run(), run()
    assert loss_a == loss_b
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))


def test_get_device_default_and_explicit():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if (
        not torch.cuda.is_available()
        and getattr(torch.backends, "mps", None)
        and torch.backends.mps.is_available()
    ):
        expected = "mps"
    assert mb.get_device().type == expected
    assert mb.get_device("CPU") == torch.device("cpu")


def test_presets_quick_is_smaller(monkeypatch):
    presets = [v for v in vars(config).values() if isinstance(v, config.Preset)]
    assert presets, "config defines no presets"
    for preset in presets:
        full, quick = preset.full, preset.quick
        assert type(full) is type(quick)
        smaller = False
        for f in dataclasses.fields(full):
            a, b = getattr(full, f.name), getattr(quick, f.name)
            if (
                isinstance(a, (int, float))
                and not isinstance(a, bool)
                and f.name != "seed"
            ):
                assert b <= a, (
                    f"{type(full).__name__}.{f.name}: quick {b} > full {a}"
                )
                smaller |= b < a
        assert smaller, (
            f"{type(full).__name__}: the quick preset shrinks nothing"
        )
        monkeypatch.setenv("METABOOK_QUICK", "1")
        assert preset.get() is quick and config.size_name() == "quick"
        monkeypatch.setenv("METABOOK_QUICK", "0")
        assert preset.get() is full and config.size_name() == "full"


def test_mean_ci_matches_t_interval():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    est = mb.mean_ci(values)
    assert est.mean == pytest.approx(3.0)
    # t_{0.975, 4} = 2.776445; std = sqrt(2.5)
    assert est.ci == pytest.approx(
        2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-5
    )
    assert f"{est:.2f}" == f"3.00 ± {est.ci:.2f}"
    assert not est.overlaps(mb.Estimate(10.0, 1.0, 5))


def test_paired_difference_matches_scipy():
    from scipy import stats

    g = torch.Generator().manual_seed(0)
    a = torch.rand(600, generator=g, dtype=torch.float64)
    b = a - 0.05 + 0.1 * torch.rand(600, generator=g, dtype=torch.float64)
    est = mb.paired_difference(a, b)
    ref = stats.ttest_rel(a.numpy(), b.numpy()).confidence_interval(0.95)
    assert est.low == pytest.approx(ref.low, rel=1e-10)
    assert est.high == pytest.approx(ref.high, rel=1e-10)
    assert est.n == 600
    with pytest.raises(mb.ConfigError, match="a has 600 values, b has 599"):
        mb.paired_difference(a, b[:-1])


def test_evaluate_chunks_give_same_result():
    g = mb.set_seed(0)
    maml = mb.MAML(mb.MLP(), inner_lr=0.01)
    test = mb.SinusoidTasks().sample(50, 10, 10, g)
    a = mb.evaluate(maml, test, chunk_size=7)["loss"]
    b = mb.evaluate(maml, test, chunk_size=50)["loss"]
    assert a.mean == pytest.approx(b.mean, rel=1e-5) and a.n == 50


def test_adapt_and_predict_reduce_support_loss():
    g = mb.set_seed(0)
    maml = mb.MAML(mb.MLP(), inner_lr=0.01)
    ep = mb.SinusoidTasks().sample(1, 10, 10, g)[0]
    before = torch.nn.functional.mse_loss(
        maml.predict(maml.params, ep.support_x), ep.support_y
    )
    params = maml.adapt(ep, inner_steps=10)
    after = torch.nn.functional.mse_loss(
        maml.predict(params, ep.support_x), ep.support_y
    )
    assert after < before


def test_peak_memory_counts_allocations_and_is_quiet(capfd):
    """4 MB for a million floats, and the profiler's notices do not reach
    stderr."""
    keep = []
    assert (
        mb.peak_memory(lambda: keep.append(torch.empty(1_000_000))) >= 4_000_000
    )
    assert mb.peak_memory(lambda: None) < 100_000
    captured = capfd.readouterr()
    assert (
        "profiler" not in captured.err
        and "gpuGetDeviceCount" not in captured.err
    )


def test_progress_bar_respects_tqdm_disable(monkeypatch, capsys):
    """Site builds set TQDM_DISABLE=1; meta_train must then draw no bar, even in
    a notebook."""
    import tqdm.auto

    seen = {}

    class Spy(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            seen["disable"] = kwargs.get("disable")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(mb.train, "tqdm", Spy)
    g = mb.set_seed(0)
    learner = mb.MAML(mb.MLP(), 0.01)
    opt = torch.optim.SGD(learner.model.parameters(), 0.1)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    mb.meta_train(
        learner, lambda: mb.SinusoidTasks().sample(2, 3, 3, g), opt, 2
    )
    assert seen["disable"] is True
    monkeypatch.setenv("TQDM_DISABLE", "0")
    mb.meta_train(
        learner, lambda: mb.SinusoidTasks().sample(2, 3, 3, g), opt, 2
    )
    assert seen["disable"] is False
