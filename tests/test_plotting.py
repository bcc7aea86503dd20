"""The book's figure style (metabook.plotting) and readable configurations."""

from __future__ import annotations

import dataclasses

import pytest

import metabook as mb
from metabook import config

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")

PRESETS = [
    value for value in vars(config).values() if isinstance(value, config.Preset)
]


def test_plotting_is_loaded_on_first_use() -> None:
    assert mb.plotting.style is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        mb.nothing  # noqa: B018 - the attribute access is the test


def test_style_sets_the_book_defaults() -> None:
    mb.plotting.style()
    assert tuple(plt.rcParams["figure.figsize"]) == (
        mb.plotting.WIDTH,
        mb.plotting.HEIGHT,
    )
    assert plt.rcParams["figure.dpi"] == mb.plotting.DPI
    assert plt.rcParams["axes.grid"]


def test_the_widest_figure_fits_the_page() -> None:
    # 772 CSS pixels: the content column in tests/test_site.py's reading window
    margins = 2 * mb.plotting.RC["savefig.pad_inches"]
    assert (mb.plotting.MAX_WIDTH + margins) * mb.plotting.DPI <= 772


def test_figure_size_and_errors() -> None:
    mb.plotting.style()
    fig, axes = mb.plotting.figure(1, 2, width=6, height=2.5)
    try:
        assert tuple(fig.get_size_inches()) == (6, 2.5)
        assert len(axes) == 2
    finally:
        plt.close(fig)
    with pytest.raises(mb.ConfigError, match="width=12"):
        mb.plotting.figure(width=12)
    with pytest.raises(mb.ConfigError, match="height=0"):
        mb.plotting.figure(height=0)


def _labels(fig, axis):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lo, hi = sorted(axis.get_view_interval())
    boxes, texts = [], []
    for tick in axis.get_major_ticks():
        label = tick.label1
        if (
            label.get_visible()
            and label.get_text()
            and lo <= tick.get_loc() <= hi
        ):
            boxes.append(label.get_window_extent(renderer))
            texts.append(label.get_text())
    return boxes, texts


@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize(
    "low, high", [(0.03, 3.0), (0.2, 0.9), (1.6, 3.8), (1e-4, 10.0)]
)
def test_log_axis_labels_are_plain_and_do_not_overlap(which, low, high) -> None:
    mb.plotting.style()
    fig, ax = mb.plotting.figure(height=2.5)
    try:
        data = ([low, high], [0, 1]) if which == "x" else ([0, 1], [low, high])
        ax.plot(*data)
        mb.plotting.log_axis(ax, which)
        axis = ax.xaxis if which == "x" else ax.yaxis
        boxes, texts = _labels(fig, axis)
        assert len(texts) >= 2, texts
        assert not any("10^" in t or "times" in t for t in texts), texts
        assert not any("e+" in t or "e-" in t for t in texts), texts
        minor = axis.get_minor_formatter()
        assert isinstance(minor, matplotlib.ticker.NullFormatter)
        for a, b in zip(boxes, boxes[1:]):
            assert not a.overlaps(b), texts
    finally:
        plt.close(fig)


@pytest.mark.parametrize("which", ["x", "y"])
def test_log_axis_writes_large_powers_as_superscripts(which) -> None:
    # 02's error-against-steps figure spans 1e-3 to 1e13 when MAML diverges
    mb.plotting.style()
    fig, ax = mb.plotting.figure(height=2.5)
    try:
        data = (
            ([1e-3, 1e13], [0, 1]) if which == "x" else ([0, 1], [1e-3, 1e13])
        )
        ax.plot(*data)
        mb.plotting.log_axis(ax, which)
        axis = ax.xaxis if which == "x" else ax.yaxis
        boxes, texts = _labels(fig, axis)
        assert not any("e+" in t or "e-" in t for t in texts), texts
        big = [t for t in texts if t.startswith("$10^{")]
        assert big and all(int(t[5:-2]) >= 5 for t in big), texts
        assert "0.001" in texts or "0.01" in texts or "0.1" in texts, texts
        for a, b in zip(boxes, boxes[1:]):
            assert not a.overlaps(b), texts
    finally:
        plt.close(fig)


def test_log_axis_rejects_an_unknown_axis() -> None:
    fig, ax = plt.subplots()
    try:
        with pytest.raises(mb.ConfigError, match="axis='z'"):
            mb.plotting.log_axis(ax, "z")
    finally:
        plt.close(fig)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: type(p.full).__name__)
def test_configs_print_one_field_per_line(preset) -> None:
    for cfg in (preset.full, preset.quick):
        text = str(cfg)
        lines = text.splitlines()
        assert all(len(line) <= 80 for line in lines), text
        assert len(lines) >= len(dataclasses.fields(cfg)) + 2
        # what it prints is Python that builds the same configuration
        assert eval(text, {type(cfg).__name__: type(cfg)}) == cfg  # noqa: S307
        assert "\n" not in repr(cfg)


def test_describe_wraps_long_values() -> None:
    @dataclasses.dataclass(frozen=True)
    class Long:
        names: tuple[str, ...] = tuple(f"language-{i}" for i in range(30))

    text = config.describe(Long())
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert eval(text, {"Long": Long}) == Long()  # noqa: S307
