"""The mini city of the person/site/journal API tests, seeded straight into a migrated
database, and the real server (uvicorn subprocess) over it.

::

    370400 city
    ├── 370402 district (市中区)
    │   ├── 370402001 township ............ OWN: every actor of the tests works here
    │   │   └── 370402001001 station ...... the OWN resident lives here (a site below)
    │   └── 370402002 township ............ SIBLING: another site of the same district
    └── 370403 district (薛城区) ........... FAR: another district
        └── 370403001 township ............ the FAR resident lives here

Actors (all at 370402001): a clerk, a second clerk, a reviewer, a supervisor, an
administrator, a kiosk and a counter terminal. Each gets a bearer token, and a card
session (written as rows, as a verified proof leaves them) for each matrix resident:
PIN verified for the kiosk.

The matrix residents (own, sibling, far) have an active card (and an older one formally
lost, and one cancelled), no pension, no registration, and one pending name and one
pending ID-number change. The route residents (all below OWN)
carry the records the item tests need: a worker with contributions, a pension account
and unemployment benefit payments; a pensioner whose pension is suspended; a job seeker
and a resident to register and enrol.
"""

from __future__ import annotations

import contextlib
import enum
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from api_harness import ApiServer, launch_server, migrated, stop_servers
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from api import tokens
from cardsvc.db.engine import make_engine
from cardsvc.db.models import (
    ApiToken,
    Benefit,
    BenefitPayment,
    Card,
    CardSession,
    CardState,
    ChangeField,
    ChangeStatus,
    ContractType,
    Contribution,
    Degree,
    Device,
    DeviceKind,
    Employer,
    EmploymentStatus,
    InsuranceRelation,
    Operator,
    PendingChange,
    PensionAccountYear,
    PensionEntitlement,
    Person,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    RetirementCategory,
    Role,
    Scheme,
    Sex,
    Site,
    SiteLevel,
    Staff,
)
from cardsvc.db.uow import make_session_factory
from cardsvc.idcheck import card_number_check_char, mask_ssn, ssn_check_digit

CITY = "370400"
DISTRICT = "370402"
OWN = "370402001"
STATION = "370402001001"
SIBLING = "370402002"
FAR_DISTRICT = "370403"
FAR = "370403001"

EMPLOYER_CODE = "91370402MA3C000001"
UNKNOWN_EMPLOYER_CODE = "91370402MA3C999999"
PHONE = "13800000000"

# Limits high enough for the whole module (the shared API fixtures use 25 per window).
SERVER_ENV: dict[str, str] = {
    "CARDSVC_RATE_LIMIT_OPERATOR": "1000000",
    "CARDSVC_RATE_LIMIT_DEVICE": "1000000",
    "CARDSVC_RATE_WINDOW": "3600",
    "CARDSVC_MAX_BODY_BYTES": "65536",
}


SCHEMATHESIS_REPORT = pytest.StashKey[list[str]]()
"""The schemathesis runs' counts, printed in the terminal summary (conftest.py)."""


class Who(enum.StrEnum):
    """The callers of the matrix."""

    CLERK = "clerk"
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"
    KIOSK = "kiosk"
    COUNTER = "counter_device"


OPERATOR_ROLES: dict[Who, frozenset[Role]] = {
    Who.CLERK: frozenset({Role.CLERK}),
    Who.REVIEWER: frozenset({Role.REVIEWER}),
    Who.SUPERVISOR: frozenset({Role.SUPERVISOR}),
    Who.ADMINISTRATOR: frozenset({Role.ADMINISTRATOR}),
}


class Where(enum.StrEnum):
    """Where the person (or site) is, seen from the caller's site."""

    OWN = "own_site"
    SIBLING = "other_site_same_district"
    FAR = "other_district"


SITE_OF: dict[Where, str] = {Where.OWN: OWN, Where.SIBLING: SIBLING, Where.FAR: FAR_DISTRICT}
RESIDENCE_OF: dict[Where, str] = {Where.OWN: STATION, Where.SIBLING: SIBLING, Where.FAR: FAR}


def make_ssn(body17: str) -> str:
    return body17 + ssn_check_digit(body17)


def make_card_number(body8: str) -> str:
    return body8 + card_number_check_char(body8)


