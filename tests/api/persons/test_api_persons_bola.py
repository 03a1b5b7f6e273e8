"""The BOLA matrix: every ``{ssn}``, ``{card_number}`` and ``{code}`` route (and the R05
decision routes, keyed by change id) × caller × where the person or site is ×
with/without a card session for that person — every cell one request over HTTP, its
status asserted, and no person data in any refusal (a 404 for a person, card or site out
of scope has the same body as one for nobody).

Callers (all working at township 370402001): clerk, reviewer, supervisor,
administrator, kiosk, counter terminal. Where: the caller's own site (the resident
lives at a station below it), another township of the same district, another
district. Card session: one this caller verified for the resident's card (the kiosk's
with the PIN verified), sent as ``X-Card-Session``.

What each cell should give is the policy of shared/domain.md §5, written once in
:func:`expected`: who may do the item at all (403 otherwise, whatever the person), a
kiosk only inside a card session and only for kiosk items, an operator on persons of
their sites or of their card session (404 otherwise, the same as nobody). Writes are
sent with a request that passes the scope check and then fails on purpose at a known
business rule (an unknown employer, a person not able to work, a start before birth, a
pension that does not exist, a card state that refuses the action), so a cell shows
the scope decision without changing the city; R05 sets the phone the person already
has, C05/C06 only record a PIN event (200).

Size: 29 routes (15 {ssn}, 7 {card_number}, 5 {code}, 2 change ids) × 6 callers ×
3 places × 2 card-session states (the decision routes name a change, not a person: no
card session) = 1008 cells. SQLite runs all of them; PostgreSQL the 453 where the scope
decides, plus one cell per pure role refusal (:meth:`Cell.runs_on`); the others are
reported as skipped there.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from api_harness import assert_problem
from persons_city import (
    FRESH_CARD,
    NOBODY_CARD,
    NOBODY_SSN,
    PHONE,
    SITE_OF,
    UNKNOWN_EMPLOYER_CODE,
    MiniCity,
    Where,
    Who,
)

from cardsvc.db.models import CardState, ChangeField
from cardsvc.services.context import CITY_TIMEZONE

Subject = Literal["person", "card", "site", "change"]

OPERATORS = frozenset({Who.CLERK, Who.REVIEWER, Who.SUPERVISOR, Who.ADMINISTRATOR})
READERS = frozenset({Who.CLERK, Who.SUPERVISOR})
CLERKS = frozenset({Who.CLERK})
SUPERVISORS = frozenset({Who.SUPERVISOR})
REVIEWERS = frozenset({Who.REVIEWER})
NOBODY_SITE = "370499"


@dataclass(frozen=True)
class Route:
    """One route of the matrix and what an allowed, in-scope call gives."""

    name: str
    method: str
    path: str
    """With {ssn}, {code} or {change}."""
    subject: Subject
    allowed: frozenset[Who]
    """The operators (and devices) who may do it at all, card session or not."""
    kiosk: bool = False
    """Offered at kiosks (inside a PIN-verified card session of the person)."""
    ok: int = 200
    ok_problem: tuple[str, str] | None = None
    """(problem slugs "a|b", field) when the in-scope answer is a refusal by a business rule."""
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    change_field: ChangeField | None = None
    card: CardState = CardState.ACTIVE
    """Which card of the resident a {card_number} route is sent for."""
    widened_by_card_session: bool = True
    """Whether the route takes X-Card-Session (C08 does not: supervisor at the counter)."""


def _person(name: str, suffix: str, **kw: Any) -> Route:
    return Route(name, kw.pop("method", "GET"), f"/v1/persons/{{ssn}}{suffix}", "person", **kw)


YESTERDAY = (datetime.now(CITY_TIMEZONE).date() - timedelta(days=2)).isoformat()

ROUTES: tuple[Route, ...] = (
    _person("summary", "", allowed=READERS, kiosk=True),
    _person("E01-insurance", "/insurance", allowed=READERS, kiosk=True),
    _person("E02-contributions", "/contributions", allowed=READERS, kiosk=True),
    _person("E03-accounts", "/accounts", allowed=READERS, kiosk=True),
    _person("E04-benefits", "/benefits", allowed=READERS, kiosk=True),
    _person("E05-employment", "/employment", allowed=READERS, kiosk=True),
    _person(
        "R01-employment-registration",
        "/employment-registrations",
        method="POST",
        allowed=CLERKS,
        ok=422,
        ok_problem=("invalid-value", "employer_credit_code"),
        body={
            "employer_credit_code": UNKNOWN_EMPLOYER_CODE,
            "start_date": "2020-01-01",
            "contract_type": "open_ended",
        },
    ),
    _person(
        "R02-unemployment-registration",
        "/unemployment-registrations",
        method="POST",
        allowed=CLERKS,
        kiosk=True,
        ok=422,
        ok_problem=("invalid-value", "able_to_work"),
        body={"able_to_work": False, "willing_to_work": True},
    ),
    _person(
        "R03-resident-pension",
        "/resident-pension-enrolment",
        method="POST",
        allowed=CLERKS,
        ok=422,
        ok_problem=("invalid-value", "start_date"),
        body={"start_date": "1970-01-01"},
    ),
    _person(
        "R04-resident-medical",
        "/resident-medical-enrolment",
        method="POST",
        allowed=CLERKS,
        ok=422,
        ok_problem=("invalid-value", "start_date"),
        body={"start_date": "1970-01-01"},
    ),
    _person(
        "R05-information-change",
        "/information-changes",
        method="POST",
        allowed=CLERKS,
        kiosk=True,
        body={"phone": PHONE},
    ),
    _person("B01-unemployment-eligibility", "/unemployment-benefit-eligibility", allowed=READERS,
            kiosk=True),
    _person(
        "B02-pension-certification",
        "/pension-certifications",
        method="POST",
        allowed=CLERKS,
        kiosk=True,
        ok=409,
        ok_problem=("conflict", ""),
        body={"id_checked": True},
    ),
    _person("B03-retirement-eligibility", "/retirement-eligibility", allowed=READERS, kiosk=True),
    _person("B04-medical-status", "/medical-insurance-status", allowed=READERS, kiosk=True),
    # {card_number}: C05/C06 change nothing but the journal; the others are sent where the
    # card's state refuses them (409) after the scope check: a lost card reported lost
    # again, an active card un-lost or activated, a cancelled card replaced or cancelled.
    Route("C01-loss-report", "POST", "/v1/cards/{card}/loss-reports", "card", allowed=CLERKS,
          ok=409, ok_problem=("conflict", ""), body={"kind": "temporary"}, card=CardState.LOST),
    Route("C03-cancel-loss", "DELETE", "/v1/cards/{card}/loss-reports", "card", allowed=CLERKS,
          ok=409, ok_problem=("conflict", ""), query={"id_checked": "true"}),
    Route("C04-replacement", "POST", "/v1/cards/{card}/replacement", "card", allowed=CLERKS,
          ok=409, ok_problem=("approval-required|conflict", ""),
          body={"id_checked": True, "new_card_number": FRESH_CARD,
                        "new_card_id_code": "C" * 32}, card=CardState.CANCELLED),
    Route("C05-pin-change", "POST", "/v1/cards/{card}/pin-change", "card", allowed=CLERKS,
          kiosk=True),
    Route("C06-pin-reload", "POST", "/v1/cards/{card}/pin-reload", "card", allowed=CLERKS,
          body={"id_checked": True}),
    Route("C07-activation", "POST", "/v1/cards/{card}/activation", "card", allowed=CLERKS,
          kiosk=True, ok=409, ok_problem=("conflict", "")),
    Route("C08-cancellation", "POST", "/v1/cards/{card}/cancellation", "card",
          allowed=SUPERVISORS, ok=409, ok_problem=("conflict", ""), body={"reason": "death"},
          card=CardState.CANCELLED, widened_by_card_session=False),
    Route("site", "GET", "/v1/sites/{code}", "site", allowed=OPERATORS | {Who.KIOSK, Who.COUNTER}),
    Route("site-report", "GET", "/v1/sites/{code}/report", "site", allowed=SUPERVISORS),
    Route("site-ledger", "GET", "/v1/sites/{code}/ledger", "site", allowed=SUPERVISORS,
          query={"date": YESTERDAY}),
    Route("site-ledger-closing", "POST", "/v1/sites/{code}/ledger-closings", "site",
          allowed=SUPERVISORS, body={"date": YESTERDAY}),
    Route("journal", "GET", "/v1/journal", "site", allowed=SUPERVISORS,
          query={"site": "{code}", "limit": "5"}),
    Route("R05-approval", "POST", "/v1/information-changes/{change}/approval", "change",
          allowed=REVIEWERS, change_field=ChangeField.NAME),
    Route("R05-rejection", "POST", "/v1/information-changes/{change}/rejection", "change",
          allowed=REVIEWERS, body={"reason": "the documents do not match"},
          change_field=ChangeField.SSN),
)  # fmt: skip


def expected(route: Route, who: Who, where: Where, card_session: bool) -> int:
    """The status the policy (shared/domain.md §5) gives this cell."""
    if who is Who.KIOSK and route.subject in {"person", "card"}:
        if not route.kiosk or not card_session:
            return 403  # a kiosk acts only for the card in it, only for kiosk items
        return route.ok  # the card's person, wherever they live
    if who not in route.allowed:
        return 403  # role or channel, before anything is looked up
    if route.subject in {"person", "card"} and card_session and route.widened_by_card_session:
        return route.ok  # the person of a verified card session, even out of the sites
    return route.ok if where is Where.OWN else 404


@dataclass(frozen=True)
class Cell:
    route: Route
    who: Who
    where: Where
    card_session: bool

    @property
    def id(self) -> str:
        session = "card" if self.card_session else "nocard"
        return f"{self.route.name}-{self.who.value}-{self.where.value}-{session}"

    @property
    def scope_decides(self) -> bool:
        """Whether the caller's role and channel let where the person is decide the cell."""
        route = self.route
        return self.who in route.allowed or (self.who is Who.KIOSK and route.kiosk)

    def runs_on(self, engine: str) -> bool:
        """SQLite runs every cell. PostgreSQL runs every cell where the scope decides
        (all places, with and without a card session), and of the cells refused for the
        role or channel alone (403 wherever the person is) the own-site one without a
        card: the same refusal, for every route and caller, at under half the requests."""
        if engine == "sqlite" or self.scope_decides:
            return True
        return self.where is Where.OWN and not self.card_session


