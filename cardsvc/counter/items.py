"""The API calls of each business item, on top of the API client's ``request()``.

One method per item (E01-E05, R01-R05, B01-B04, C01-C08); each returns the API's JSON
answer. Whom an item is for is a :class:`Customer`: the person's SSN, and the card
session of the card in the reader when there is one (sent as ``X-Card-Session``, which
lets a clerk serve a card holder from outside their sites and is what a kiosk acts
inside). Writes get a fresh Idempotency-Key from the client; callers that retry pass
their own `key` so a retry is replayed, not repeated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cardsvc.counter.errors import NoCardSession
from cardsvc.counter.ports import ApiPort


@dataclass(frozen=True, slots=True)
class Customer:
    """The person served now, and their card."""

    ssn: str
    card_number: str | None = None
    card_session: str | None = None
    name: str = ""


def _q(value: str) -> str:
    return quote(value, safe="")


class ItemCalls:
    """Business items through the API, for one customer at a time."""

    def __init__(self, api: ApiPort) -> None:
        self._api = api

    # ------------------------------------------------------------------ plumbing

    def _person(self, who: Customer, suffix: str = "") -> str:
        return f"/v1/persons/{_q(who.ssn)}{suffix}"

    def _card(self, who: Customer, card_number: str | None, suffix: str) -> str:
        number = card_number or who.card_number
        if not number:
            raise NoCardSession("no card number: insert the card or give card=NUMBER")
        return f"/v1/cards/{_q(number)}{suffix}"

    def _get(
        self, who: Customer, path: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        answer = self._api.request("GET", path, params=params, card_session=who.card_session)
        return dict(answer or {})

    def _write(
        self,
        method: str,
        who: Customer,
        path: str,
        body: object | None = None,
        *,
        params: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        answer = self._api.request(
            method,
            path,
            json=body,
            params=params,
            card_session=who.card_session,
            idempotency_key=key,
        )
        return dict(answer or {})

    # ------------------------------------------------------------------ E01-E05

    def person(self, who: Customer) -> dict[str, Any]:
        """The person's summary (journaled as E05)."""
        return self._get(who, self._person(who))

    def e01_insurance(self, who: Customer) -> dict[str, Any]:
        return self._get(who, self._person(who, "/insurance"))

    def e02_contributions(
        self, who: Customer, *, scheme: str | None = None, limit: int = 12, offset: int = 0
    ) -> dict[str, Any]:
        params = {"limit": str(limit), "offset": str(offset)}
        if scheme:
            params["scheme"] = scheme
        return self._get(who, self._person(who, "/contributions"), params)

    def e03_account(self, who: Customer) -> dict[str, Any]:
        return self._get(who, self._person(who, "/accounts"))

    def e04_benefits(
        self, who: Customer, *, benefit: str | None = None, limit: int = 12, offset: int = 0
    ) -> dict[str, Any]:
        params = {"limit": str(limit), "offset": str(offset)}
        if benefit:
            params["benefit"] = benefit
        return self._get(who, self._person(who, "/benefits"), params)

    def e05_employment(self, who: Customer) -> dict[str, Any]:
        return self._get(who, self._person(who, "/employment"))

    # ------------------------------------------------------------------ R01-R05

    def r01_employment(
        self,
        who: Customer,
        *,
        employer_credit_code: str,
        start_date: str,
        contract_type: str,
        key: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "employer_credit_code": employer_credit_code,
            "start_date": start_date,
            "contract_type": contract_type,
        }
        return self._write(
            "POST", who, self._person(who, "/employment-registrations"), body, key=key
        )

    def r02_unemployment(
        self,
        who: Customer,
        *,
        able_to_work: bool,
        willing_to_work: bool,
        employment_ended_on: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"able_to_work": able_to_work, "willing_to_work": willing_to_work}
        if employment_ended_on:
            body["employment_ended_on"] = employment_ended_on
        return self._write(
            "POST", who, self._person(who, "/unemployment-registrations"), body, key=key
        )

    def r03_resident_pension(
        self, who: Customer, *, start_date: str | None = None, key: str | None = None
    ) -> dict[str, Any]:
        body = {"start_date": start_date} if start_date else {}
        return self._write(
            "POST", who, self._person(who, "/resident-pension-enrolment"), body, key=key
        )

    def r04_resident_medical(
        self, who: Customer, *, start_date: str | None = None, key: str | None = None
    ) -> dict[str, Any]:
        body = {"start_date": start_date} if start_date else {}
        return self._write(
            "POST", who, self._person(who, "/resident-medical-enrolment"), body, key=key
        )

    def r05_change(
        self, who: Customer, changes: Mapping[str, str], *, key: str | None = None
    ) -> dict[str, Any]:
        """`changes`: any of phone, address, name, new_ssn (name/ID wait for a reviewer)."""
        return self._write(
            "POST", who, self._person(who, "/information-changes"), dict(changes), key=key
        )

    def approve_change(self, change_id: int, *, key: str | None = None) -> dict[str, Any]:
        """R05 second step: a reviewer (not the one who entered it) approves a change."""
        path = f"/v1/information-changes/{change_id}/approval"
        return dict(self._api.request("POST", path, idempotency_key=key) or {})

    def reject_change(
        self, change_id: int, reason: str, *, key: str | None = None
    ) -> dict[str, Any]:
        path = f"/v1/information-changes/{change_id}/rejection"
        body = {"reason": reason}
        return dict(self._api.request("POST", path, json=body, idempotency_key=key) or {})

    # ------------------------------------------------------------------ B01-B04

    def b01_unemployment_benefit(
        self, who: Customer, *, ended_involuntarily: bool | None = None
    ) -> dict[str, Any]:
        params = {}
        if ended_involuntarily is not None:
            params["ended_involuntarily"] = "true" if ended_involuntarily else "false"
        return self._get(who, self._person(who, "/unemployment-benefit-eligibility"), params)

    def b02_certify_pension(
        self, who: Customer, *, id_checked: bool, key: str | None = None
    ) -> dict[str, Any]:
        return self._write(
            "POST",
            who,
            self._person(who, "/pension-certifications"),
            {"id_checked": id_checked},
            key=key,
        )

    def b03_retirement(self, who: Customer, *, category: str | None = None) -> dict[str, Any]:
        params = {"category": category} if category else None
        return self._get(who, self._person(who, "/retirement-eligibility"), params)

    def b04_medical(self, who: Customer) -> dict[str, Any]:
        return self._get(who, self._person(who, "/medical-insurance-status"))

    # ------------------------------------------------------------------ C01-C08

    def c01_temporary_loss(
        self, who: Customer, *, card_number: str | None = None, key: str | None = None
    ) -> dict[str, Any]:
        path = self._card(who, card_number, "/loss-reports")
        return self._write("POST", who, path, {"kind": "temporary"}, key=key)

    def c02_formal_loss(
        self,
        who: Customer,
        *,
        id_checked: bool,
        card_number: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        path = self._card(who, card_number, "/loss-reports")
        body = {"kind": "formal", "id_checked": id_checked}
        return self._write("POST", who, path, body, key=key)

    def c03_cancel_loss(
        self,
        who: Customer,
        *,
        id_checked: bool,
        card_number: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        path = self._card(who, card_number, "/loss-reports")
        params = {"id_checked": "true" if id_checked else "false"}
        return self._write("DELETE", who, path, params=params, key=key)

    def c04_replace(
        self,
        who: Customer,
        *,
        new_card_number: str,
        new_card_id_code: str,
        id_checked: bool,
        expires_on: str | None = None,
        card_number: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "new_card_number": new_card_number,
            "new_card_id_code": new_card_id_code,
            "id_checked": id_checked,
        }
        if expires_on:
            body["expires_on"] = expires_on
        path = self._card(who, card_number, "/replacement")
        return self._write("POST", who, path, body, key=key)

    def c05_record_pin_change(
        self, who: Customer, *, card_number: str | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """Records a PIN change done on the card (the agent's CHANGE PIN); no PIN here."""
        path = self._card(who, card_number, "/pin-change")
        return self._write("POST", who, path, key=key)

    def c06_record_pin_reload(
        self,
        who: Customer,
        *,
        id_checked: bool,
        card_number: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Records a PIN reload done on the card (the agent's RELOAD PIN); no PIN here."""
        path = self._card(who, card_number, "/pin-reload")
        return self._write("POST", who, path, {"id_checked": id_checked}, key=key)

    def c07_activate(
        self, who: Customer, *, card_number: str | None = None, key: str | None = None
    ) -> dict[str, Any]:
        path = self._card(who, card_number, "/activation")
        return self._write("POST", who, path, key=key)

    def c08_cancel_card(
        self,
        who: Customer,
        *,
        reason: str,
        card_number: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        path = self._card(who, card_number, "/cancellation")
        return self._write("POST", who, path, {"reason": reason}, key=key)

    # ------------------------------------------------------------------ the session

    def end_card_session(self, session_id: str) -> None:
        self._api.request("DELETE", f"/v1/card-sessions/{_q(session_id)}")

    def whoami(self) -> dict[str, Any]:
        return dict(self._api.request("GET", "/v1/auth/me") or {})