NOBODY_SSN = make_ssn("37040219700101999")
"""A well-formed ID number of nobody in the city."""
NOBODY_CARD = make_card_number("Z9999999")
"""A well-formed card number of no card in the city."""
FRESH_CARD = make_card_number("C9999999")
"""A well-formed card number not recorded (for replacement requests)."""


@dataclass(frozen=True)
class Resident:
    key: str
    person_id: int
    ssn: str
    name: str
    card_number: str
    """The person's active card (the card of the card sessions)."""
    birth_date: date
    other_cards: dict[CardState, str] = field(default_factory=dict)
    """Older cards of the matrix residents: one formally lost, one cancelled."""

    def card(self, state: CardState) -> str:
        return self.card_number if state is CardState.ACTIVE else self.other_cards[state]

    def secrets_in(self, text: str) -> list[str]:
        """Which of this person's data `text` shows (for the no-leak assertions)."""
        marks = [self.ssn, mask_ssn(self.ssn), self.name, self.card_number]
        marks += [*self.other_cards.values(), self.birth_date.isoformat(), self.ssn[6:14]]
        return [mark for mark in marks if mark in text]


@dataclass
class MiniCity:
    """The seeded city, its server, and the names the tests use."""

    engine_name: str
    url: str
    server: ApiServer
    tokens: dict[Who, str] = field(default_factory=dict)
    clerk2_token: str = ""
    operator_ids: dict[Who, int] = field(default_factory=dict)
    device_ids: dict[Who, int] = field(default_factory=dict)
    residents: dict[str, Resident] = field(default_factory=dict)
    sessions: dict[tuple[Who, str], str] = field(default_factory=dict)
    """(caller, resident key) → card session id of that caller for that resident's card."""
    changes: dict[tuple[str, ChangeField], int] = field(default_factory=dict)
    """(resident key, field) → id of a pending change."""
    extra_sessions: dict[str, str] = field(default_factory=dict)

    def matrix_resident(self, where: Where) -> Resident:
        return self.residents[where.value]

    def headers(self, who: Who, *, session_for: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if session_for is not None:
            headers["X-Card-Session"] = self.sessions[(who, session_for)]
        return headers

    def client(self) -> httpx.Client:
        return self.server.client()


# --------------------------------------------------------------------------- seeding


@contextlib.contextmanager
def _session(url: str) -> Iterator[Session]:
    engine = make_engine(url, busy_timeout_s=10)
    try:
        factory = make_session_factory(engine)
        with factory() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def _token(
    session: Session, *, operator_id: int | None = None, device_id: int | None = None
) -> str:
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        ApiToken(
            token_hash=tokens.digest(token),
            operator_id=operator_id,
            device_id=device_id,
            issued_at=now,
            expires_at=now + timedelta(hours=6),
        )
    )
    return token


def _sites(session: Session) -> None:
    rows = (
        (CITY, None, SiteLevel.CITY, "枣庄市", None, None, None),
        (DISTRICT, CITY, SiteLevel.DISTRICT, "市中区", 400_000, 4200, None),
        (OWN, DISTRICT, SiteLevel.TOWNSHIP, "中心街道", 61_000, 250, 25),
        (STATION, OWN, SiteLevel.STATION, "一号服务站", 1_700, 60, None),
        (SIBLING, DISTRICT, SiteLevel.TOWNSHIP, "光明街道", 50_000, 150, 20),
        (FAR_DISTRICT, CITY, SiteLevel.DISTRICT, "薛城区", 300_000, 3000, None),
        (FAR, FAR_DISTRICT, SiteLevel.TOWNSHIP, "临城街道", 70_000, 180, 10),
    )
    for code, parent, level, name, population, floor, archive in rows:
        session.add(
            Site(
                code=code,
                parent_code=parent,
                level=level,
                name=name,
                population_served=population,
                floor_area_m2=None if floor is None else Decimal(floor),
                archive_area_m2=None if archive is None else Decimal(archive),
            )
        )
        session.flush()
    for i in range(6):
        session.add(
            Staff(
                site_code=OWN, name=f"staff {i}", degree=Degree.COLLEGE, hired_on=date(2015, 1, 1)
            )
        )


