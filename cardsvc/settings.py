"""The one settings object of the service, read from the environment by entry points.

Nothing here opens a database or a file: `Settings` only carries values; entry
points build it with `Settings.from_env()` and inject it.

Environment variables:

- ``CARDSVC_DATABASE_URL``: SQLAlchemy URL. Default: SQLite file ``./var/cardsvc.db``
  (resolved against the working directory when the settings are built).
  ``postgresql://`` URLs are served by psycopg 3 (``postgresql+psycopg://``).
- ``CARDSVC_DEMO``: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``
  (default off). Demo mode allows the demo card keys.
- ``CARDSVC_RULES``: path of a rules configuration file (hook; read by the rules code).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cardsvc.errors import CardsvcError

DEFAULT_DATABASE_FILE = Path("var") / "cardsvc.db"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SettingsError(CardsvcError):
    """An environment variable holds a value the service cannot use."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


def default_database_url() -> str:
    """SQLite file under ./var of the current working directory."""
    return "sqlite:///" + str(DEFAULT_DATABASE_FILE.resolve())


@dataclass(frozen=True)
class Settings:
    """Service configuration; build with `from_env()` at an entry point and pass it down."""

    database_url: str = field(default_factory=default_database_url)
    demo: bool = False
    rules_path: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("CARDSVC_DATABASE_URL", "").strip() or default_database_url()
        demo = _parse_bool("CARDSVC_DEMO", env.get("CARDSVC_DEMO", ""))
        rules = env.get("CARDSVC_RULES", "").strip()
        return cls(database_url=url, demo=demo, rules_path=Path(rules) if rules else None)


def _parse_bool(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(variable, f"expected one of 1/0, true/false, yes/no, on/off, got {raw!r}")
