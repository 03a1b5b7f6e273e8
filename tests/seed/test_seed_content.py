"""What a seeded database holds: every check runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

from seed_helpers import AS_OF, SMALL, Seeded
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cardsvc.db.models import (
    Benefit,
    BenefitPayment,
    Card,
    CardState,
    Contribution,
    Degree,
    Device,
    Employer,
    EmploymentStatus,
    InsuranceRelation,
    Operator,
    PendingChange,
    PensionAccountYear,
    PensionCertification,
    PensionEntitlement,
    Person,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    Scheme,
    Sex,
    Site,
    SiteLevel,
    Staff,
)
from cardsvc.idcheck import is_valid_card_number, is_valid_ssn, ssn_birth_date
from cardsvc.rules.certification import CertificationState, certification_status
from cardsvc.rules.config import DEFAULT_CONFIG, ContributionScheme
from cardsvc.rules.contributions import contribution_parts, pension_account_balances
from cardsvc.rules.months import YearMonth
from cardsvc.rules.retirement import retirement_eligibility
from cardsvc.rules.site_standards import SiteLevel as RuleLevel
from cardsvc.rules.site_standards import SiteRow, Verdict, assess_sites
from cardsvc.seed.credit_code import is_valid_credit_code
from cardsvc.seed.passwords import verify_secret
from cardsvc.seed.sites import NEW_HIRES_FROM


def _session(seeded: Seeded) -> Session:
    return Session(seeded.engine)


def test_row_counts_are_sane(seeded: Seeded) -> None:
    added = seeded.report.added
    assert added["persons"] == SMALL
    assert SMALL <= added["cards"] <= 2 * SMALL
    assert added["employers"] == 20
    assert added["contributions"] > 10 * SMALL
    for table in (
        "insurance_relations",
        "pension_account_years",
        "registrations",
        "pension_entitlements",
        "pension_certifications",
        "benefit_payments",
    ):
        assert added[table] > 0, table
    with _session(seeded) as s:
        for model, table in ((Person, "persons"), (Card, "cards"), (Contribution, "contributions")):
            assert s.scalar(select(func.count()).select_from(model)) == added[table]


def test_site_tree_is_zaozhuang(seeded: Seeded) -> None:
    with _session(seeded) as s:
        sites = s.scalars(select(Site)).all()
    levels = Counter(site.level for site in sites)
    assert levels[SiteLevel.CITY] == 1
    assert levels[SiteLevel.DISTRICT] == 6
    assert levels[SiteLevel.TOWNSHIP] == 65
    assert levels[SiteLevel.STATION] >= 65 * 4
    by_code = {site.code: site for site in sites}
    assert {c for c, site in by_code.items() if site.level is SiteLevel.DISTRICT} == {
        "370402",
        "370403",
        "370404",
        "370405",
        "370406",
        "370481",
    }
    for site in sites:
        if site.level is SiteLevel.TOWNSHIP:
            assert len(site.code) == 9
            assert site.parent_code == site.code[:6]
        if site.level is SiteLevel.STATION:
            assert len(site.code) == 12
            assert site.parent_code == site.code[:9]
            assert site.population_served
            assert site.floor_area_m2 is not None
    assert by_code["370402001"].name == "中心街街道"
    assert by_code["370481"].name == "滕州市"


def test_site_report_has_findings_and_passes(seeded: Seeded) -> None:
    with _session(seeded) as s:
        sites = s.scalars(select(Site)).all()
        staff = s.scalars(select(Staff)).all()
    count: Counter[str] = Counter(member.site_code for member in staff)
    new = Counter(m.site_code for m in staff if m.hired_on >= NEW_HIRES_FROM)
    new_ok = Counter(
        m.site_code
        for m in staff
        if m.hired_on >= NEW_HIRES_FROM and m.degree is not Degree.BELOW_COLLEGE
    )
    rows = [
        SiteRow(
            code=site.code,
            level=RuleLevel(site.level.value),
            name=site.name,
            population_served=site.population_served or 0,
            floor_area_m2=site.floor_area_m2 or Decimal(0),
            archive_area_m2=site.archive_area_m2 or Decimal(0),
            staff_count=count[site.code],
            new_hires=new[site.code],
            new_hires_with_degree=new_ok[site.code],
        )
        for site in sites
    ]
    verdicts = Counter(a.verdict for a in assess_sites(rows))
    assert verdicts[Verdict.SHORT] >= 20
    assert verdicts[Verdict.MEETS] >= 100
    findings = {finding.split(":")[0] for a in assess_sites(rows) for finding in a.findings}
    assert {"floor_area", "archive_area", "staff", "new_hire_degrees"} <= findings
    assert all(m.hired_on <= AS_OF for m in staff)


def test_ssns_are_valid_unique_and_match_the_person(seeded: Seeded) -> None:
    with _session(seeded) as s:
        persons = s.scalars(select(Person)).all()
    assert len({p.ssn for p in persons}) == len(persons)
    for person in persons:
        assert is_valid_ssn(person.ssn), person.id
        assert ssn_birth_date(person.ssn) == person.birth_date
        assert (int(person.ssn[16]) % 2 == 1) == (person.sex is Sex.MALE)
        assert person.ssn[:6] == person.birthplace
        assert 1940 <= person.birth_date.year <= 2008
        assert person.name.encode("gb18030").decode("gb18030") == person.name
        assert person.residence_site_code is not None
        assert len(person.residence_site_code) == 12


def test_cards_in_every_state_with_valid_numbers_and_codes(seeded: Seeded) -> None:
    with _session(seeded) as s:
        cards = s.scalars(select(Card)).all()
        persons = {p.id: p for p in s.scalars(select(Person))}
    states = Counter(card.state for card in cards)
    assert set(states) == set(CardState)
    assert {c.generation for c in cards if c.state is CardState.ACTIVE} == {1, 2, 3}
    replaced_by = {c.replaces_card_id for c in cards if c.replaces_card_id is not None}
    for card in cards:
        person = persons[card.person_id]
        assert is_valid_card_number(card.card_number)
        assert card.ssn == person.ssn
        code = card.card_id_code
        assert len(code) == 32
        assert code[6:16] == "D156000005"
        assert code[:6] == person.residence_site_code[:6]
        assert int(code[24:], 16) == card.id
        assert card.expires_on > card.issued_on
        assert card.state_changed_at.date() <= AS_OF
        if card.state is CardState.REPLACED:
            assert card.id in replaced_by
            assert card.replacement_requested
    assert len({c.card_number for c in cards}) == len(cards)
    assert len({c.card_id_code[16:24] for c in cards}) == len(cards)
    # a temporary loss within the lapse period and one that lapsed
    ages = [
        (AS_OF - c.state_changed_at.date()).days
        for c in cards
        if c.state is CardState.TEMPORARILY_LOST
    ]
    lapse = DEFAULT_CONFIG.temp_loss_lapse_days
    assert min(ages) < lapse <= max(ages)


def test_one_open_registration_per_kind_and_status_agrees(seeded: Seeded) -> None:
    with _session(seeded) as s:
        registrations = s.scalars(select(Registration)).all()
        persons = {p.id: p for p in s.scalars(select(Person))}
    open_kinds = Counter(
        (r.person_id, r.kind) for r in registrations if r.status is RegistrationStatus.OPEN
    )
    assert max(open_kinds.values()) == 1
    for person in persons.values():
        employed = open_kinds[(person.id, RegistrationKind.EMPLOYMENT)]
        unemployed = open_kinds[(person.id, RegistrationKind.UNEMPLOYMENT)]
        assert employed == (person.employment_status is EmploymentStatus.EMPLOYED)
        assert unemployed == (person.employment_status is EmploymentStatus.UNEMPLOYED)
    for r in registrations:
        assert r.opened_at.date() <= AS_OF
        if r.closed_at is not None:
            assert r.closed_at >= r.opened_at
        if r.kind is RegistrationKind.UNEMPLOYMENT:
            assert r.certificate_no


def test_employers_have_valid_credit_codes(seeded: Seeded) -> None:
    with _session(seeded) as s:
        employers = s.scalars(select(Employer)).all()
    assert employers
    for employer in employers:
        assert is_valid_credit_code(employer.credit_code), employer.credit_code
        assert employer.credit_code[2:8] == employer.site_code[:6]


def test_contributions_follow_the_rules(seeded: Seeded) -> None:
    config = DEFAULT_CONFIG
    schemes = {
        Scheme.EMPLOYEE_PENSION: ContributionScheme.PENSION,
        Scheme.EMPLOYEE_MEDICAL: ContributionScheme.MEDICAL,
        Scheme.UNEMPLOYMENT: ContributionScheme.UNEMPLOYMENT,
    }
    with _session(seeded) as s:
        rows = s.scalars(select(Contribution)).all()
    first = YearMonth(AS_OF.year - 3, 1)
    last = YearMonth.of(AS_OF) - 1
    for row in rows:
        month = YearMonth.parse(str(row.month))
        assert first <= month <= last
        if row.scheme in schemes:
            parts = contribution_parts(schemes[row.scheme], row.base_fen, config)
            assert (row.employer_part_fen, row.personal_part_fen) == (
                parts.employer_fen,
                parts.personal_fen,
            )
            assert row.employer_id is not None
        elif row.scheme is Scheme.WORK_INJURY:
            assert row.personal_part_fen == 0
            rate_bp = row.employer_part_fen * 10_000 / row.base_fen
            low, high = config.work_injury_min_bp, config.work_injury_max_bp
            assert low - 1 <= rate_bp <= high + 1
    assert {r.scheme for r in rows} == set(Scheme)


def test_pension_account_years_follow_the_rules(seeded: Seeded) -> None:
    with _session(seeded) as s:
        years = s.scalars(select(PensionAccountYear).order_by(PensionAccountYear.id)).all()
        parts: dict[int, dict[YearMonth, int]] = defaultdict(dict)
        for row in s.scalars(
            select(Contribution).where(Contribution.scheme == Scheme.EMPLOYEE_PENSION)
        ):
            parts[row.person_id][YearMonth.parse(str(row.month))] = row.personal_part_fen
    by_person: dict[int, list[PensionAccountYear]] = defaultdict(list)
    for year in years:
        by_person[year.person_id].append(year)
    assert by_person
    rates = dict(DEFAULT_CONFIG.pension_interest_bp)
    for person_id, rows in by_person.items():
        first, last = rows[0].year, rows[-1].year
        assert [r.year for r in rows] == list(range(first, last + 1))
        months = {m: v for m, v in parts[person_id].items() if first <= m.year <= last}
        rates_bp = {r.year: int(r.interest_rate * 10_000) for r in rows}
        for rate_year, bp in rates.items():
            if rate_year in rates_bp:
                assert rates_bp[rate_year] == bp  # the rules' sample rates where they have one
        expected = pension_account_balances(
            months,
            DEFAULT_CONFIG,
            rates_bp=rates_bp,
            opening_fen=rows[0].opening_fen,
            first_year=first,
            last_year=last,
        )
        got = [(r.opening_fen, r.credited_fen, r.interest_fen, r.closing_fen) for r in rows]
        assert got == [
            (b.opening_fen, b.contributions_fen, b.interest_fen, b.closing_fen) for b in expected
        ]


def test_pensioners_certifications_and_payments(seeded: Seeded) -> None:
    with _session(seeded) as s:
        entitlements = s.scalars(select(PensionEntitlement)).all()
        persons = {p.id: p for p in s.scalars(select(Person))}
        certifications = s.scalars(select(PensionCertification)).all()
        payments = s.scalars(select(BenefitPayment)).all()
    retired = {p.id for p in persons.values() if p.employment_status is EmploymentStatus.RETIRED}
    assert {e.person_id for e in entitlements} == retired
    paid: dict[tuple[int, Benefit], list[int]] = defaultdict(list)
    for payment in payments:
        paid[(payment.person_id, payment.benefit)].append(payment.month)
        assert payment.paid_on is not None
        assert payment.paid_on <= AS_OF
    states: Counter[CertificationState] = Counter()
    for e in entitlements:
        status = certification_status(
            last_certified=e.last_certified_on or e.started_on, today=AS_OF, config=DEFAULT_CONFIG
        )
        states[status.state] += 1
        assert (e.suspended_since is not None) == (status.state is CertificationState.SUSPENDED)
        benefit = Benefit(e.scheme.value)
        if e.suspended_since is not None:
            suspended = int(f"{e.suspended_since:%Y%m}")
            assert all(month < suspended for month in paid[(e.person_id, benefit)])
        if e.scheme is Scheme.EMPLOYEE_PENSION:
            person = persons[e.person_id]
            assert person.retirement_category is not None
            decision = retirement_eligibility(
                birth_date=person.birth_date,
                category=person.retirement_category,
                months_paid=240,
                today=e.started_on,
            )
            assert decision.age_reached
            assert e.started_on - decision.retirement_date < timedelta(days=32)
    assert states[CertificationState.SUSPENDED] >= 1
    assert states[CertificationState.CURRENT] + states[CertificationState.REMIND] >= 1
    assert any(c.back_paid_months > 0 for c in certifications)
    for c in certifications:
        assert (c.operator_id is None) != (c.device_id is None)
        assert c.certified_at.date() <= AS_OF


def test_insurance_relations_cover_every_scheme(seeded: Seeded) -> None:
    with _session(seeded) as s:
        relations = s.scalars(select(InsuranceRelation)).all()
    assert {r.scheme for r in relations} == set(Scheme)
    assert {r.status.value for r in relations} == {"active", "suspended", "ended"}
    for r in relations:
        assert r.end_date is None or r.end_date >= r.start_date


def test_operators_devices_and_pending_changes(seeded: Seeded) -> None:
    with _session(seeded) as s:
        operators = {o.username: o for o in s.scalars(select(Operator))}
        devices = {d.name: d for d in s.scalars(select(Device))}
        pending = s.scalars(select(PendingChange)).all()
    for name in ("clerk.370402001", "clerk.370402", "reviewer.370402001", "admin.370400"):
        assert name in operators
    assert operators["clerk.370402001"].site_code == "370402001"
    assert {r.value for o in operators.values() for r in o.roles} == {
        "clerk",
        "reviewer",
        "supervisor",
        "administrator",
    }
    # demo mode (test cost parameters): the documented password verifies
    assert verify_secret("demo2011", operators["clerk.370402"].password_hash)
    assert not verify_secret("wrong", operators["clerk.370402"].password_hash)
    assert verify_secret("device-demo-2011", devices["kiosk.370402001"].credential_hash)
    assert len({o.password_hash for o in operators.values()}) == len(operators)  # salted
    for change in pending:
        assert change.requested_by_id in {o.id for o in operators.values()}
