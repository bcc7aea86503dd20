"""Every validation error is triggered, and its message names the offending
value."""

from __future__ import annotations

import pytest
import torch

import metabook as mb


@pytest.fixture
def data():
    y = torch.arange(5).repeat_interleave(4)  # 5 classes, 4 examples each
    return torch.randn(20, 3), y


def test_n_way_larger_than_classes(data):
    with pytest.raises(
        mb.EpisodeError,
        match=r"n_way=6 but the dataset has "
        r"only 5 classes",
    ):
        mb.EpisodeSampler(*data, n_way=6, k_shot=1, n_query=1)


def test_not_enough_examples_per_class(data):
    with pytest.raises(
        mb.EpisodeError,
        match=r"k_shot=3 \+ n_query=2 needs 5 "
        r"examples per class.*smallest "
        r"class: 4",
    ):
        mb.EpisodeSampler(*data, n_way=2, k_shot=3, n_query=2)


@pytest.mark.parametrize(
    "field,value",
    [("n_way", 1), ("k_shot", 0), ("n_query", 0), ("k_shot", 1.5)],
)
def test_bad_counts(data, field, value):
    kwargs = {"n_way": 2, "k_shot": 1, "n_query": 1, field: value}
    with pytest.raises(mb.EpisodeError, match=rf"{field}={value}"):
        mb.EpisodeSampler(*data, **kwargs)


def test_labels_length_mismatch(data):
    with pytest.raises(
        mb.EpisodeError,
        match=r"x has 20 examples but labels "
        r"has 19",
    ):
        mb.EpisodeSampler(data[0], data[1][:19], 2, 1, 1)


def test_list_data_without_collate():
    with pytest.raises(mb.EpisodeError, match=r"x is a list.*collate"):
        mb.EpisodeSampler(["a", "b"], [0, 1], 2, 1, 1)


def test_episode_shape_mismatch():
    with pytest.raises(
        mb.EpisodeError,
        match=r"support_x has shape \(5, 1\) "
        r"but support_y has shape \(4, "
        r"1\)",
    ):
        mb.Episode(
            torch.zeros(5, 1),
            torch.zeros(4, 1),
            torch.zeros(3, 1),
            torch.zeros(3, 1),
        )
    with pytest.raises(
        mb.EpisodeError,
        match=r"support_x examples have shape "
        r"\(2,\) but query_x examples "
        r"have shape \(3,\)",
    ):
        mb.Episode(
            torch.zeros(5, 2), torch.zeros(5), torch.zeros(3, 3), torch.zeros(3)
        )


def test_model_output_does_not_match_targets():
    batch = mb.SinusoidTasks().sample(2, 5, 5)
    maml = mb.MAML(mb.MLP(out_dim=2), inner_lr=0.01)
    with pytest.raises(
        mb.EpisodeError,
        match=r"model output shape \(5, 2\) "
        r"does not match target shape "
        r"\(5, 1\)",
    ):
        maml.backward(batch)


def test_logits_do_not_fit_labels():
    x, y = torch.randn(20, 3), torch.arange(5).repeat_interleave(4)
    batch = mb.EpisodeSampler(x, y, 2, 1, 1).sample_batch(2)
    maml = mb.MAML(
        torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Flatten(0)),
        inner_lr=0.1,
    )
    with pytest.raises(
        mb.EpisodeError,
        match=r"logits of shape \(4,\) do not "
        r"fit class labels of shape "
        r"\(2,\)",
    ):
        maml.backward(batch)


def test_non_finite_inner_loss_names_lr_and_step():
    batch = mb.SinusoidTasks().sample(
        3, 10, 10, torch.Generator().manual_seed(0)
    )
    maml = mb.MAML(mb.MLP(), inner_lr=1e30, inner_steps=3)
    with pytest.raises(
        mb.NonFiniteLossError,
        match=r"inner step \d of task "
        r"\d with inner_lr=1e\+30",
    ):
        maml.backward(batch)


def test_unknown_device_string():
    with pytest.raises(mb.DeviceError, match=r"unknown device 'cdua'"):
        mb.get_device("cdua")


def test_unavailable_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(
        mb.DeviceError,
        match=r"device 'cuda:0' was asked for, "
        r"but this machine has no CUDA "
        r"GPU",
    ):
        mb.get_device("cuda:0")


@pytest.mark.parametrize(
    "name,value", [("inner_lr", 0.0), ("inner_lr", -1), ("inner_steps", -1)]
)
def test_bad_learner_settings(name, value):
    kwargs = {"inner_lr": 0.01, "inner_steps": 1, name: value}
    with pytest.raises(mb.ConfigError, match=rf"{name}={value}"):
        mb.MAML(mb.MLP(), **kwargs)


def test_bad_quick_flag(monkeypatch):
    monkeypatch.setenv("METABOOK_QUICK", "maybe")
    with pytest.raises(mb.ConfigError, match=r"METABOOK_QUICK='maybe'"):
        mb.config.SINUSOID.get()


def test_bad_config_value():
    with pytest.raises(mb.ConfigError, match=r"SinusoidConfig.meta_iters=-5"):
        mb.config.SinusoidConfig(meta_iters=-5)


def test_bad_sinusoid_ranges():
    with pytest.raises(mb.EpisodeError, match=r"amplitude=\(5.0, 0.1\)"):
        mb.SinusoidTasks(amplitude=(5.0, 0.1))


def test_confidence_interval_needs_two_values():
    with pytest.raises(mb.ConfigError, match=r"at least 2 values, got 1"):
        mb.mean_ci([1.0])


def test_evaluate_every_without_callable():
    learner = mb.MAML(mb.MLP(), inner_lr=0.01)
    opt = torch.optim.SGD(learner.model.parameters(), 0.1)
    with pytest.raises(
        mb.ConfigError,
        match=r"evaluate_every=10 needs an "
        r"evaluate= callable",
    ):
        mb.meta_train(learner, lambda: None, opt, 5, evaluate_every=10)


def test_seed_must_be_int():
    with pytest.raises(ValueError, match=r"seed=-1"):
        mb.set_seed(-1)
