"""The one settings object of the service, read from the environment by entry points.

Nothing here opens a database or a file: `Settings` only carries values; entry
points build it with `Settings.from_env()` and inject it.

Environment variables (durations are whole seconds, counts whole numbers ≥ 1):

- ``CARDSVC_DATABASE_URL``: SQLAlchemy URL. Default: SQLite file ``./var/cardsvc.db``
  (resolved against the working directory when the settings are built).
  ``postgresql://`` URLs are served by psycopg 3 (``postgresql+psycopg://``).
- ``CARDSVC_DEMO``: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``
  (default off). Demo mode allows the demo card keys.
- ``CARDSVC_RULES``: path of a rules configuration file (hook; read by the rules code).

HTTP API (``cardsvc serve``):

- ``CARDSVC_TOKEN_TTL``: lifetime of an operator's bearer token (default 28800 = 8 h).
- ``CARDSVC_DEVICE_TOKEN_TTL``: lifetime of a kiosk's or counter terminal's token
  (default 86400 = 24 h).
- ``CARDSVC_LOGIN_MAX_FAILURES``: failed logins in a row that lock an account (default 5).
- ``CARDSVC_LOGIN_LOCKOUT``: how long a locked account stays locked (default 1800 = 30 min).
- ``CARDSVC_RATE_LIMIT_OPERATOR`` / ``CARDSVC_RATE_LIMIT_DEVICE``: authenticated requests
  one operator / one device may make per window (defaults 600 / 300).
- ``CARDSVC_RATE_WINDOW``: the rate-limit window (fixed windows, default 60 s).
- ``CARDSVC_MAX_BODY_BYTES``: the largest request body accepted (default 262144 = 256 KiB).
- ``CARDSVC_IDEMPOTENCY_TIMEOUT``: a write still marked in progress after this long is
  taken over by a retry with the same key (default 60 s).
- ``CARDSVC_IDEMPOTENCY_RETENTION``: how long a stored response is replayed (default
  86400 = 24 h); afterwards the key is free again.
- ``CARDSVC_CHALLENGE_TTL``: how long a card's authentication challenge may be answered
  (default 120 s).
- ``CARDSVC_CARD_SESSION_TTL``: how long a verified card session lasts (default 900 s).
- ``CARDSVC_KEY_FILE``: the key service's master keys (the HSM role): the path of a JSON
  file ``{"3DES": {"IRK": hex32, "UK": …, "PRK": …, "STK": …, "RKSSSE": …}, "SM4": {…}}``,
  or the word ``demo`` for the card contract's demo masters, allowed ONLY with
  ``CARDSVC_DEMO=1`` (refused at start-up otherwise, and so is a file holding the demo
  masters). Unset: the demo masters in demo mode; otherwise no key service, and the
  card-session routes answer 503 until one is configured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cardsvc.errors import CardsvcError

DEFAULT_DATABASE_FILE = Path("var") / "cardsvc.db"
DEMO_KEYS = "demo"
"""``CARDSVC_KEY_FILE=demo``: the contract's demo master keys (demo mode only)."""

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


# Settings field → environment variable, for the whole-number API settings.
_INTEGER_VARIABLES: dict[str, str] = {
    "token_ttl_s": "CARDSVC_TOKEN_TTL",
    "device_token_ttl_s": "CARDSVC_DEVICE_TOKEN_TTL",
    "login_max_failures": "CARDSVC_LOGIN_MAX_FAILURES",
    "login_lockout_s": "CARDSVC_LOGIN_LOCKOUT",
    "rate_limit_operator": "CARDSVC_RATE_LIMIT_OPERATOR",
    "rate_limit_device": "CARDSVC_RATE_LIMIT_DEVICE",
    "rate_window_s": "CARDSVC_RATE_WINDOW",
    "max_body_bytes": "CARDSVC_MAX_BODY_BYTES",
    "idempotency_timeout_s": "CARDSVC_IDEMPOTENCY_TIMEOUT",
    "idempotency_retention_s": "CARDSVC_IDEMPOTENCY_RETENTION",
    "challenge_ttl_s": "CARDSVC_CHALLENGE_TTL",
    "card_session_ttl_s": "CARDSVC_CARD_SESSION_TTL",
}


@dataclass(frozen=True)
class Settings:
    """Service configuration; build with `from_env()` at an entry point and pass it down."""

    database_url: str = field(default_factory=default_database_url)
    demo: bool = False
    rules_path: Path | None = None

    # HTTP API: authentication
    token_ttl_s: int = 8 * 3600
    device_token_ttl_s: int = 24 * 3600
    login_max_failures: int = 5
    login_lockout_s: int = 30 * 60
    # HTTP API: limits
    rate_limit_operator: int = 600
    rate_limit_device: int = 300
    rate_window_s: int = 60
    max_body_bytes: int = 256 * 1024
    # HTTP API: idempotency of writes
    idempotency_timeout_s: int = 60
    idempotency_retention_s: int = 24 * 3600
    # HTTP API: card sessions
    challenge_ttl_s: int = 120
    card_session_ttl_s: int = 15 * 60
    # the key service (card sessions): a master key file, "demo" (demo mode only), or None
    key_file: str | None = None

    def __post_init__(self) -> None:
        for name, variable in _INTEGER_VARIABLES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(variable, f"{name} must be a whole number ≥ 1, got {value!r}")
        if self.key_file == DEMO_KEYS and not self.demo:
            raise SettingsError(
                "CARDSVC_KEY_FILE",
                "the demo master keys are for demos and tests only: set CARDSVC_DEMO=1 "
                "for a demo, or give the path of the key service's master key file",
            )

    @property
    def uses_demo_keys(self) -> bool:
        """Whether the key service runs on the contract's demo masters (demo mode only)."""
        return self.demo and self.key_file in (None, DEMO_KEYS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("CARDSVC_DATABASE_URL", "").strip() or default_database_url()
        demo = _parse_bool("CARDSVC_DEMO", env.get("CARDSVC_DEMO", ""))
        rules = env.get("CARDSVC_RULES", "").strip()
        key_file = env.get("CARDSVC_KEY_FILE", "").strip() or None
        numbers: dict[str, int] = {}
        for name, variable in _INTEGER_VARIABLES.items():
            raw = env.get(variable, "").strip()
            if raw:
                numbers[name] = _parse_positive_int(variable, raw)
        return cls(
            database_url=url,
            demo=demo,
            rules_path=Path(rules) if rules else None,
            key_file=key_file,
            **numbers,
        )


def _parse_bool(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(variable, f"expected one of 1/0, true/false, yes/no, on/off, got {raw!r}")


def _parse_positive_int(variable: str, raw: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise SettingsError(variable, f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise SettingsError(variable, f"must be at least 1, got {value}")
    return value
