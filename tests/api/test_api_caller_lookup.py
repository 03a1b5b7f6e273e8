"""The bearer lookup's statement (api.caller_lookup): what it counts and what it returns.

On PostgreSQL it is one statement with a data-modifying CTE; on SQLite separate
statements. Both must count exactly the tokens that are valid now.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

from api_harness import SITE_CODE, ApiEnv
from sqlalchemy import func, select, update

from api import tokens
from api.caller_lookup import Lookup, lookup
from cardsvc.db.models import ApiToken, EmploymentStatus, Person, RateCounter, Sex
from cardsvc.services.person_records import NOT_ASKED, PersonRecord

WINDOW_S = 3600


def _look(
    env: ApiEnv, token: str, session_id: str | None = None, person_ssn: str | None = None
) -> Lookup:
    with env.records.session() as session:
        return lookup(
            session,
            tokens.digest(token),
            now=datetime.now(UTC),
            window_s=WINDOW_S,
            session_id=session_id,
            person_ssn=person_ssn,
        )


def _hits(env: ApiEnv, subject: str) -> int:
    with env.records.session() as session:
        total = session.scalar(
            select(func.sum(RateCounter.count)).where(RateCounter.subject == subject)
        )
    return int(total or 0)


def test_a_valid_token_is_counted_once_per_lookup(api: ApiEnv) -> None:
    who = api.records.operator()
    token = api.records.token(who.id, expires_in_s=3600)
    first = _look(api, token)
    second = _look(api, token)
    assert first.token is not None
    assert (first.token.operator_id, first.token.device_id) == (who.id, None)
    assert first.token.subject == f"operator:{who.id}"
    assert first.hits is not None
    assert second.hits == first.hits + 1
    assert _hits(api, f"operator:{who.id}") == second.hits
    assert first.presence is None


def test_invalid_tokens_are_found_but_never_counted(api: ApiEnv) -> None:
    who = api.records.operator()
    expired = api.records.token(who.id, expires_in_s=-60)
    revoked = api.records.token(who.id, expires_in_s=3600)
    with api.records.session() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == tokens.digest(revoked))
            .values(revoked_at=datetime.now(UTC))
        )
    disabled = api.records.operator(active=False)
    of_disabled = api.records.token(disabled.id, expires_in_s=3600)
    for token in (expired, revoked, of_disabled):
        found = _look(api, token)
        assert found.token is not None  # found, so authenticate can say why it is refused
        assert found.hits is None
    assert _hits(api, f"operator:{who.id}") == 0
    assert _hits(api, f"operator:{disabled.id}") == 0


def test_an_unknown_token_or_card_session_is_none(api: ApiEnv) -> None:
    unknown = _look(api, "no-such-token-" + "x" * 30)
    assert (unknown.token, unknown.hits, unknown.presence) == (None, None, None)
    who = api.records.operator()
    token = api.records.token(who.id, expires_in_s=3600)
    found = _look(api, token, session_id="0" * 32)
    assert found.token is not None
    assert found.hits is not None
    assert found.presence is None  # no card session with that id


def test_the_person_an_enquiry_names_is_read_with_the_caller(api: ApiEnv) -> None:
    """PostgreSQL reads the enquiry's person in the bearer lookup's statement (one round
    trip fewer); with a card session named, or on SQLite, it is left to the enquiry."""
    who = api.records.operator()
    token = api.records.token(who.id, expires_in_s=3600)
    api.records.ensure_sites()
    ssn = f"3704021990{secrets.randbelow(10**8):08d}"  # unique in the session's database
    with api.records.session() as session:
        person = Person(
            ssn=ssn, name="读前", sex=Sex.FEMALE, nationality="01",
            birth_date=date(1990, 1, 1), residence_site_code=SITE_CODE,
            employment_status=EmploymentStatus.UNEMPLOYED, phone="13800001234",
        )  # fmt: skip
        session.add(person)
        session.flush()
        expected = PersonRecord(
            person.id, ssn, "读前", Sex.FEMALE, date(1990, 1, 1), SITE_CODE,
            EmploymentStatus.UNEMPLOYED, "13800001234",
        )  # fmt: skip
    found = _look(api, token, person_ssn=ssn)
    missing = _look(api, token, person_ssn="999999199001011234")
    with_session = _look(api, token, session_id="0" * 32, person_ssn=ssn)
    assert found.hits is not None  # counted as any lookup
    assert with_session.person is NOT_ASKED  # a card session names the person instead
    if api.engine_name == "postgresql":
        assert found.person == expected
        assert missing.person is None
    else:
        assert (found.person, missing.person) == (NOT_ASKED, NOT_ASKED)