def _person(
    session: Session,
    key: str,
    body17: str,
    name: str,
    site: str,
    *,
    sex: Sex = Sex.MALE,
    status: EmploymentStatus = EmploymentStatus.NOT_WORKING,
    category: RetirementCategory | None = None,
    card_body: str,
    other_cards: dict[CardState, str] | None = None,
) -> Resident:
    ssn = make_ssn(body17)
    birth = date(int(body17[6:10]), int(body17[10:12]), int(body17[12:14]))
    person = Person(
        ssn=ssn,
        name=name,
        sex=sex,
        nationality="01",
        birth_date=birth,
        residence_site_code=site,
        employment_status=status,
        retirement_category=category,
        phone=PHONE,
        address="枣庄市",
    )
    session.add(person)
    session.flush()
    numbers = {CardState.ACTIVE: make_card_number(card_body)}
    numbers |= {state: make_card_number(body) for state, body in (other_cards or {}).items()}
    for state, number in numbers.items():
        session.add(
            Card(
                card_number=number,
                card_id_code=secrets.token_hex(16).upper(),
                person_id=person.id,
                ssn=ssn,
                generation=2,
                issued_on=date(2020, 1, 1) if state is not CardState.ACTIVE else date(2024, 1, 1),
                expires_on=date(2034, 1, 1),
                state=state,
                state_changed_at=datetime(2024, 1, 2, tzinfo=UTC),
            )
        )
    session.flush()
    others = {state: number for state, number in numbers.items() if state is not CardState.ACTIVE}
    return Resident(key, person.id, ssn, name, numbers[CardState.ACTIVE], birth, others)


