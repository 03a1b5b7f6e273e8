"""A minimal terminal driving a simulated card directly (UserCard.transmit + GET RESPONSE),
and the test cards with their database rows.

`SimTerminal` sends what a kiosk sends (shared/ssc-card.md §4/§9): SELECT SSSE, READ
RECORD by tag, VERIFY, INTERNAL AUTHENTICATE, GET CHALLENGE, and the APDUs the API
hands out. `make_card` personalises a card of a fresh identity (unique card number,
chip serial and SSN, or the shipped example's) and writes the person and card rows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from api_harness import SITE_CODE, Records
from sqlalchemy import select

from cardsvc.db.models import Card, CardState, EmploymentStatus, Person, Sex
from cardsvc.idcheck import card_number_check_char, ssn_check_digit
from simulators.personalisation import example_profile
from simulators.ssc_card import UserCard

SSSE_SELECT = bytes.fromhex("00A404000F") + "sx1.sh.社会保障".encode("gbk")
EF05_TAG_READ = 0x28  # P2 = SFI 05 << 3 | 000: the record with tag P1
EF06_TAG_READ = 0x30
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Reply:
    data: bytes
    sw: int


class SimTerminal:
    """Sends APDUs to one simulated card; fetches 61xx answers with GET RESPONSE."""

    def __init__(self, card: UserCard) -> None:
        self.card = card
        self.atr = card.power_on()

    def send(self, apdu: bytes | str) -> Reply:
        raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        answer = self.card.transmit(raw)
        reply = Reply(answer[:-2], int.from_bytes(answer[-2:], "big"))
        if reply.sw >> 8 == 0x61:
            answer = self.card.transmit(bytes((0x00, 0xC0, 0x00, 0x00, reply.sw & 0xFF)))
            reply = Reply(answer[:-2], int.from_bytes(answer[-2:], "big"))
        return reply

    def select(self) -> Reply:
        return self.send(SSSE_SELECT)

    def read_tag(self, p2: int, tag: int, length: int) -> bytes:
        reply = self.send(bytes((0x00, 0xB2, tag, p2, length + 2)))
        assert reply.sw == 0x9000, f"READ RECORD tag {tag:02X}: {reply.sw:04X}"
        assert reply.data[0] == tag
        return reply.data[2:]

    def verify_pin(self, pin: str) -> int:
        digits = pin if len(pin) % 2 == 0 else pin + "F"
        bcd = bytes.fromhex(digits)
        return self.send(bytes((0x00, 0x20, 0x00, 0x00, len(bcd))) + bcd).sw

    def get_challenge(self) -> bytes:
        reply = self.send(bytes.fromhex("0084000008"))
        assert reply.sw == 0x9000, f"GET CHALLENGE: {reply.sw:04X}"
        return reply.data

    def presentation(self, *, blocked: bool | None = None) -> dict[str, Any]:
        """What the terminal reads before opening a card session (a POST /v1/card-sessions body)."""
        card_id = self.read_tag(EF05_TAG_READ, 0x01, 16)
        spec = self.read_tag(EF05_TAG_READ, 0x03, 4).decode("ascii")
        number = self.read_tag(EF05_TAG_READ, 0x07, 9).decode("ascii")
        body: dict[str, Any] = {
            "card_id_code": card_id.hex().upper(),
            "card_number": number,
            "atr": self.atr.hex().upper(),
            "spec_version": spec,
        }
        if blocked is not None:
            body["application_blocked"] = blocked
        return body


@dataclass(frozen=True)
class TestCard:
    """A simulated card and the ids of its database rows."""

    __test__ = False  # not a test class

    card: UserCard
    profile: dict[str, Any]
    card_number: str
    card_id_code: str
    person_id: int
    ssn: str

    def terminal(self) -> SimTerminal:
        return SimTerminal(self.card)


def _fresh_identity(profile: dict[str, Any]) -> None:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    profile["card_number"] = body + card_number_check_char(body)
    profile["chip_serial"] = secrets.token_hex(4).upper()
    profile["card_id_suffix"] = secrets.token_hex(4).upper()
    born = date(1960, 1, 1) + timedelta(days=secrets.randbelow(14000))
    odd = 1 if profile["sex"] == "1" else 0  # the 17th digit: odd for men, even for women
    ssn17 = "370402" + born.strftime("%Y%m%d") + f"{secrets.randbelow(500) * 2 + odd:03d}"
    profile["ssn"] = ssn17 + ssn_check_digit(ssn17)
    profile["birth_date"] = born.strftime("%Y%m%d")


def make_card(
    records: Records,
    generation: int = 2,
    *,
    example: bool = False,
    masters: dict[str, str] | None = None,
    state: CardState = CardState.ACTIVE,
    record: bool = True,
    site_code: str = SITE_CODE,
) -> TestCard:
    """A simulated card (the shipped example's identity, or a fresh one) and its rows.

    `masters`: personalise with other master keys (a forged card). `record=False`:
    no database rows (an unknown card).
    """
    profile = example_profile(generation)
    region = str(profile["region_code"])
    if not example:
        _fresh_identity(profile)
    if masters is not None:
        profile["masters"] = masters
    card = UserCard.from_profile(profile)
    card_id_code = (
        bytes.fromhex(region).hex()
        + "D156000005"
        + str(profile["chip_serial"])
        + str(profile["card_id_suffix"])
    ).upper()
    ssn = str(profile["ssn"])
    person_id = 0
    if record:
        person_id = _ensure_rows(records, profile, card_id_code, generation, state, site_code)
    return TestCard(card, profile, str(profile["card_number"]), card_id_code, person_id, ssn)


def _ensure_rows(
    records: Records,
    profile: dict[str, Any],
    card_id_code: str,
    generation: int,
    state: CardState,
    site_code: str,
) -> int:
    ssn = str(profile["ssn"])
    born = datetime.strptime(str(profile["birth_date"]), "%Y%m%d").date()
    with records.session() as session:
        person = session.execute(select(Person).where(Person.ssn == ssn)).scalar_one_or_none()
        if person is None:
            person = Person(
                ssn=ssn,
                name=str(profile["name"]),
                sex=Sex.MALE if profile["sex"] == "1" else Sex.FEMALE,
                nationality=str(profile["nation"]),
                birth_date=born,
                birthplace=str(profile["birthplace"]),
                residence_site_code=site_code,
                phone="13800001234",
                employment_status=EmploymentStatus.EMPLOYED,
            )
            session.add(person)
            session.flush()
        number = str(profile["card_number"])
        card = session.execute(select(Card).where(Card.card_number == number)).scalar_one_or_none()
        if card is None:
            session.add(
                Card(
                    card_number=number,
                    card_id_code=card_id_code,
                    person_id=person.id,
                    ssn=ssn,
                    generation=generation,
                    issued_on=date(2024, 1, 1),
                    expires_on=date(2034, 1, 1),
                    state=state,
                    state_changed_at=datetime.now(UTC) - timedelta(days=30),
                )
            )
        return person.id


def random_masters() -> dict[str, str]:
    """Master keys nobody issued cards with (a forger's)."""
    return {name: secrets.token_hex(16).upper() for name in ("IRK", "UK", "PRK", "STK", "RKSSSE")}