CELLS = [
    Cell(route, who, where, card_session)
    for route in ROUTES
    for who in Who
    for where in Where
    # a decision names a change, not a person: a card session does not apply to it
    for card_session in ((False,) if route.subject == "change" else (False, True))
]


WORKERS = 6
"""Cells are sent side by side (the server is one process; PostgreSQL commits overlap)."""


def _send(
    client: httpx.Client, route: Route, target: str, headers: dict[str, str]
) -> httpx.Response:
    path = route.path
    for name in ("{ssn}", "{card}", "{code}", "{change}"):
        path = path.replace(name, target)
    query = {k: v.replace("{code}", target) for k, v in route.query.items()}
    if route.method == "GET":
        return client.get(path, params=query, headers=headers)
    headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    if route.method == "DELETE":
        return client.delete(path, params=query, headers=headers)
    return client.post(path, params=query, json=route.body or {}, headers=headers)


def _target(city: MiniCity, cell: Cell) -> str:
    resident = city.matrix_resident(cell.where)
    if cell.route.subject == "person":
        return resident.ssn
    if cell.route.subject == "card":
        return resident.card(cell.route.card)
    if cell.route.subject == "site":
        return SITE_OF[cell.where]
    assert cell.route.change_field is not None
    return str(city.changes[(cell.where.value, cell.route.change_field)])


