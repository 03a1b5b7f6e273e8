"""The API's key service (the HSM role): loaded at start-up, one per process.

:func:`load_key_service` reads ``Settings.key_file`` (``CARDSVC_KEY_FILE``):

- a path → :meth:`KeyServiceSecurityModule.from_file`; a file that holds any of the
  contract's demo masters is refused unless ``CARDSVC_DEMO=1``;
- ``demo``, or unset in demo mode → the demo masters (``Settings`` itself refuses
  ``demo`` outside demo mode);
- unset outside demo mode → no key service: the card-session routes answer 503
  ``service-unavailable`` until one is configured (the rest of the API works).

:func:`key_service_lifespan` is the card-session router's lifespan: it runs after
the app's own lifespan opened the database, keeps the module on
``app.state.key_service`` and refuses to start (a clear :class:`KeyServiceError`)
on a bad or forbidden key file. Routes take ``sm: KeyServiceDep``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from api.errors import ServiceUnavailable
from cardsvc import crypto
from cardsvc.card.errors import SecurityModuleError
from cardsvc.card.security import KeyServiceSecurityModule, SecurityModule, parse_master_file
from cardsvc.crypto import Algorithm
from cardsvc.errors import CardsvcError
from cardsvc.settings import DEMO_KEYS, Settings

logger = logging.getLogger(__name__)

_STATE_KEY = "key_service"


class KeyServiceError(CardsvcError):
    """The key service cannot start: a bad key file, or demo masters outside demo mode."""


def _holds_demo_masters(path: str) -> bool:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        masters = parse_master_file(data, path)
    except (OSError, ValueError, SecurityModuleError):
        return False  # from_file reports the real problem
    demo_keys = {key for alg in Algorithm for key in crypto.demo_masters(alg).keys.values()}
    return any(key in demo_keys for mk in masters for key in mk.keys.values())


def load_key_service(settings: Settings) -> SecurityModule | None:
    """The key service `settings` ask for (None: not configured); KeyServiceError if refused."""
    if settings.key_file is None or settings.key_file == DEMO_KEYS:
        if not settings.demo:
            if settings.key_file == DEMO_KEYS:  # pragma: no cover - Settings refuses it already
                raise KeyServiceError("CARDSVC_KEY_FILE=demo needs CARDSVC_DEMO=1")
            return None
        return KeyServiceSecurityModule.demo()
    path = settings.key_file
    if not settings.demo and _holds_demo_masters(path):
        raise KeyServiceError(
            f"CARDSVC_KEY_FILE {path}: the file holds the card contract's DEMO master keys, "
            "which are for demos and tests only: use the issuer's masters, or set CARDSVC_DEMO=1"
        )
    try:
        return KeyServiceSecurityModule.from_file(path)
    except SecurityModuleError as exc:
        raise KeyServiceError(f"CARDSVC_KEY_FILE: {exc}") from None


@asynccontextmanager
async def key_service_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the key service when the app starts (after the database), drop it at the end."""
    settings = getattr(app.state, "settings", None)
    if not isinstance(settings, Settings):  # pragma: no cover - create_app sets it
        raise KeyServiceError("the app has no settings: build it with api.app.create_app")
    try:
        module = load_key_service(settings)
    except KeyServiceError as exc:
        logger.error("cannot start: %s", exc)  # noqa: TRY400 - the message is the whole story
        raise
    if module is None:
        logger.warning(
            "no key service configured (CARDSVC_KEY_FILE): card sessions answer 503 until one is"
        )
    setattr(app.state, _STATE_KEY, module)
    try:
        yield
    finally:
        setattr(app.state, _STATE_KEY, None)


def get_key_service(request: Request) -> SecurityModule:
    """The process's key service; 503 when none is configured."""
    module: SecurityModule | None = getattr(request.app.state, _STATE_KEY, None)
    if module is None:
        raise ServiceUnavailable(
            "card sessions need the key service, and none is configured "
            "(CARDSVC_KEY_FILE): ask the operator of the service",
            retry_after_s=60,
        )
    return module


KeyServiceDep = Annotated[SecurityModule, Depends(get_key_service)]
