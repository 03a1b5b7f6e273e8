"""Database-enforced rules of the models, on both engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cardsvc.db.models import (
    CancellationReason,
    Card,
    CardState,
    ChangeField,
    ChangeStatus,
    ContractType,
    Employer,
    InsuranceRelation,
    Operator,
    PendingChange,
    Person,
    PriorContribution,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    Role,
    Scheme,
    SeparationReason,
)
from cardsvc.db.uow import UnitOfWork, make_session_factory

AddPerson = Callable[..., Person]
AddCard = Callable[..., Card]
NOW = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)


def _registration(
    person_id: int,
    kind: RegistrationKind,
    status: RegistrationStatus = RegistrationStatus.OPEN,
    employer_id: int | None = None,
    *,
    complete: bool = True,
) -> Registration:
    closed = status is RegistrationStatus.CLOSED
    employment = kind is RegistrationKind.EMPLOYMENT
    return Registration(
        person_id=person_id,
        kind=kind,
        status=status,
        site_code="370402",
        opened_at=NOW,
        closed_at=NOW + timedelta(days=30) if closed else None,
        employer_id=employer_id if employment else None,
        start_date=NOW.date() if employment else None,
        contract_type=ContractType.FIXED_TERM if employment and complete else None,
        certificate_no=None if employment else "3704020000001",
    )


def _add(factory: sessionmaker[Session], *objects: object) -> None:
    with UnitOfWork(factory) as uow:
        uow.session.add_all(objects)


def _person_and_employer(factory: sessionmaker[Session], add_person: AddPerson) -> tuple[int, int]:
    with UnitOfWork(factory) as uow:
        person = add_person(uow.session)
        employer = Employer(credit_code="91370400MA3C000001", name="枣庄某厂", site_code="370402")
        uow.session.add(employer)
        uow.session.flush()
        return person.id, employer.id


def _open_registrations(factory: sessionmaker[Session], person_id: int) -> list[RegistrationKind]:
    with UnitOfWork(factory) as uow:
        return sorted(
            uow.session.scalars(
                select(Registration.kind).where(
                    Registration.person_id == person_id,
                    Registration.status == RegistrationStatus.OPEN,
                )
            ).all()
        )


def test_a_second_open_registration_of_a_kind_is_refused(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    person_id, employer_id = _person_and_employer(session_factory, add_person)
    unemployment, employment = RegistrationKind.UNEMPLOYMENT, RegistrationKind.EMPLOYMENT
    _add(
        session_factory,
        _registration(person_id, unemployment, RegistrationStatus.CLOSED),
        _registration(person_id, unemployment, RegistrationStatus.CLOSED),
        _registration(person_id, unemployment),
        _registration(person_id, employment, employer_id=employer_id),
    )
    second = _registration(person_id, unemployment)
    with pytest.raises(IntegrityError, match=r"uq_registrations_one_open_per_kind|UNIQUE"):
        _add(session_factory, second)
    assert _open_registrations(session_factory, person_id) == [employment, unemployment]


def test_employment_registration_needs_its_fields(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    person_id, employer_id = _person_and_employer(session_factory, add_person)
    incomplete = _registration(
        person_id, RegistrationKind.EMPLOYMENT, employer_id=employer_id, complete=False
    )
    with pytest.raises(IntegrityError, match="employment_fields"):
        _add(session_factory, incomplete)


def test_only_an_ended_employment_says_why_and_not_before_it_began(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    person_id, employer_id = _person_and_employer(session_factory, add_person)
    job = _registration(
        person_id, RegistrationKind.EMPLOYMENT, RegistrationStatus.CLOSED, employer_id
    )
    job.end_date = NOW.date() + timedelta(days=20)
    job.separation_reason = SeparationReason.DISMISSED
    _add(session_factory, job)
    spell = _registration(person_id, RegistrationKind.UNEMPLOYMENT)
    spell.separation_reason = SeparationReason.DISMISSED
    with pytest.raises(IntegrityError, match="separation_fields"):
        _add(session_factory, spell)
    early = _registration(
        person_id, RegistrationKind.EMPLOYMENT, RegistrationStatus.CLOSED, employer_id
    )
    early.end_date = NOW.date() - timedelta(days=1)
    with pytest.raises(IntegrityError, match="end_date"):
        _add(session_factory, early)


def test_one_active_relation_per_person_and_scheme(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    person_id, _ = _person_and_employer(session_factory, add_person)

    def relation(scheme: Scheme, status: RelationStatus) -> InsuranceRelation:
        ended = status is RelationStatus.ENDED
        return InsuranceRelation(
            person_id=person_id,
            scheme=scheme,
            status=status,
            start_date=date(2020, 1, 1),
            end_date=date(2021, 1, 1) if ended else None,
        )

    _add(
        session_factory,
        relation(Scheme.RESIDENT_MEDICAL, RelationStatus.ACTIVE),
        relation(Scheme.RESIDENT_MEDICAL, RelationStatus.ENDED),
        relation(Scheme.RESIDENT_MEDICAL, RelationStatus.ENDED),
        relation(Scheme.RESIDENT_PENSION, RelationStatus.ACTIVE),
    )
    with pytest.raises(IntegrityError, match=r"uq_insurance_relations_one_active|UNIQUE"):
        _add(session_factory, relation(Scheme.RESIDENT_MEDICAL, RelationStatus.ACTIVE))
    with UnitOfWork(session_factory) as uow:
        active = uow.session.scalars(
            select(InsuranceRelation.scheme).where(
                InsuranceRelation.person_id == person_id,
                InsuranceRelation.status == RelationStatus.ACTIVE,
            )
        ).all()
    assert sorted(active) == [Scheme.RESIDENT_MEDICAL, Scheme.RESIDENT_PENSION]


def test_only_a_cancelled_card_has_a_cancellation_reason(
    session_factory: sessionmaker[Session], add_person: AddPerson, add_card: AddCard
) -> None:
    with UnitOfWork(session_factory) as uow:
        card = add_card(uow.session, add_person(uow.session))
        card_id = card.id
    with pytest.raises(IntegrityError, match="cancellation_reason_state"):
        _set_reason(session_factory, card_id, CancellationReason.DEATH)
    with UnitOfWork(session_factory) as uow:
        found = uow.session.get(Card, card_id)
        assert found is not None
        found.state = CardState.CANCELLED
        found.cancellation_reason = CancellationReason.EMIGRATION
    with UnitOfWork(session_factory) as uow:
        stored = uow.session.get(Card, card_id)
        assert stored is not None
        assert stored.cancellation_reason is CancellationReason.EMIGRATION


def test_prior_months_are_one_row_per_scheme_and_never_negative(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    person_id, _ = _person_and_employer(session_factory, add_person)

    def prior(months: int, before: int = 202301) -> PriorContribution:
        return PriorContribution(
            person_id=person_id,
            scheme=Scheme.EMPLOYEE_PENSION,
            months=months,
            before_month=before,
        )

    _add(session_factory, prior(120))
    with pytest.raises(IntegrityError):
        _add(session_factory, prior(12))
    with pytest.raises(IntegrityError, match="months"):
        _add(session_factory, replace_scheme(prior(-1), Scheme.UNEMPLOYMENT))
    with pytest.raises(IntegrityError, match="before_month"):
        _add(session_factory, replace_scheme(prior(1, before=202313), Scheme.UNEMPLOYMENT))


def _set_reason(factory: sessionmaker[Session], card_id: int, reason: CancellationReason) -> None:
    with UnitOfWork(factory) as uow:
        found = uow.session.get(Card, card_id)
        assert found is not None
        found.cancellation_reason = reason


def replace_scheme(row: PriorContribution, scheme: Scheme) -> PriorContribution:
    row.scheme = scheme
    return row


def _set_state(factory: sessionmaker[Session], card: Card, state: CardState) -> None:
    """Write `card` (as this caller last saw it) with a new state."""
    with UnitOfWork(factory) as uow:
        mine = uow.session.merge(card, load=False)
        mine.state = state


def test_card_update_racing_a_committed_one_is_stale(
    session_factory: sessionmaker[Session], add_person: AddPerson, add_card: AddCard
) -> None:
    with UnitOfWork(session_factory) as uow:
        card_id = add_card(uow.session, add_person(uow.session)).id
    with UnitOfWork(session_factory) as uow:  # clerk A reads the card (version 1)
        seen_by_a = uow.session.get_one(Card, card_id)
    with UnitOfWork(session_factory) as uow:  # clerk B reads it too
        seen_by_b = uow.session.get_one(Card, card_id)
    assert (seen_by_a.version, seen_by_b.version) == (1, 1)
    _set_state(session_factory, seen_by_b, CardState.ACTIVE)  # B writes first
    with pytest.raises(StaleDataError):  # A's write is based on version 1
        _set_state(session_factory, seen_by_a, CardState.TEMPORARILY_LOST)
    with UnitOfWork(session_factory) as uow:
        final = uow.session.get_one(Card, card_id)
        assert (final.state, final.version) == (CardState.ACTIVE, 2)


def test_concurrent_card_transactions_on_postgresql_are_stale(
    pg_engine: Engine, add_person: AddPerson, add_card: AddCard
) -> None:
    """Two open transactions read the same card; the later writer loses."""
    factory = make_session_factory(pg_engine)
    with UnitOfWork(factory) as uow:
        card_id = add_card(uow.session, add_person(uow.session)).id
    with UnitOfWork(factory) as a, UnitOfWork(factory) as b:
        card_a = a.session.get_one(Card, card_id)
        card_b = b.session.get_one(Card, card_id)
        card_b.state = CardState.ACTIVE
        b.commit()
        card_a.state = CardState.LOST
        with pytest.raises(StaleDataError):
            a.session.flush()
        a.rollback()
    with UnitOfWork(factory) as uow:
        assert uow.session.get_one(Card, card_id).state is CardState.ACTIVE


def test_names_outside_the_bmp_round_trip(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    name = "𠀀𪚥张三·阿卜杜"  # CJK extension B characters (4 bytes in UTF-8 and GB 18030)
    with UnitOfWork(session_factory) as uow:
        person_id = add_person(uow.session, name=name).id
    with UnitOfWork(session_factory) as uow:
        assert uow.session.get_one(Person, person_id).name == name


def _operator(username: str, locked_until: datetime | None = None) -> Operator:
    return Operator(
        username=username,
        site_code="370402",
        roles=frozenset({Role.REVIEWER, Role.CLERK}),
        password_hash="$argon2id$placeholder",
        locked_until=locked_until,
    )


def test_roles_and_utc_times_round_trip(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    east8 = timezone(timedelta(hours=8))
    with UnitOfWork(session_factory) as uow:
        add_person(uow.session)
        operator = _operator("clerk01", datetime(2025, 3, 1, 16, 30, tzinfo=east8))
        uow.session.add(operator)
        uow.session.flush()
        operator_id = operator.id
    with UnitOfWork(session_factory) as uow:
        loaded = uow.session.get_one(Operator, operator_id)
        assert loaded.roles == frozenset({Role.CLERK, Role.REVIEWER})
        assert loaded.locked_until == datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
        assert loaded.locked_until.utcoffset() == timedelta(0)
        assert (loaded.failed_logins, loaded.active) == (0, True)


def test_naive_datetimes_are_refused(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    with UnitOfWork(session_factory) as uow:
        add_person(uow.session)
    naive = _operator("clerk02", datetime(2025, 3, 1, 8, 30))
    with pytest.raises(StatementError, match="naive datetime"):
        _add(session_factory, naive)


def test_a_change_cannot_be_approved_by_its_requester(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    with UnitOfWork(session_factory) as uow:
        person = add_person(uow.session)
        clerk = _operator("clerk03")
        uow.session.add(clerk)
        uow.session.flush()
        person_id, clerk_id = person.id, clerk.id
    own_approval = PendingChange(
        person_id=person_id,
        field=ChangeField.NAME,
        old_value="张三",
        new_value="张叁",
        status=ChangeStatus.APPROVED,
        requested_by_id=clerk_id,
        requested_at=NOW,
        decided_by_id=clerk_id,
        decided_at=NOW,
    )
    with pytest.raises(IntegrityError, match="second_operator"):
        _add(session_factory, own_approval)
