"""The terminal's HTTP client of the cardsvc API (station agent, counter, kiosk).

- `ApiClient`: sign-in (operator or device), `request()` for any route (JSON in,
  JSON out, an Idempotency-Key on every write, problem+json → `ApiProblem`), and
  typed helpers for the card-session flow;
- `ApiProblem`: a problem answer, or a transport failure (status 0).

Importing this package has no side effects (no connection is made).
"""

from cardsvc.client.api import ApiClient
from cardsvc.client.errors import UNREACHABLE, ApiProblem

__all__ = ["UNREACHABLE", "ApiClient", "ApiProblem"]
