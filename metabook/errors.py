"""The errors metabook raises for bad input.

Every message names the offending value, so a learner sees what to change
without reading a torch traceback. All of them are ``ValueError`` subclasses, so
``except ValueError`` keeps working for code that does not know metabook.
"""


class MetabookError(ValueError):
    """Base class for metabook's input errors."""


class EpisodeError(MetabookError):
    """An episode cannot be built: impossible ``n_way``/``k_shot``/``n_query``
    or bad shapes."""


class DeviceError(MetabookError):
    """An unknown or unavailable device was asked for."""


class NonFiniteLossError(MetabookError, FloatingPointError):
    """A loss became ``nan`` or ``inf`` inside an inner loop (usually:
    ``inner_lr`` too large)."""


class ConfigError(MetabookError):
    """A configuration value is out of range."""


class MissingDataError(MetabookError, ImportError):
    """A task family's data package is not installed (the message says what to
    install)."""


def check_int(
    name: str,
    value: object,
    minimum: int,
    error: type[MetabookError] = ConfigError,
) -> int:
    """``value`` must be an int (not a bool) of at least ``minimum``; the error
    names both."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name}={value!r} must be an int")
    if value < minimum:
        raise error(f"{name}={value} must be at least {minimum}")
    return value


def check_module(name: str, value: object) -> None:
    """``value`` must be a ``torch.nn.Module``; the error names the argument and
    what was passed instead."""
    from torch import nn  # here: the errors import nothing heavy at load time

    if not isinstance(value, nn.Module):
        raise ConfigError(
            f"{name} must be an nn.Module, got {type(value).__name__}"
        )
