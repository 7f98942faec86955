"""The one exception type for bad input, so every entry point reports it the same way."""

from __future__ import annotations


class ParameterError(ValueError):
    """A parameter outside what the model allows.

    The message is one line naming the parameter, the value given and what is allowed,
    e.g. ``capacity_per_min=0: must be > 0 (deliveries per minute)``. The CLI prints it
    and exits with code 2.
    """

    def __init__(self, name: str, value: object, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value!r}: {allowed}")