NOBODY_TARGET: dict[Subject, str] = {
    "person": NOBODY_SSN,
    "card": NOBODY_CARD,
    "site": NOBODY_SITE,
    "change": "999999",
}


@dataclass
class Answers:
    """Every cell's response, and what each caller gets for nobody on each route."""

    cells: dict[str, httpx.Response]
    nobody: dict[tuple[str, Who], httpx.Response]


@pytest.fixture(scope="module")
def answers(city: MiniCity) -> Answers:
    """Send the whole matrix once (side by side); the cell tests then assert one each."""
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = city.client()
            with lock:
                clients.append(local.client)
        http: httpx.Client = local.client
        return http

    def cell_answer(cell: Cell) -> httpx.Response:
        resident = city.matrix_resident(cell.where)
        headers = city.headers(cell.who, session_for=resident.key if cell.card_session else None)
        return _send(client(), cell.route, _target(city, cell), headers)

    def nobody_answer(key: tuple[Route, Who]) -> httpx.Response:
        route, who = key
        return _send(client(), route, NOBODY_TARGET[route.subject], city.headers(who))

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            sent = [cell for cell in CELLS if cell.runs_on(city.engine_name)]
            cells = dict(zip([c.id for c in sent], pool.map(cell_answer, sent), strict=True))
            # what nobody looks like, for each caller that gets a 404 somewhere
            keys = [
                (route, who)
                for route in ROUTES
                for who in Who
                if any(
                    expected(route, who, where, session) == 404
                    for where in Where
                    for session in (False, True)
                )
            ]
            nobody = {
                (route.name, who): response
                for (route, who), response in zip(keys, pool.map(nobody_answer, keys), strict=True)
            }
    finally:
        for http in clients:
            http.close()
    return Answers(cells, nobody)


