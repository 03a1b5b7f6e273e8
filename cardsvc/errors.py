"""The root of every error the cardsvc package raises on purpose."""


class CardsvcError(Exception):
    """Base class for cardsvc errors; catch this at entry points."""
