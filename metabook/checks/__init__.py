"""Self-checks for the book's exercises: generic checks here, one module per
chapter beside it.

Each check either prints a short confirmation or raises :class:`CheckFailed`
with a message that says *what* is wrong and a hint at *why*, so a learner is
never left with a bare ``AssertionError``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


class CheckFailed(AssertionError):
    """An exercise's answer is not right yet; the message says what to check."""


def passed(message: str) -> None:
    """Print ``✔ message``, wrapped to fit the page's 80 columns."""
    print(textwrap.fill(f"✔ {message}", width=80, subsequent_indent="  "))


def call_user(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the learner's function; if it raises, fail with what it raised,
    plainly (no deep trace)."""
    try:
        return fn(*args)
    # a check called inside the learner's function already explains itself
    except CheckFailed:
        raise
    except Exception as err:  # the learner's code
        raise CheckFailed(
            f"your function raised {type(err).__name__}: {err}"
        ) from err


def _flatten(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value.detach().cpu()]
    if isinstance(value, (int, float)):
        return [torch.tensor(float(value))]
    if isinstance(value, dict):
        return [t for k in sorted(value) for t in _flatten(value[k])]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flatten(v)]
    if hasattr(value, "__dataclass_fields__"):
        return _flatten(vars(value))
    raise CheckFailed(
        f"the function returned a {type(value).__name__}; return tensors or "
        "numbers "
        "(or lists/dicts of them) so they can be compared"
    )


def check_reproducible(fn: Callable[[int], Any], seed: int = 0) -> None:
    """``fn(seed)`` must give identical results when called twice with the same
    seed, and (usually) different results for a different seed."""
    first, second = _flatten(fn(seed)), _flatten(fn(seed))
    if len(first) != len(second) or any(
        a.shape != b.shape for a, b in zip(first, second)
    ):
        raise CheckFailed(
            "two calls with the same seed returned results of different shapes"
        )
    for i, (a, b) in enumerate(zip(first, second)):
        if not torch.equal(a, b):
            raise CheckFailed(
                f"two calls with seed={seed} differ (value #{i}: max "
                "difference "
                f"{(a.float() - b.float()).abs().max().item():.3g}). Call "
                "metabook.set_seed(seed) "
                "at the start of the function, and draw all randomness "
                "(models, tasks) after it."
            )
    other = _flatten(fn(seed + 1))
    if all(torch.equal(a, b) for a, b in zip(first, other)):
        raise CheckFailed(
            f"seed={seed} and seed={seed + 1} give the same result: is the "
            "seed actually used?"
        )
    passed(
        "same seed, same numbers; a different seed gives different ones "
        f"({len(first)} values compared)"
    )


def check_close(
    name: str,
    value: Tensor | float,
    expected: Tensor | float,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    hint: str = "",
) -> None:
    """``value`` must equal ``expected`` up to tolerance; the message reports
    the worst entry."""
    v = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    e = torch.as_tensor(expected, dtype=torch.float64).detach().cpu()
    if v.shape != e.shape:
        raise CheckFailed(
            f"{name} has shape {tuple(v.shape)}, expected "
            f"{tuple(e.shape)}. {hint}".strip()
        )
    if not torch.isfinite(v).all():
        raise CheckFailed(f"{name} contains nan or inf. {hint}".strip())
    err = (v - e).abs()
    tol = atol + rtol * e.abs()
    if (err > tol).any():
        worst = int((err - tol).flatten().argmax())
        raise CheckFailed(
            f"{name} differs from the expected value: at flat index {worst} "
            "got "
            f"{v.flatten()[worst].item():.6g}, expected "
            f"{e.flatten()[worst].item():.6g}. {hint}".strip()
        )
    passed(f"{name} is correct")


def check_ratio(
    name: str, value: float, low: float, high: float, hint: str = ""
) -> None:
    """A measured number (a speed or memory ratio, say) must lie in ``[low,
    high]``."""
    if not math.isfinite(value) or not low <= value <= high:
        raise CheckFailed(
            f"{name}={value:.3g} is outside the plausible range "
            f"[{low}, {high}]. {hint}".strip()
        )
    passed(f"{name}={value:.3g} is plausible")
