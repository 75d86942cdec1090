"""Node parameters with their defaults, descriptions and valid ranges, checked one way everywhere.

A check returns None for a good value and the reason otherwise; the nodes
use it at start-up (a bad value from YAML falls back to the default, with
an error line) and in their parameter callback (a bad run-time value is
rejected with the reason). A range check also gives the range that the
parameter's ROS descriptor shows (`ros2 param describe`, rqt_reconfigure).
ROS-free: node_common turns a Param into a ParameterDescriptor.
"""
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Range:
    """A check that a number lies in [low, high] (`open_low`: low itself excluded)."""
    low: float = -float('inf')
    high: float = float('inf')
    open_low: bool = False

    def __call__(self, value) -> str | None:
        if self.open_low and not value > self.low:
            return f'must be > {self.low}'
        if not self.low <= value <= self.high:
            return (f'must be >= {self.low}' if self.high == float('inf')
                    else f'must be in [{self.low}, {self.high}]')
        return None

    @property
    def constraint(self) -> str:
        """What the descriptor's range cannot say (it includes its bounds)."""
        return f'> {self.low}' if self.open_low else ''


@dataclass(frozen=True)
class Param:
    default: Any
    check: Callable[[Any], str | None] | None = None
    description: str = ''

    @property
    def is_float(self) -> bool:
        return isinstance(self.default, float)

    @property
    def range(self) -> Range | None:
        """The range a number must lie in, for the descriptor; None where there is none."""
        return self.check if isinstance(self.check, Range) else None

    @property
    def constraint(self) -> str:
        """The check in words where a range does not say it all (descriptor's additional_constraints)."""
        return getattr(self.check, 'constraint', '')

    def problem(self, value) -> str | None:
        """Why `value` cannot be used (wrong type or failed check), or None."""
        if not _same_type(value, self.default):
            return f'must be {_type_name(self.default)}'
        return self.check(value) if self.check else None

    def accepted(self, value):
        """`value` as the parameter's type: a whole number given for a float becomes a float."""
        return float(value) if self.is_float else value


def _same_type(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):   # 2 in YAML for a float parameter means 2.0
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        kinds = {type(item) for item in default}
        return isinstance(value, (list, tuple)) and all(type(item) in kinds for item in value)
    return isinstance(value, type(default))


def _type_name(default) -> str:
    if isinstance(default, (list, tuple)):
        return f'a list of {type(default[0]).__name__}' if default else 'a list'
    return {bool: 'true or false', int: 'a whole number', float: 'a number',
            str: 'a string'}.get(type(default), type(default).__name__)


def between(low: float, high: float) -> Range:
    return Range(low, high)


def at_least(low: float) -> Range:
    return Range(low)


def greater_than(low: float) -> Range:
    return Range(low, open_low=True)


@dataclass(frozen=True)
class Choice:
    """A check that a value is one of `choices`."""
    choices: tuple

    def __call__(self, value) -> str | None:
        if value not in self.choices:
            return f'must be {self.constraint}'
        return None

    @property
    def constraint(self) -> str:
        return f"one of {', '.join(map(str, self.choices))}"


def one_of(*choices) -> Choice:
    return Choice(choices)

