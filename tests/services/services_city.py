"""The tiny city of the service tests: sites, operators, devices, persons, cards, records.

The tiny city::

    370400 city (枣庄市)
    ├── 370402 district (市中区)
    │   └── 370402001 township
    │       ├── 370402001001 station 1
    │       └── 370402001002 station 2
    └── 370403 other district (薛城区)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from cardsvc.db import Database
from cardsvc.db.models import (
    Card,
    CardState,
    Contribution,
    Degree,
    Device,
    DeviceKind,
    Employer,
    EmploymentStatus,
    InsuranceRelation,
    JournalEntry,
    Operator,
    PensionAccountYear,
    PensionEntitlement,
    Person,
    RelationStatus,
    RetirementCategory,
    Role,
    Scheme,
    Sex,
    Site,
    SiteLevel,
    Staff,
)
from cardsvc.idcheck import card_number_check_char, ssn_check_digit
from cardsvc.services.actors import CardPresence, DeviceActor, OperatorActor
from cardsvc.services.context import ServiceContext

CITY = "370400"
DISTRICT = "370402"
TOWNSHIP = "370402001"
STATION1 = "370402001001"
STATION2 = "370402001002"
OTHER = "370403"

T0 = datetime(2025, 3, 10, 2, 0, 0, tzinfo=UTC)  # 10:00 in the city
EMPLOYER_CODE = "91370402MA3C000001"
OTHER_EMPLOYER_CODE = "91370402MA3C000002"


def make_ssn(body17: str) -> str:
    return body17 + ssn_check_digit(body17)


def make_card_number(body8: str) -> str:
    return body8 + card_number_check_char(body8)


class Clock:
    """A settable server clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@dataclass
class City:
    """Everything the tests refer to by name."""

    db: Database
    ctx: ServiceContext
    clock: Clock
    ops: dict[str, OperatorActor] = field(default_factory=dict)
    kiosk: DeviceActor | None = None
    counter_device: DeviceActor | None = None
    persons: dict[str, int] = field(default_factory=dict)
    ssns: dict[str, str] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)

    def presence(self, who: str, *, card: str | None = None, pin: bool = True) -> CardPresence:
        return CardPresence(self.cards[card or who], self.persons[who], pin_verified=pin)

    def journal(self) -> list[JournalEntry]:
        with self.db.read_only_unit_of_work() as uow:
            return list(
                uow.session.execute(select(JournalEntry).order_by(JournalEntry.id)).scalars()
            )

    def get(self, model: type[Any], ident: Any) -> Any:
        with self.db.read_only_unit_of_work() as uow:
            return uow.session.get(model, ident)

    def scalars(self, statement: Any) -> list[Any]:
        with self.db.read_only_unit_of_work() as uow:
            return list(uow.session.execute(statement).scalars())


