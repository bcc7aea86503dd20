"""The swirled 2-D class family: shapes, determinism, disjoint splits,
validation."""

from __future__ import annotations

import math

import pytest
import torch

import metabook as mb
from metabook.tasks import SwirlClasses, swirl, unswirl

SMALL = dict(
    train_classes=12, val_classes=5, test_classes=6, points_per_class=20
)


def test_shapes_and_labels():
    data = SwirlClasses(**SMALL).generate()
    for part, n in zip(data, (12, 5, 6)):
        assert part.n_classes == n
        assert part.x.shape == part.latent.shape == (n * 20, 2)
        assert part.labels.shape == (n * 20,)
        assert part.centres.shape == (n, 2)
        assert (
            part.x.dtype == torch.float32 and part.labels.dtype == torch.int64
        )
        assert torch.equal(part.labels.unique(), part.classes)
        assert torch.equal(
            torch.bincount(part.labels - part.classes[0]), torch.full((n,), 20)
        )


def test_same_seed_same_data_other_seed_other_data():
    a, b = SwirlClasses(**SMALL).generate(), SwirlClasses(**SMALL).generate()
    c = SwirlClasses(**SMALL, seed=1).generate()
    for pa, pb, pc in zip(a, b, c):
        assert torch.equal(pa.x, pb.x) and torch.equal(pa.labels, pb.labels)
        assert not torch.equal(pa.x, pc.x)


def test_splits_are_disjoint_and_cover_all_classes():
    data = SwirlClasses(**SMALL).generate()
    ids = [set(part.labels.tolist()) for part in data]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    assert set().union(*ids) == set(range(23))


def test_x_is_the_swirled_latent_and_unswirl_inverts_it():
    cfg = SwirlClasses(**SMALL)
    data = cfg.generate(dtype=torch.float64)
    torch.testing.assert_close(
        data.train.x, swirl(data.train.latent, cfg.twist)
    )
    torch.testing.assert_close(
        unswirl(data.train.x, cfg.twist), data.train.latent
    )
    torch.testing.assert_close(
        data.train.x.norm(dim=-1), data.train.latent.norm(dim=-1)
    )


def test_no_twist_is_the_identity():
    data = SwirlClasses(**SMALL, twist=0.0).generate()
    torch.testing.assert_close(data.test.x, data.test.latent)


def test_swirl_rotates_by_twist_times_radius():
    z = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    expected = 2 * torch.tensor(
        [[math.cos(1.0), math.sin(1.0)]], dtype=torch.float64
    )
    torch.testing.assert_close(swirl(z, 0.5), expected)


def test_centres_lie_in_the_disc_and_points_near_their_centre():
    cfg = SwirlClasses(**SMALL, radius=2.0, spread=0.1)
    data = cfg.generate()
    assert (data.train.centres.norm(dim=-1) <= 2.0 + 1e-6).all()
    offsets = data.train.latent.view(12, 20, 2) - data.train.centres[:, None]
    assert 0.05 < offsets.std().item() < 0.2


def test_sampler_draws_episodes_from_its_split_only():
    data = SwirlClasses(**SMALL).generate()
    sampler = data.test.sampler(
        n_way=5, k_shot=2, n_query=3, generator=torch.Generator().manual_seed(0)
    )
    assert isinstance(sampler, mb.EpisodeSampler)
    batch = sampler.sample_batch(4)
    assert batch.support_x.shape == (4, 10, 2) and batch.query_x.shape == (
        4,
        15,
        2,
    )
    assert set(batch.info["classes"].flatten().tolist()) <= set(
        data.test.classes.tolist()
    )


def test_sampler_errors_name_the_value():
    data = SwirlClasses(**SMALL).generate()
    with pytest.raises(mb.EpisodeError, match="n_way=7"):
        data.val.sampler(n_way=7, k_shot=1, n_query=1)
    with pytest.raises(mb.EpisodeError, match="k_shot=15"):
        data.val.sampler(n_way=2, k_shot=15, n_query=10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train_classes": 1}, "train_classes=1"),
        ({"val_classes": 0}, "val_classes=0"),
        ({"test_classes": 2.5}, "test_classes=2.5"),
        ({"points_per_class": 1}, "points_per_class=1"),
        ({"radius": 0.0}, "radius=0.0"),
        ({"spread": -0.1}, "spread=-0.1"),
        ({"twist": -1.0}, "twist=-1.0"),
        ({"twist": float("nan")}, "twist=nan"),
        ({"seed": -3}, "seed=-3"),
        ({"radius": True}, "radius=True"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_value(kwargs, message):
    with pytest.raises(mb.ConfigError, match=message):
        SwirlClasses(**kwargs)
