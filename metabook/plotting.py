"""One figure style for the whole book: size, fonts, resolution, grid, log axes.

A chapter calls :func:`style` once, in its import cell, and every figure after
it has the book's size, fonts and grid::

    import metabook as mb

    mb.plotting.style()
    fig, ax = mb.plotting.figure(height=3.2)
    ax.plot(losses)
    mb.plotting.log_axis(ax)            # plain labels at 1, 2, 5 x 10^k only
    ax.set_ylabel("query MSE")

Sizes are in inches at :data:`DPI` dots per inch. :data:`MAX_WIDTH` inches fill
the website's content column at its reading width (772 CSS pixels in a
1,400-pixel window), so a figure at most that wide is shown at its own size:
neither cut off nor shrunk (which would shrink its lettering too).

This module needs matplotlib (the ``book`` extra); ``import metabook`` does not
load it, ``mb.plotting`` does, on first use.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .errors import ConfigError

__all__ = [
    "DPI",
    "HEIGHT",
    "MAX_WIDTH",
    "PALETTE",
    "WIDTH",
    "figure",
    "log_axis",
    "style",
]

DPI = 84
"""Dots per inch: a figure of :data:`MAX_WIDTH` inches is at most 764 pixels
wide, its 0.05-inch margins included (Jupyter crops figures to what they draw,
plus ``savefig.pad_inches``)."""
WIDTH = 7.5
"""Default figure width in inches."""
HEIGHT = 3.5
"""Default figure height in inches."""
MAX_WIDTH = 9.0
"""The widest figure, in inches, that fits the website's content column."""

# Colour-blind-friendly, and the colours the chapters already name (seaborn
# "deep").
PALETTE = (
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B2",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
)

RC: dict[str, Any] = {
    "figure.figsize": (WIDTH, HEIGHT),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.pad_inches": 0.05,
    "figure.facecolor": "white",
    # In points at DPI: 11 pt is 13 pixels, a little smaller than the prose's
    # text.
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.framealpha": 0.85,
    "figure.titlesize": 13,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}
"""The matplotlib settings :func:`style` applies."""


def style() -> None:
    """Apply the book's figure style (:data:`RC`) to the figures made after."""
    mpl.rcParams.update(RC)


def figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float = WIDTH,
    height: float = HEIGHT,
    **subplots: Any,
) -> tuple[Figure, Any]:
    """``plt.subplots`` at the book's size, with constrained layout.

    Args:
        nrows, ncols: the grid of axes.
        width: inches, at most :data:`MAX_WIDTH` (the page's content column).
        height: inches.
        **subplots: passed to :func:`matplotlib.pyplot.subplots` (``sharex``,
            ``squeeze``, ...).

    Returns:
        ``(fig, axes)`` as :func:`matplotlib.pyplot.subplots` returns them.

    Raises:
        ConfigError: if ``width`` is wider than the page or a size is not
            positive.
    """
    if not 0 < width <= MAX_WIDTH:
        raise ConfigError(
            f"width={width!r} inches does not fit the page "
            f"(0 < width <= MAX_WIDTH = {MAX_WIDTH})"
        )
    if not height > 0:
        raise ConfigError(f"height={height!r} inches must be positive")
    subplots.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, height), **subplots)


class _LabelledLogLocator(LogLocator):
    """Major ticks at 1, 2, (3,) 5 x 10^k over at most two decades, else 10^k.

    (Matplotlib's locator with ``subs=(1, 2, 5)`` draws no tick at all once it
    thins out the decades, and labels every one of them before that.)
    """

    def __init__(self, base: float, vertical: bool) -> None:
        super().__init__(base=base)
        self.log_base = base
        self.vertical = vertical  # labels stacked, not side by side

    def tick_values(self, vmin: float, vmax: float) -> Any:
        lo, hi = sorted((vmin, vmax))
        decades = math.log(hi / lo, self.log_base) if lo > 0 else math.inf
        if self.log_base != 10 or decades > 2:
            subs: tuple[float, ...] = (1.0,)
        elif decades > 1:
            subs = (1.0, 2.0, 5.0)
        elif decades > 0.6 or not self.vertical:
            subs = (1.0, 2.0, 3.0, 5.0)
        else:  # a narrow range: every digit
            subs = tuple(float(d) for d in range(1, 10))
        self.set_params(subs=subs)
        return super().tick_values(vmin, vmax)


def _plain(value: float, _pos: object = None) -> str:
    """A tick label: 0.0001, 0.2, 5, 300, 10000 as plain numbers; beyond that,
    a power of ten as 10 with a superscript (never ``1e+06``)."""
    if value > 0:
        k = round(math.log10(value))
        if abs(k) >= 5 and math.isclose(value, 10.0**k, rel_tol=1e-9):
            return f"$10^{{{k}}}$"
    return f"{value:g}"


def log_axis(ax: Axes, axis: str = "y", base: float = 10) -> None:
    """Log scale on one axis, with labels that never overlap.

    Only major ticks are labelled, at 1, 2 and 5 times a power of ten (also 3
    within a decade, every digit on a y axis spanning less than 0.6 decades;
    the powers alone beyond two decades), as plain numbers
    (``0.05``, not ``5 x 10^-2``) up to 10,000 and down to 0.0001, beyond
    which powers of ten read 10⁵, 10⁻⁶; minor ticks stay unlabelled marks.
    Matplotlib's default also labels minor ticks on an axis spanning less than a
    decade or two, and those labels run into each other.

    Args:
        ax: the axes.
        axis: ``"x"``, ``"y"`` or ``"both"``.
        base: the logarithm's base.

    Raises:
        ConfigError: if ``axis`` is not one of the three.
    """
    if axis not in ("x", "y", "both"):
        raise ConfigError(f"axis={axis!r} must be 'x', 'y' or 'both'")
    for name in ("x", "y") if axis == "both" else (axis,):
        ax.set(**{f"{name}scale": "log"})
        target = ax.xaxis if name == "x" else ax.yaxis
        target.set_major_locator(_LabelledLogLocator(base, name == "y"))
        target.set_major_formatter(FuncFormatter(_plain))
        target.set_minor_locator(LogLocator(base=base, subs="auto"))
        target.set_minor_formatter(NullFormatter())