def _records(session: Session, residents: dict[str, Resident], employer: Employer) -> None:
    """Contributions, an account, payments and a pension for the route residents."""
    worker = residents["worker"].person_id
    for scheme in (Scheme.EMPLOYEE_PENSION, Scheme.UNEMPLOYMENT):
        session.add(
            InsuranceRelation(
                person_id=worker,
                scheme=scheme,
                status=RelationStatus.ENDED,
                start_date=date(2023, 1, 1),
                end_date=date(2024, 12, 31),
                employer_id=employer.id,
            )
        )
    for year in (2023, 2024):
        for month in range(1, 13):
            for scheme, employer_part, personal in (
                (Scheme.EMPLOYEE_PENSION, 80_000, 40_000),
                (Scheme.UNEMPLOYMENT, 3_500, 1_500),
            ):
                session.add(
                    Contribution(
                        person_id=worker,
                        scheme=scheme,
                        month=year * 100 + month,
                        base_fen=500_000,
                        employer_part_fen=employer_part,
                        personal_part_fen=personal,
                        employer_id=employer.id,
                    )
                )
    session.add(
        PensionAccountYear(
            person_id=worker,
            year=2023,
            opening_fen=0,
            credited_fen=480_000,
            interest_rate=Decimal("0.0397"),
            interest_fen=10_322,
            closing_fen=490_322,
        )
    )
    leaver = residents["leaver"].person_id
    session.add(  # employed since 2020: R02 closes this, recording why it ended
        Registration(
            person_id=leaver,
            kind=RegistrationKind.EMPLOYMENT,
            status=RegistrationStatus.OPEN,
            site_code=STATION,
            opened_at=datetime(2020, 3, 1, 1, tzinfo=UTC),
            employer_id=employer.id,
            start_date=date(2020, 3, 1),
            contract_type=ContractType.FIXED_TERM,
        )
    )
    session.add(  # a resident-scheme contribution recording the day it was paid
        Contribution(
            person_id=leaver,
            scheme=Scheme.RESIDENT_MEDICAL,
            month=202501,
            base_fen=0,
            employer_part_fen=0,
            personal_part_fen=38_000,
            employer_id=None,
            paid_on=date(2024, 12, 10),
        )
    )
    pensioner = residents["pensioner"].person_id
    session.add(
        PensionEntitlement(
            person_id=pensioner,
            scheme=Scheme.EMPLOYEE_PENSION,
            monthly_pension_fen=300_000,
            started_on=date(2015, 8, 1),
            last_certified_on=date(2023, 11, 20),
            suspended_since=date(2024, 12, 1),
        )
    )
    for month in (202501, 202502, 202503):
        session.add(
            BenefitPayment(
                person_id=worker,
                benefit=Benefit.UNEMPLOYMENT,
                month=month,
                amount_fen=162_000,
                paid_on=date(month // 100, month % 100, 15),
            )
        )


def seed(url: str, server_factory: ServerFactory) -> MiniCity:
    """Seed the city into the migrated database at `url`, then start its server."""
    city_tokens: dict[Who, str] = {}
    with _session(url) as session:
        _sites(session)
        operators: dict[Who, Operator] = {}
        for who, roles in OPERATOR_ROLES.items():
            row = Operator(
                username=f"{who.value}-{secrets.token_hex(3)}",
                site_code=OWN,
                roles=roles,
                password_hash="unused",
            )
            session.add(row)
            operators[who] = row
        clerk2 = Operator(
            username=f"clerk2-{secrets.token_hex(3)}",
            site_code=OWN,
            roles=frozenset({Role.CLERK}),
            password_hash="unused",
        )
        session.add(clerk2)
        devices: dict[Who, Device] = {}
        for who, kind in ((Who.KIOSK, DeviceKind.KIOSK), (Who.COUNTER, DeviceKind.COUNTER)):
            device = Device(
                name=f"{kind.value}-{secrets.token_hex(3)}",
                kind=kind,
                site_code=OWN,
                credential_hash="unused",
                registered_at=datetime.now(UTC),
            )
            session.add(device)
            devices[who] = device
        session.flush()
        for who, op in operators.items():
            city_tokens[who] = _token(session, operator_id=op.id)
        for who, device in devices.items():
            city_tokens[who] = _token(session, device_id=device.id)
        clerk2_token = _token(session, operator_id=clerk2.id)

        employer = Employer(credit_code=EMPLOYER_CODE, name="枣庄机械厂", site_code=DISTRICT)
        session.add(employer)
        session.flush()

        residents = {
            Where.OWN.value: _person(
                session, Where.OWN.value, "37040219800101123", "周一", STATION,
                card_body="A0000001",
                other_cards={CardState.LOST: "A1000001", CardState.CANCELLED: "A2000001"},
            ),
            Where.SIBLING.value: _person(
                session, Where.SIBLING.value, "37040219800202234", "吴二", SIBLING,
                card_body="A0000002",
                other_cards={CardState.LOST: "A1000002", CardState.CANCELLED: "A2000002"},
            ),
            Where.FAR.value: _person(
                session, Where.FAR.value, "37040319800303345", "郑三", FAR, card_body="B0000001",
                other_cards={CardState.LOST: "B1000001", CardState.CANCELLED: "B2000001"},
            ),
            "worker": _person(
                session, "worker", "37040219900101123", "张三", STATION, card_body="A0000011"
            ),
            "pensioner": _person(
                session, "pensioner", "37040219550707456", "赵六", OWN,
                status=EmploymentStatus.RETIRED, category=RetirementCategory.MALE,
                card_body="A0000012",
            ),
            "jobseeker": _person(
                session, "jobseeker", "37040219950505234", "李四", STATION, sex=Sex.FEMALE,
                category=RetirementCategory.FEMALE_55, card_body="A0000013",
            ),
            "enrollee": _person(
                session, "enrollee", "37040219750808567", "钱七", OWN, sex=Sex.FEMALE,
                card_body="A0000014",
            ),
            "leaver": _person(
                session, "leaver", "37040219850909678", "孙八", STATION,
                status=EmploymentStatus.EMPLOYED, card_body="A0000015",
            ),
        }  # fmt: skip
        now = datetime.now(UTC)
        sessions: dict[tuple[Who, str], str] = {}
        for who in Who:
            for key, resident in residents.items():
                session_id = secrets.token_hex(16)
                is_kiosk = who is Who.KIOSK
                device = devices.get(who)
                session.add(
                    CardSession(
                        id=session_id,
                        card_number=resident.card_number,
                        person_id=resident.person_id,
                        operator_id=None if device else operators[who].id,
                        device_id=device.id if device else None,
                        pin_verified=is_kiosk,
                        verified_at=now,
                        expires_at=now + timedelta(hours=6),
                    )
                )
                sessions[(who, key)] = session_id
        extra = {}
        for name, pin, ends in (("kiosk_no_pin", False, None), ("kiosk_ended", True, now)):
            session_id = secrets.token_hex(16)
            session.add(
                CardSession(
                    id=session_id,
                    card_number=residents["worker"].card_number,
                    person_id=residents["worker"].person_id,
                    device_id=devices[Who.KIOSK].id,
                    pin_verified=pin,
                    verified_at=now,
                    expires_at=now + timedelta(hours=6),
                    ended_at=ends,
                )
            )
            extra[name] = session_id
        changes: dict[tuple[str, ChangeField], int] = {}
        for number, where in enumerate(Where, start=1):
            resident = residents[where.value]
            for change_field, new in (
                (ChangeField.NAME, resident.name + "改"),
                (ChangeField.SSN, make_ssn(f"37040219810101{number}00")),
            ):
                change = PendingChange(
                    person_id=resident.person_id,
                    field=change_field,
                    old_value=resident.name if change_field is ChangeField.NAME else resident.ssn,
                    new_value=new,
                    status=ChangeStatus.PENDING,
                    requested_by_id=clerk2.id,
                    requested_at=now,
                )
                session.add(change)
                session.flush()
                changes[(where.value, change_field)] = change.id
        _records(session, residents, employer)
        operator_ids = {who: op.id for who, op in operators.items()}
        device_ids = {who: device.id for who, device in devices.items()}
    server = server_factory(url)
    return MiniCity(
        engine_name="sqlite" if url.startswith("sqlite") else "postgresql",
        url=url,
        server=server,
        tokens=city_tokens,
        clerk2_token=clerk2_token,
        operator_ids=operator_ids,
        device_ids=device_ids,
        residents=residents,
        sessions=sessions,
        changes=changes,
        extra_sessions=extra,
    )


def add_operator(url: str, site_code: str, roles: frozenset[Role]) -> tuple[int, str]:
    """Another operator of the city and a bearer token for it: (id, token)."""
    with _session(url) as session:
        row = Operator(
            username=f"extra-{secrets.token_hex(4)}",
            site_code=site_code,
            roles=roles,
            password_hash="unused",
        )
        session.add(row)
        session.flush()
        return row.id, _token(session, operator_id=row.id)


def add_card_session(url: str, operator_id: int, resident: Resident) -> str:
    """A verified card session of that operator for the resident's active card: its id."""
    session_id = secrets.token_hex(16)
    now = datetime.now(UTC)
    with _session(url) as session:
        session.add(
            CardSession(
                id=session_id,
                card_number=resident.card_number,
                person_id=resident.person_id,
                operator_id=operator_id,
                pin_verified=False,
                verified_at=now,
                expires_at=now + timedelta(hours=6),
            )
        )
    return session_id


class ServerFactory:
    """Starts the city's server (uvicorn subprocess) and stops it at the end."""

    def __init__(self, log_dir: Path, **env: str) -> None:
        self._log_dir = log_dir
        self._env = {**SERVER_ENV, **env}
        self._servers: list[ApiServer] = []

    def __call__(self, url: str) -> ApiServer:
        server = launch_server(url, self._log_dir, **self._env)
        self._servers.append(server)
        return server

    def close(self) -> None:
        stop_servers(self._servers)


def build_city(url: str, log_dir: Path, **env: str) -> tuple[MiniCity, ServerFactory]:
    """Migrate, seed and serve the city at `url` (`env`: more server settings)."""
    factory = ServerFactory(log_dir, **env)
    return seed(migrated(url), factory), factory


@contextmanager
def served_city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, engine: str
) -> Iterator[MiniCity]:
    """The mini city on `engine` ("sqlite" or "postgresql"), served until the block ends."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    tmp = tmp_path_factory.mktemp(f"{module}-{engine}")
    if engine == "sqlite":
        url = f"sqlite:///{tmp / 'city.db'}"
    else:
        create: Callable[[str], URL] = request.getfixturevalue("pg_databases")
        url = create(module.removeprefix("test_api_")).render_as_string(hide_password=False)
    seeded, servers = build_city(url, tmp / "server", **getattr(request.module, "SERVER_ENV", {}))
    try:
        yield seeded
    finally:
        servers.close()
