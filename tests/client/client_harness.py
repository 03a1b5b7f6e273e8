"""A served API for the terminal-side tests (client, station, agent): the REAL server
(uvicorn subprocess on a free loopback port, tests/api/api_harness.py) with the demo key
service, over its own migrated database, plus the test rows it needs.

`TerminalApi` gives operators and devices WITH their secrets (the programs under test
sign in themselves), cards (tests/api/cards/card_terminal.py: a simulated card and
its person and card rows) and direct state changes of a card row (a loss reported
elsewhere). Importing it puts tests/api and tests/api/cards on sys.path.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
for _extra in (_TESTS / "api", _TESTS / "api" / "cards"):
    if str(_extra) not in sys.path:
        sys.path.append(str(_extra))

from api_harness import (  # noqa: E402
    ApiServer,
    DeviceLogin,
    OperatorLogin,
    Records,
    launch_server,
    migrated,
)
from card_terminal import TestCard, make_card, random_masters  # noqa: E402
from sqlalchemy import select, update  # noqa: E402

from cardsvc.db.models import Card, CardSession, CardState, DeviceKind, Role  # noqa: E402

DEMO_ENV: dict[str, str] = {
    "CARDSVC_DEMO": "1",
    "CARDSVC_KEY_FILE": "demo",
    "CARDSVC_RATE_LIMIT_OPERATOR": "100000",
    "CARDSVC_RATE_LIMIT_DEVICE": "100000",
}


@dataclass
class TerminalApi:
    """One running API server and its database."""

    engine_name: str
    database_url: str
    records: Records
    server: ApiServer

    @classmethod
    def start(cls, engine_name: str, database_url: str, log_dir: Path) -> TerminalApi:
        records = Records(migrated(database_url))
        records.ensure_sites()
        try:
            server = launch_server(database_url, log_dir, **DEMO_ENV)
        except BaseException:
            records.dispose()
            raise
        return cls(engine_name, database_url, records, server)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.stop()
        self.records.dispose()

    # -- callers ------------------------------------------------------------------------

    def operator(self, *roles: Role) -> OperatorLogin:
        return self.records.operator(roles=frozenset(roles or (Role.CLERK,)))

    def device(self, kind: DeviceKind = DeviceKind.KIOSK) -> DeviceLogin:
        return self.records.device(kind=kind)

    # -- cards --------------------------------------------------------------------------

    def card(self, generation: int = 2, *, state: CardState = CardState.ACTIVE) -> TestCard:
        """A simulated card of a fresh identity, with its person and card rows."""
        return make_card(self.records, generation, state=state)

    def set_state(self, card_number: str, state: CardState) -> None:
        """Change a card's recorded state directly (e.g. a loss reported at another counter)."""
        with self.records.session() as session:
            session.execute(
                update(Card)
                .where(Card.card_number == card_number)
                .values(state=state, state_changed_at=datetime.now(UTC))
            )

    def forged_card(self, generation: int = 2) -> TestCard:
        """A card personalised with other masters, its number recorded (a forgery)."""
        return make_card(self.records, generation, masters=random_masters())

    def session_ended(self, session_id: str) -> bool:
        """Whether the card session was ended (DELETE /v1/card-sessions/{id})."""
        with self.records.session() as session:
            row = session.get(CardSession, session_id)
            assert row is not None, f"no card session {session_id}"
            return row.ended_at is not None

    def card_row(self, card_number: str) -> Card:
        with self.records.session() as session:
            row = session.execute(select(Card).where(Card.card_number == card_number)).scalar_one()
            session.expunge(row)
            return row


__all__ = ["DEMO_ENV", "DeviceLogin", "OperatorLogin", "TerminalApi", "TestCard"]
