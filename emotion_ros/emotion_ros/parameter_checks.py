"""Node parameters with their defaults and their valid ranges, checked one way everywhere.

A check returns None for a good value and the reason otherwise; the nodes
use it at start-up (a bad value from YAML falls back to the default, with
an error line) and in their parameter callback (a bad run-time value is
rejected with the reason).
"""
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Param:
    default: Any
    check: Callable[[Any], str | None] | None = None

    def problem(self, value) -> str | None:
        return self.check(value) if self.check else None


def between(low: float, high: float):
    def check(value):
        if not low <= value <= high:
            return f'must be in [{low}, {high}]'
    return check


def at_least(low: float):
    def check(value):
        if not value >= low:
            return f'must be >= {low}'
    return check


def greater_than(low: float):
    def check(value):
        if not value > low:
            return f'must be > {low}'
    return check


def one_of(*choices):
    def check(value):
        if value not in choices:
            return f"must be one of {', '.join(map(str, choices))}"
    return check


def upper_one_of(*choices):
    """Case-insensitive choice (device names)."""
    def check(value):
        if str(value).upper() not in choices:
            return f"must be one of {', '.join(choices)}"
    return check