def _comparable(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k not in {"request_id", "instance"}}


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_bola_cell(answers: Answers, city: MiniCity, cell: Cell) -> None:
    route, who = cell.route, cell.who
    resident = city.matrix_resident(cell.where)
    if not cell.runs_on(city.engine_name):
        pytest.skip("PostgreSQL runs the cells where the scope decides (Cell.runs_on)")
    response = answers.cells[cell.id]
    want = expected(route, who, cell.where, cell.card_session)

    assert response.status_code == want, response.text
    if response.status_code < 300:
        body = response.json()
        if route.subject == "card":
            assert body["person_id"] == resident.person_id
            assert body["card_number"] == resident.card(route.card)
        if route.subject == "person":
            person = body.get("person", body)
            assert body.get("person_id", person.get("person_id")) == resident.person_id
            if "ssn" in person:  # the kiosk sees the ID number masked, operators in full
                masked = who is Who.KIOSK
                assert person["ssn_masked"] is masked
                assert (person["ssn"] != resident.ssn) is masked
                assert person["ssn"][:6] == resident.ssn[:6]
                assert person["ssn"][-4:] == resident.ssn[-4:]
        return
    problem = assert_problem(response, want)
    # no refusal shows anything of the person (or of the site's residents)
    assert resident.secrets_in(response.text) == []
    if want == route.ok and route.ok_problem is not None:
        slugs, field_name = route.ok_problem
        assert problem["type"].rsplit("/", 1)[-1] in slugs.split("|")
        assert problem.get("field", "") == field_name
    elif want == 404:
        nobody = assert_problem(answers.nobody[(route.name, who)], 404, "not-found")
        assert _comparable(problem) == _comparable(nobody)
    else:
        assert problem["type"].endswith("/forbidden")


def test_the_matrix_covers_every_subject_route_of_the_served_api(city: MiniCity) -> None:
    """A route with {ssn}, {code} or a change id that the matrix forgot fails here."""
    with city.client() as http:
        document = http.get("/openapi.json").json()
    served = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if any(name in path for name in ("{ssn}", "{code}", "{change_id}", "{card_number}"))
    }
    covered = {
        (
            route.method,
            route.path.replace("{change}", "{change_id}").replace("{card}", "{card_number}"),
        )
        for route in ROUTES
        if route.subject != "site" or "{code}" in route.path
    }
    assert served == covered
