"""SQL statements and commits per authenticated E02 enquiry (issue 5).

    .venv/bin/python bench/api_bench_statements.py                    # PostgreSQL
    .venv/bin/python bench/api_bench_statements.py --engine sqlite

Seeds a small database of its own (as bench/api_bench.py does), serves the app
in-process (FastAPI TestClient, the same app `cardsvc serve` runs), signs in one
clerk, warms up, then counts the statements the database receives
(SQLAlchemy ``before_cursor_execute``; BEGIN is implicit on PostgreSQL and counted
as a statement on SQLite, where the engine emits it) and the commits, for
``GET /v1/persons/{ssn}/contributions`` as a clerk (site scope) and as a kiosk in a
PIN-verified card session (``X-Card-Session``; the session row is written directly).
Prints one line per caller and, with ``--show``, the statements.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_bench_setup as setup
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from api.app import create_app
from cardsvc.db.engine import make_engine
from cardsvc.db.models import Card, CardSession, CardState, Person
from cardsvc.db.uow import make_session_factory
from cardsvc.settings import Settings


class StatementCounter:
    """Counts statements and commits on every engine while `active`."""

    def __init__(self) -> None:
        self.active = False
        self.statements: list[str] = []
        self.commits = 0
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)

    def _statement(self, _conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if self.active:
            self.statements.append(" ".join(sql.split())[:110])

    def _commit(self, _conn: Any) -> None:
        if self.active:
            self.commits += 1

    def reset(self) -> None:
        self.statements = []
        self.commits = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--requests", type=int, default=20, help="counted requests (20)")
    parser.add_argument("--show", action="store_true", help="print the statements")
    args = parser.parse_args(argv)

    counter = StatementCounter()
    with setup.bench_database(args.engine, args.pg_url) as url:
        setup.seed(url, 60)
        clerk = setup.add_clerks(url, 1)[0]
        persons = setup.in_scope(url, 5)
        env = dict(setup.SERVER_ENV) | {"CARDSVC_DATABASE_URL": url}
        settings = Settings.from_env(env)
        with TestClient(create_app(settings)) as client:
            login = client.post(
                "/v1/auth/login",
                json={"username": clerk.name, "password": clerk.secret},
                headers={"Idempotency-Key": "statements-login-1"},
            )
            login.raise_for_status()
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            ssn = persons[0][1]
            path = f"/v1/persons/{ssn}/contributions"
            _count("E02 as a clerk", client, (path, auth), counter, args)
            kiosk = setup.add_kiosks(url, 1)[0]
            signed_in = client.post(
                "/v1/auth/device-login",
                json={"device_id": int(kiosk.name), "credential": kiosk.secret},
            )
            signed_in.raise_for_status()
            card_ssn, session_id = _card_session(url, int(kiosk.name))
            kiosk_auth = {
                "Authorization": f"Bearer {signed_in.json()['access_token']}",
                "X-Card-Session": session_id,
            }
            kiosk_path = f"/v1/persons/{card_ssn}/contributions"
            label = "E02 as a kiosk in a card session"
            _count(label, client, (kiosk_path, kiosk_auth), counter, args)
    return 0


def _card_session(url: str, device_id: int) -> tuple[str, str]:
    """A verified, PIN-checked card session of `device_id` for a seeded active card."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            card = session.scalars(
                select(Card)
                .join(Person, Person.id == Card.person_id)
                .where(Card.state == CardState.ACTIVE, Person.residence_site_code.like("3704%"))
                .limit(1)
            ).one()
            now = datetime.now(UTC)
            row = CardSession(
                id=secrets.token_hex(16),
                card_number=card.card_number,
                person_id=card.person_id,
                device_id=device_id,
                pin_verified=True,
                verified_at=now,
                expires_at=now + timedelta(hours=1),
            )
            session.add(row)
            return card.ssn, row.id
    finally:
        engine.dispose()


def _count(
    label: str,
    client: TestClient,
    request: tuple[str, dict[str, str]],
    counter: StatementCounter,
    args: argparse.Namespace,
) -> None:
    path, headers = request
    for _ in range(5):  # warm-up: caches, prepared statements
        client.get(path, headers=headers).raise_for_status()
    counter.reset()
    counter.active = True
    for _ in range(args.requests):
        client.get(path, headers=headers).raise_for_status()
    counter.active = False
    per = len(counter.statements) / args.requests
    commits = counter.commits / args.requests
    print(
        f"{args.engine}: {label}: {per:.2f} statements and {commits:.2f} commits "
        f"per request ({args.requests} requests)"
    )
    if args.show:
        for sql, n in Counter(counter.statements).most_common():
            print(f"  {n / args.requests:5.2f} × {sql}")


if __name__ == "__main__":
    raise SystemExit(main())
