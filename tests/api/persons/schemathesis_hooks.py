"""schemathesis hooks of the API runs (loaded through SCHEMATHESIS_HOOKS by the test).

- Every write takes an ``Idempotency-Key`` that must be new for each new request
  (the same key with another body is a 422 ``idempotency-key-reused``, by design).
  schemathesis reuses generated values across cases, so in every positive case a
  well-formed key is replaced by a fresh one just before the call. Negative cases and
  malformed values are sent as generated (they must be refused anyway).
- ``X-Card-Session`` names a card session of the caller. A random id (what
  schemathesis makes of the schema) names none and is refused (403) before the route's
  logic; in every positive case that carries a well-formed id, it is replaced by a real
  session of the run's operator (``CARDSVC_ST_CARD_SESSION``, set by the test) for the
  card the OpenAPI examples name.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

import schemathesis

_WELL_FORMED_KEY = re.compile(r"[!-~]{1,128}")
_WELL_FORMED_SESSION = re.compile(r"[0-9a-f]{32}")
_SERIAL = itertools.count(1)
_RUN = "st"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    headers = case.headers
    if not headers:
        return
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _WELL_FORMED_KEY.fullmatch(key):
        headers["Idempotency-Key"] = f"{_RUN}-{next(_SERIAL)}"
    session = os.environ.get("CARDSVC_ST_CARD_SESSION")
    presented = headers.get("X-Card-Session")
    if session and isinstance(presented, str) and _WELL_FORMED_SESSION.fullmatch(presented):
        headers["X-Card-Session"] = session