def seed(db: Database, city: City) -> None:
    with db.unit_of_work() as uow:
        s = uow.session
        for code, parent, level, name, pop, floor, archive in (
            (CITY, None, SiteLevel.CITY, "枣庄市", None, None, None),
            (DISTRICT, CITY, SiteLevel.DISTRICT, "市中区", 400_000, 4200, None),
            (TOWNSHIP, DISTRICT, SiteLevel.TOWNSHIP, "中心街道", 61_000, 250, 25),
            (STATION1, TOWNSHIP, SiteLevel.STATION, "一号服务站", 1_700, 60, None),
            (STATION2, TOWNSHIP, SiteLevel.STATION, "二号服务站", 900, None, None),
            (OTHER, CITY, SiteLevel.DISTRICT, "薛城区", 300_000, 3000, None),
        ):
            s.add(
                Site(
                    code=code,
                    parent_code=parent,
                    level=level,
                    name=name,
                    population_served=pop,
                    floor_area_m2=None if floor is None else Decimal(floor),
                    archive_area_m2=None if archive is None else Decimal(archive),
                )
            )
            s.flush()
        for i, degree in enumerate([Degree.COLLEGE] * 10 + [Degree.BELOW_COLLEGE]):
            hired = date(2015, 1, 1)
            s.add(Staff(site_code=TOWNSHIP, name=f"staff {i}", degree=degree, hired_on=hired))
        hired = date(2012, 5, 1)
        s.add(Staff(site_code=STATION1, name="s1 staff", degree=Degree.COLLEGE, hired_on=hired))

        operators = {
            "clerk_s1": (STATION1, {Role.CLERK}),
            "clerk_s2": (STATION2, {Role.CLERK}),
            "clerk_t": (TOWNSHIP, {Role.CLERK}),
            "clerk_d": (DISTRICT, {Role.CLERK}),
            "clerk_x": (OTHER, {Role.CLERK}),
            "reviewer_t": (TOWNSHIP, {Role.REVIEWER}),
            "clerk_reviewer_t": (TOWNSHIP, {Role.CLERK, Role.REVIEWER}),
            "reviewer_x": (OTHER, {Role.REVIEWER}),
            "sup_city": (CITY, {Role.SUPERVISOR}),
            "sup_t": (TOWNSHIP, {Role.SUPERVISOR}),
            "admin": (CITY, {Role.ADMINISTRATOR}),
        }
        for username, (site, roles) in operators.items():
            op = Operator(
                username=username,
                site_code=site,
                roles=frozenset(roles),
                password_hash="x",
                failed_logins=0,
                active=True,
            )
            s.add(op)
            s.flush()
            city.ops[username] = OperatorActor(op.id, username, site, frozenset(roles))
        for name, kind in (("kiosk-s1", DeviceKind.KIOSK), ("counter-s1", DeviceKind.COUNTER)):
            dev = Device(
                name=name, kind=kind, site_code=STATION1, credential_hash="x", registered_at=T0
            )
            s.add(dev)
            s.flush()
            actor = DeviceActor(dev.id, STATION1, kind)
            if kind is DeviceKind.KIOSK:
                city.kiosk = actor
            else:
                city.counter_device = actor

        employer = Employer(credit_code=EMPLOYER_CODE, name="枣庄机械厂", site_code=DISTRICT)
        s.add(employer)
        s.add(Employer(credit_code=OTHER_EMPLOYER_CODE, name="薛城纺织厂", site_code=DISTRICT))
        s.flush()

        people = {
            # key: (ssn body, name, sex, birth, site, status, category)
            "zhang": ("37040219900101123", "张三", Sex.MALE, date(1990, 1, 1), STATION1,
                      EmploymentStatus.NOT_WORKING, None),
            "li": ("37040219850505234", "李四", Sex.FEMALE, date(1985, 5, 5), STATION2,
                   EmploymentStatus.EMPLOYED, RetirementCategory.FEMALE_55),
            "wang": ("37040319800303345", "王五", Sex.MALE, date(1980, 3, 3), OTHER,
                     EmploymentStatus.NOT_WORKING, None),
            "zhao": ("37040219550707456", "赵六", Sex.MALE, date(1955, 7, 7), TOWNSHIP,
                     EmploymentStatus.RETIRED, RetirementCategory.MALE),
            "qian": ("37040219700202567", "钱七", Sex.FEMALE, date(1970, 2, 2), DISTRICT,
                     EmploymentStatus.NOT_WORKING, None),
        }  # fmt: skip
        for key, (body, name, sex, birth, site, status, category) in people.items():
            ssn = make_ssn(body)
            person = Person(
                ssn=ssn,
                name=name,
                sex=sex,
                nationality="01",
                birth_date=birth,
                residence_site_code=site,
                employment_status=status,
                retirement_category=category,
                phone="13800000000",
                address="枣庄市市中区",
            )
            s.add(person)
            s.flush()
            city.persons[key] = person.id
            city.ssns[key] = ssn

        cards = {
            "zhang": ("A0000001", CardState.ACTIVE),
            "li": ("A0000002", CardState.ACTIVE),
            "wang": ("B0000001", CardState.ACTIVE),
            "zhao": ("A0000003", CardState.ACTIVE),
            "qian": ("A0000004", CardState.ISSUED),
        }
        for i, (key, (body, state)) in enumerate(cards.items(), start=1):
            number = make_card_number(body)
            s.add(
                Card(
                    card_number=number,
                    card_id_code=f"{i:032X}",
                    person_id=city.persons[key],
                    ssn=city.ssns[key],
                    generation=2,
                    issued_on=date(2024, 1, 1),
                    expires_on=date(2034, 1, 1),
                    state=state,
                    state_changed_at=T0 - timedelta(days=30),
                )
            )
            city.cards[key] = number
        s.flush()

        zhang = city.persons["zhang"]
        for scheme in (Scheme.EMPLOYEE_PENSION, Scheme.UNEMPLOYMENT, Scheme.EMPLOYEE_MEDICAL):
            s.add(
                InsuranceRelation(
                    person_id=zhang,
                    scheme=scheme,
                    status=RelationStatus.ENDED,
                    start_date=date(2023, 1, 1),
                    end_date=date(2024, 12, 31),
                    employer_id=employer.id,
                )
            )
        for year in (2023, 2024):
            for month in range(1, 13):
                ym = year * 100 + month
                s.add(
                    Contribution(
                        person_id=zhang,
                        scheme=Scheme.UNEMPLOYMENT,
                        month=ym,
                        base_fen=500_000,
                        employer_part_fen=3_500,
                        personal_part_fen=1_500,
                        employer_id=employer.id,
                    )
                )
                s.add(
                    Contribution(
                        person_id=zhang,
                        scheme=Scheme.EMPLOYEE_PENSION,
                        month=ym,
                        base_fen=500_000,
                        employer_part_fen=80_000,
                        personal_part_fen=40_000,
                        employer_id=employer.id,
                    )
                )
                s.add(Contribution(person_id=zhang, scheme=Scheme.EMPLOYEE_MEDICAL, month=ym,
                                   base_fen=500_000, employer_part_fen=37_500,
                                   personal_part_fen=10_000, employer_id=employer.id))  # fmt: skip
        s.add(
            PensionAccountYear(
                person_id=zhang,
                year=2023,
                opening_fen=0,
                credited_fen=480_000,
                interest_rate=Decimal("0.0397"),
                interest_fen=10_322,
                closing_fen=490_322,
            )
        )
        s.add(PensionAccountYear(person_id=zhang, year=2024, opening_fen=490_322,
                                 credited_fen=480_000, interest_rate=Decimal("0.0262"),
                                 interest_fen=19_657, closing_fen=989_979))  # fmt: skip

        li = city.persons["li"]
        s.add(InsuranceRelation(person_id=li, scheme=Scheme.EMPLOYEE_MEDICAL,
                                status=RelationStatus.ACTIVE, start_date=date(2020, 1, 1),
                                employer_id=employer.id))  # fmt: skip
        s.add(Contribution(person_id=li, scheme=Scheme.EMPLOYEE_MEDICAL, month=202502,
                           base_fen=600_000, employer_part_fen=45_000, personal_part_fen=12_000,
                           employer_id=employer.id))  # fmt: skip

        qian = city.persons["qian"]
        s.add(Contribution(person_id=qian, scheme=Scheme.RESIDENT_MEDICAL, month=202410,
                           base_fen=0, employer_part_fen=0, personal_part_fen=40_000))  # fmt: skip

        zhao = city.persons["zhao"]
        s.add(
            PensionEntitlement(
                person_id=zhao,
                scheme=Scheme.EMPLOYEE_PENSION,
                monthly_pension_fen=300_000,
                started_on=date(2015, 8, 1),
                last_certified_on=date(2023, 11, 20),  # due 2024-11-20: suspended from 2024-12
                suspended_since=date(2024, 12, 1),
            )
        )
