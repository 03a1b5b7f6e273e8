"""The root of every error the simulators raise on purpose."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class for simulator errors; catch this at entry points."""


class PersonalisationError(SimulatorError):
    """A personalisation file that cannot make a card: names the field and what is wrong."""

    def __init__(self, field: str, problem: str, source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}field '{field}': {problem}")
        self.field = field
        self.problem = problem
        self.source = source
