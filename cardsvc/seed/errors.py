"""Errors raised by the seeder (cardsvc.seed); root :class:`SeedError`."""

from __future__ import annotations

from cardsvc.errors import CardsvcError


class SeedError(CardsvcError):
    """Root of every error cardsvc.seed raises on purpose."""


class SeedOptionError(SeedError):
    """An option the seeder cannot work with: names the option, the problem and the fix."""

    def __init__(self, option: str, problem: str, fix: str) -> None:
        self.option = option
        self.problem = problem
        self.fix = fix
        super().__init__(f"{option}: {problem}; {fix}")


class DatabaseNotEmptyError(SeedError):
    """The database already holds data and neither --force nor --append was given."""


class SeedStateError(SeedError):
    """The database is in a state the requested seeding mode cannot work with."""
