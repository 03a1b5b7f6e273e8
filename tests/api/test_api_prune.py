"""Cleanup of expired API state: `prune`, `cardsvc db prune`, and the service's own runs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from api_harness import CHEAP_ARGON, Records, migrated
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import tokens
from api.app import create_app
from api.prune import KEEP_EXPIRED_S, Pruner, prune
from cardsvc.cli.main import main as cli_main
from cardsvc.db.models import (
    ApiToken,
    CardChallenge,
    CardSession,
    EmploymentStatus,
    HttpIdempotencyRecord,
    IdempotencyRecord,
    IdempotencyState,
    ItemCode,
    Person,
    RateCounter,
    Sex,
)
from cardsvc.settings import Settings

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
OLD = NOW - timedelta(seconds=KEEP_EXPIRED_S + 60)  # expired longer than rows are kept
RECENT = NOW - timedelta(seconds=60)  # expired a minute ago: kept
SETTINGS = Settings(database_url="sqlite://")


@pytest.fixture
def records(database_url: str) -> Iterator[Records]:
    rec = Records(migrated(database_url))
    rec.ensure_sites()
    try:
        yield rec
    finally:
        rec.dispose()


def _token(session: Session, operator_id: int, expires_at: datetime) -> int:
    row = ApiToken(
        token_hash=tokens.digest(secrets.token_urlsafe(32)),
        operator_id=operator_id,
        issued_at=expires_at - timedelta(hours=8),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row.id


def _challenge(session: Session, operator_id: int, expires_at: datetime) -> str:
    row = CardChallenge(
        id=secrets.token_hex(16),
        card_number="A00000011",
        card_id_code="0" * 32,
        atr_hex="3B",
        algorithm=3,
        challenge_p_hex="00" * 8,
        challenge_s_hex="00" * 8,
        operator_id=operator_id,
        created_at=expires_at - timedelta(minutes=2),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row.id


def _card_session(
    session: Session, operator_id: int, person_id: int, challenge_id: str, expires_at: datetime
) -> str:
    row = CardSession(
        id=secrets.token_hex(16),
        challenge_id=challenge_id,
        card_number="A00000011",
        person_id=person_id,
        operator_id=operator_id,
        verified_at=expires_at - timedelta(minutes=15),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row.id


def _http_record(session: Session, key: str, started_at: datetime) -> None:
    session.add(
        HttpIdempotencyRecord(
            scope="operator:1",
            key=key,
            method="POST",
            path="/v1/x",
            request_hash="0" * 64,
            state=IdempotencyState.COMPLETED,
            claim_token="c" * 32,
            started_at=started_at,
            completed_at=started_at,
            status_code=201,
        )
    )


def _populate(records: Records) -> dict[str, object]:
    """Expired-long-ago rows (to go) and live or recently expired ones (to stay)."""
    operator = records.operator()
    retention = timedelta(seconds=SETTINGS.idempotency_retention_s)
    with records.session() as session:
        person = Person(
            ssn="370402199001011238",
            name="张三",
            sex=Sex.MALE,
            nationality="01",
            birth_date=date(1990, 1, 1),
            residence_site_code="370402",
            employment_status=EmploymentStatus.EMPLOYED,
        )
        session.add(person)
        session.flush()
        op = operator.id
        keep = {
            "tokens": {_token(session, op, NOW + timedelta(hours=1)), _token(session, op, RECENT)},
            "challenges": set(),
            "sessions": set(),
        }
        gone_tokens = {_token(session, op, OLD)}
        # an old challenge whose (old) session goes too; an old challenge still referenced
        # by a live session stays; an old unanswered challenge goes.
        old_with_old_session = _challenge(session, op, OLD)
        gone_session = _card_session(session, op, person.id, old_with_old_session, OLD)
        old_with_live_session = _challenge(session, op, OLD)
        live_session = _card_session(
            session, op, person.id, old_with_live_session, NOW + timedelta(minutes=5)
        )
        old_unanswered = _challenge(session, op, OLD)
        recent_challenge = _challenge(session, op, RECENT)
        keep["challenges"] = {old_with_live_session, recent_challenge}
        keep["sessions"] = {live_session}
        _http_record(session, "old", NOW - retention - timedelta(seconds=KEEP_EXPIRED_S + 1))
        _http_record(session, "new", NOW - timedelta(hours=1))
        session.add_all(
            [
                IdempotencyRecord(
                    scope=f"operator:{op}:{ItemCode.C01.value}",
                    key=name,
                    request_hash="0" * 64,
                    response_json={},
                    created_at=at,
                )
                for name, at in (
                    ("old", NOW - retention - timedelta(seconds=KEEP_EXPIRED_S + 1)),
                    ("new", NOW - timedelta(hours=1)),
                )
            ]
        )
        lockout = timedelta(seconds=SETTINGS.login_lockout_s)
        session.add_all(
            [
                RateCounter(subject="operator:1", window_start=NOW - lockout * 2, count=3),
                # a failed-sign-in window that started 20 minutes ago is still running
                RateCounter(subject="device-login:1", window_start=NOW - lockout / 2, count=3),
                RateCounter(subject="operator:1", window_start=NOW, count=1),
            ]
        )
    return {
        "keep": keep,
        "gone_tokens": gone_tokens,
        "gone": (gone_session, old_with_old_session, old_unanswered),
    }


def test_prune_deletes_only_expired_rows(records: Records) -> None:
    made = _populate(records)
    with records.session() as session:
        report = prune(session, now=NOW, settings=SETTINGS)
    assert (
        report.tokens,
        report.card_sessions,
        report.card_challenges,
        report.http_idempotency_records,
        report.idempotency_records,
        report.rate_counters,
    ) == (1, 1, 2, 1, 1, 1)
    assert "pruned 7 expired rows" in str(report)
    keep = made["keep"]
    assert isinstance(keep, dict)
    with records.session() as session:
        assert set(session.scalars(select(ApiToken.id))) == keep["tokens"]
        assert set(session.scalars(select(CardChallenge.id))) == keep["challenges"]
        assert set(session.scalars(select(CardSession.id))) == keep["sessions"]
        assert list(session.scalars(select(HttpIdempotencyRecord.key))) == ["new"]
        assert list(session.scalars(select(IdempotencyRecord.key))) == ["new"]
        assert sorted(session.scalars(select(RateCounter.subject))) == [
            "device-login:1",
            "operator:1",
        ]
    with records.session() as session:  # a second run finds nothing
        assert prune(session, now=NOW, settings=SETTINGS).total == 0


def test_cli_prune(records: Records, capsys: pytest.CaptureFixture[str]) -> None:
    operator = records.operator()
    with records.session() as session:
        _token(session, operator.id, datetime.now(UTC) - timedelta(days=3))
        _token(session, operator.id, datetime.now(UTC) + timedelta(hours=1))
    assert cli_main(["db", "prune", "--database", records.url]) == 0
    out = capsys.readouterr().out
    assert "pruned 1 expired rows: 1 tokens, 0 card sessions" in out
    with records.session() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1


def test_pruner_runs_at_most_once_per_interval() -> None:
    clock = [100.0]
    pruner = Pruner(interval_s=300, clock=lambda: clock[0])
    assert pruner.due()  # the first request of a process prunes
    assert not pruner.due()
    clock[0] += 299
    assert not pruner.due()
    clock[0] += 2
    assert pruner.due()
    assert not pruner.due()


def test_the_service_prunes_while_serving(records: Records) -> None:
    operator = records.operator(password_hash=CHEAP_ARGON.hash("pw-12345678"), password="x")
    live = records.token(operator.id, expires_in_s=3600)
    with records.session() as session:
        old = _token(session, operator.id, datetime.now(UTC) - timedelta(days=2))
    settings = Settings(database_url=records.url)
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {live}"}
        assert client.get("/v1/sites/370402", headers=auth).status_code == 200
        with records.session() as session:
            assert session.get(ApiToken, old) is None  # pruned when the process started
            again = _token(session, operator.id, datetime.now(UTC) - timedelta(days=2))
        assert client.get("/v1/sites/370402", headers=auth).status_code == 200
        with records.session() as session:
            assert session.get(ApiToken, again) is not None  # not again within the interval
