"""`SscSession`: the terminal's session with the social security (SSSE) application.

Card contract sections 3, 4, 6 and 9; one session class for the card
application (yubikit style), over a `CardTransport` (reader_driver's
connections and `CardChannel` satisfy it) and an optional `SecurityModule`.

Every public operation runs inside the connection's exclusive transaction, so
a multi-command sequence (challenge then command, command then GET RESPONSE)
cannot be split by another program. No PIN, key or cryptogram is ever logged.

`basic_read()` is the section-9 flow with the fewest APDUs the contract allows:

- no SELECT EF: READ RECORD addresses EF05/EF06 by SFI and the record by tag
  (P2 = SFI<<3 | 000), which also makes the order of records (gen 1 has no 4E)
  irrelevant;
- every READ RECORD carries the exact Le (the contract fixes each length), so
  no `6Cxx` round trip;
- only the records the flow needs: EF05 01, 03, 05, 06, 07 and EF06 08, 09
  (and 4E from generation 2 on). Tags 01 and 03 come first: the region code
  (F2) and the generation are needed before the authentications.
- SELECT SSSE without Le (case 3), as the contract writes it.

APDUs on the user card (T=0: SELECT and INTERNAL AUTHENTICATE each cost a
GET RESPONSE; T=1: they do not):

| generation | SELECT | READ 01,03 | INT AUTH | GET CHALLENGE + EXT AUTH | READ rest | T=0 | T=1 |
|---|---|---|---|---|---|---|---|
| 1 | 1 (+1) | 2 | 1 (+1) | — | 05,06,07,08,09 = 5 | 11 | 9 |
| 2 | 1 (+1) | 2 | 1 (+1) | — | + 4E = 6 | 12 | 10 |
| 3 | 1 (+1) | 2 | 1 (+1) | 2 | + 4E = 6 | 14 | 12 |

(`BASIC_READ_APDUS`.) The PSAM, on its own connection, adds DES INIT +
ENCRYPT (+ GET RESPONSE on T=0) per authentication: 3 for generations 1/2 and
6 for generation 3 on T=0, after the 2 of `PsamSecurityModule.open`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from cardsvc import crypto
from cardsvc.apdu import SW, Command, Ins
from cardsvc.card.atr import historical_bytes
from cardsvc.card.errors import (
    ApplicationBlocked,
    CardFormatError,
    CardPermanentlyBlocked,
    CardStatusError,
    ExternalAuthFailed,
    ForgedCard,
    HotlistedCard,
    InvalidPin,
    NoSecurityModule,
    PinBlocked,
    PinFormatError,
    WrongCardType,
)
from cardsvc.card.records import (
    EF05_SFI,
    EF05_TAGS,
    EF06_SFI,
    EF06_TAGS,
    BasicInfo,
    CardIdCode,
    IssuerInfo,
    Tag,
    bcd_date,
    decode_card_id,
    decode_card_number,
    decode_cardholder,
    decode_issuer,
    decode_name,
    decode_spec_version,
    decode_ssn,
    generation_of,
    parse_tlv,
)
from cardsvc.card.security import Diversification, SecurityModule
from cardsvc.card.transport import CardTransport, Response, finish, send
from cardsvc.crypto import Algorithm, CryptoError, KeyId
from cardsvc.idcheck import mask_ssn

logger = logging.getLogger(__name__)

SSSE_NAME: Final = "sx1.sh.社会保障".encode("gbk")
CHALLENGE_LEN: Final = 8
MAX_DF_RECORDS: Final = 254

# User-card APDUs of basic_read by (generation, protocol): see the module docstring.
BASIC_READ_APDUS: Final = {
    (1, "T=0"): 11,
    (2, "T=0"): 12,
    (3, "T=0"): 14,
    (1, "T=1"): 9,
    (2, "T=1"): 10,
    (3, "T=1"): 12,
}

# What SELECT SSSE answers on a card without the application.
_NOT_OUR_CARD: Final = frozenset(
    {SW.FILE_NOT_FOUND, SW.WRONG_P1P2, SW.WRONG_LENGTH, SW.INS_NOT_SUPPORTED, SW.CLA_NOT_SUPPORTED}
)

_SW_OK: Final = b"\x90\x00"
_SELECT_SSSE: Final = Command(0x00, Ins.SELECT, 0x04, 0x00, SSSE_NAME).to_bytes()
# INTERNAL AUTHENTICATE with IRK: this header, then Lc = 16 and P ‖ S.
_INTERNAL_AUTH_HEADER: Final = bytes((0x00, Ins.INTERNAL_AUTHENTICATE, 0x00, KeyId.IRK, 16))


def _get_challenge_apdu(length: int) -> bytes:
    return Command(0x00, Ins.GET_CHALLENGE, 0x00, 0x00, le=length).to_bytes()


_GET_CHALLENGE_8: Final = _get_challenge_apdu(CHALLENGE_LEN)


def _read_record_apdu(sfi: int, tag: int, length: int | None) -> bytes:
    """READ RECORD `tag` of SFI `sfi` (P2 = SFI<<3 | 000), Le = the TLV's length (or 00)."""
    le = 256 if length is None else length + 2
    return Command(0x00, Ins.READ_RECORD, tag, (sfi << 3) | 0x00, le=le).to_bytes()


# The READ RECORD APDUs of EF05 / EF06 with their exact Le: constant, so built once.
_READ_APDUS: Final[dict[tuple[int, int], bytes]] = {
    (sfi, tag): _read_record_apdu(sfi, tag, tag.value_length)
    for sfi, tags in ((EF05_SFI, EF05_TAGS), (EF06_SFI, EF06_TAGS))
    for tag in tags
}
# READ RECORD's description in errors, by (sfi, tag).
_READ_WHAT: Final[dict[tuple[int, int], str]] = {
    key: f"READ RECORD {key[1]:02X} of SFI {key[0]:02X}" for key in _READ_APDUS
}

# basic_read's records as module constants (an enum member costs an attribute lookup on
# its class each time): the tag, and READ RECORD's APDU and description in errors.
_CARD_ID: Final = Tag.CARD_ID
_SPEC_VERSION: Final = Tag.SPEC_VERSION
_ISSUE_DATE: Final = Tag.ISSUE_DATE
_EXPIRY_DATE: Final = Tag.EXPIRY_DATE
_CARD_NUMBER: Final = Tag.CARD_NUMBER
_SSN: Final = Tag.SSN
_NAME: Final = Tag.NAME
_NAME_EXT: Final = Tag.NAME_EXT
_RKSSSE: Final = KeyId.RKSSSE


def _record(sfi: int, tag: Tag) -> tuple[bytes, str]:
    return _READ_APDUS[sfi, tag], _READ_WHAT[sfi, tag]


_READ_CARD_ID: Final = _record(EF05_SFI, Tag.CARD_ID)
_READ_SPEC_VERSION: Final = _record(EF05_SFI, Tag.SPEC_VERSION)
_READ_ISSUE_DATE: Final = _record(EF05_SFI, Tag.ISSUE_DATE)
_READ_EXPIRY_DATE: Final = _record(EF05_SFI, Tag.EXPIRY_DATE)
_READ_CARD_NUMBER: Final = _record(EF05_SFI, Tag.CARD_NUMBER)
_READ_SSN: Final = _record(EF06_SFI, Tag.SSN)
_READ_NAME: Final = _record(EF06_SFI, Tag.NAME)
_READ_NAME_EXT: Final = _record(EF06_SFI, Tag.NAME_EXT)


class Df(enum.Enum):
    """The SSSE's dedicated files, by AID (each holds an EF05 with SFI 05, read after PIN)."""

    DF01 = "D15600000500"
    DF02 = "D15600000501"
    DF03 = "D15600000502"
    DF04 = "D15600000503"

    @property
    def aid(self) -> bytes:
        return bytes.fromhex(self.value)


@dataclass(frozen=True, slots=True)
class PinStatus:
    """VERIFY with no data: verified now, tries left (None once verified), blocked."""

    verified: bool
    tries_left: int | None
    blocked: bool


@dataclass(frozen=True, slots=True)
class DfRecord:
    """One opaque TLV record of a DF's EF05."""

    tag: int
    value: bytes


@dataclass(frozen=True, slots=True)
class BasicRead:
    """What the section-9 basic read yields (authenticated); SSN and name out of repr."""

    atr: bytes
    algorithm: Algorithm
    card_id: CardIdCode
    spec_version: str
    issue_date: dt.date
    expiry_date: dt.date
    card_number: str
    ssn: str = field(repr=False)
    name: str = field(repr=False)

    @property
    def generation(self) -> int:
        return generation_of(self.spec_version)

    @property
    def region_code(self) -> str:
        return self.card_id.region_code

    @property
    def reset_info(self) -> bytes:
        """The ATR's historical bytes (the reader interface's 卡复位信息)."""
        return historical_bytes(self.atr)

    @property
    def masked_ssn(self) -> str:
        return mask_ssn(self.ssn)


Hotlist = Callable[[BasicRead], bool]
"""Says whether a card is lost or cancelled (True: block it, no service)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _operation(
    method: Callable[Concatenate[SscSession, _P], _R],
) -> Callable[Concatenate[SscSession, _P], _R]:
    """A public operation: runs through the connection's `run` when it has one.

    `PcscConnection.run` / `InProcessConnection.run` (through `CardChannel.run`)
    bound a whole multi-command operation with at most one thread hand-off
    (none when the connection's watchdog is interruptible) instead of one per
    PC/SC call; nested operations run inline. Errors are those of the method.
    """

    @functools.wraps(method)
    def bounded(self: SscSession, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        run = self._run_operation
        if run is None:
            return method(self, *args, **kwargs)
        result: _R = run(lambda: method(self, *args, **kwargs))
        return result

    return bounded


class SscSession:
    """A session with the SSSE of the card on `connection`.

    `security_module` (a PSAM or the key service) is needed for internal and
    external authentication, RELOAD PIN, block and unblock; without it those
    raise `NoSecurityModule`. `random` draws the terminal's random P, S and X
    (tests may script it).
    """

    def __init__(
        self,
        connection: CardTransport,
        security_module: SecurityModule | None = None,
        *,
        random: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._conn = connection
        self._sm = security_module
        self._random = random
        self._algorithm: Algorithm | None = None
        self._blocked = False
        self._selected: Df | str | None = None  # "SSSE" or a Df: the current DF
        self._card_id: CardIdCode | None = None
        self._spec_version: str | None = None
        self._authenticated: set[KeyId] = set()
        # `run(fn)` of the connection (CardChannel, PcscConnection, ...), if it has one
        self._run_operation: Callable[[Callable[[], Any]], Any] | None = getattr(
            connection, "run", None
        )

    # --- what the session knows -----------------------------------------------------

    @property
    def connection(self) -> CardTransport:
        return self._conn

    @property
    def security_module(self) -> SecurityModule | None:
        return self._sm

    @property
    def atr(self) -> bytes:
        return self._conn.atr

    @property
    def application_blocked(self) -> bool:
        """True once SELECT answered 6283 (or after application_block)."""
        return self._blocked

    @property
    def algorithm(self) -> Algorithm:
        """From the FCI (tag 86), or from the spec version while the application is blocked."""
        if self._algorithm is None:
            self._algorithm = Algorithm.for_generation(self.generation)
        return self._algorithm

    @property
    def generation(self) -> int:
        """The first character of the spec version (EF05 tag 03), read when first needed."""
        return generation_of(self.spec_version)

    @property
    def spec_version(self) -> str:
        if self._spec_version is None:
            tlv = self._bounded_read_tag(EF05_SFI, Tag.SPEC_VERSION)
            self._spec_version = decode_spec_version(parse_tlv(Tag.SPEC_VERSION, tlv))
        return self._spec_version

    @property
    def card_id(self) -> CardIdCode:
        if self._card_id is None:
            tlv = self._bounded_read_tag(EF05_SFI, Tag.CARD_ID)
            self._card_id = decode_card_id(parse_tlv(Tag.CARD_ID, tlv))
        return self._card_id

    # --- selection ----------------------------------------------------------------------

    @_operation
    def select(self) -> Algorithm:
        """SELECT the SSSE; the algorithm from the FCI (tag 86).

        A blocked application raises ApplicationBlocked, and the session stays
        usable for reading EF05 (identification) and for APPLICATION UNBLOCK.
        """
        with self._conn.transaction():
            return self._select()

    def _select(self) -> Algorithm:
        raw = self._conn.transmit(_SELECT_SSSE)
        if raw[-2:] == _SW_OK:  # the usual answer (a CardChannel fetched the FCI already)
            self._algorithm = parse_fci(raw[:-2])
            self._selected = "SSSE"
            self._blocked = False
            return self._algorithm
        response = finish(self._conn, _SELECT_SSSE, raw)
        if response.sw == SW.APP_BLOCKED:
            self._selected = "SSSE"
            self._blocked = True
            raise ApplicationBlocked(command="SELECT SSSE")
        if response.sw in _NOT_OUR_CARD:
            raise WrongCardType(
                f"not a social security card: SELECT SSSE answered {response.sw:04X}"
            )
        self._check(response, "SELECT SSSE")
        self._algorithm = parse_fci(response.data)
        self._selected = "SSSE"
        self._blocked = False
        return self._algorithm

    def _ensure_ssse(self) -> None:
        """Make the SSSE the current DF (tolerating a blocked application)."""
        if self._selected == "SSSE":
            return
        with contextlib.suppress(ApplicationBlocked):
            self.select()

    @_operation
    def select_df(self, df: Df) -> None:
        """SELECT DF01-DF04 by AID (their EF05 is then SFI 05)."""
        with self._conn.transaction():
            response = self._send(Command(0x00, Ins.SELECT, 0x04, 0x00, df.aid))
            if response.sw == SW.APP_BLOCKED:
                self._selected = df
                self._blocked = True
                raise ApplicationBlocked(command=f"SELECT {df.name}")
            self._check(response, f"SELECT {df.name}")
            self._selected = df

    # --- records ------------------------------------------------------------------------

    @_operation
    def read_record(self, sfi: int, tag: int, length: int | None = None) -> bytes:
        """READ RECORD by SFI and tag in the current DF; the whole TLV.

        `length` is the value length (Le = length + 2); without it Le=00 and a
        T=0 card's 6Cxx costs one more APDU.
        """
        with self._conn.transaction():
            response = send(self._conn, _read_record_apdu(sfi, tag, length))
            self._check(response, f"READ RECORD {tag:02X} of SFI {sfi:02X}")
            return response.data

    def _read(self, sfi: int, tag: int) -> bytes:
        """READ RECORD of a contract record (exact Le), inside the caller's transaction."""
        key = (sfi, tag)
        apdu = _READ_APDUS[key]
        raw = self._conn.transmit(apdu)
        if raw[-2:] == _SW_OK:  # the usual answer, taken as it is
            return raw[:-2]
        response = finish(self._conn, apdu, raw)
        self._check(response, _READ_WHAT[key])
        return response.data

    def _command(self, apdu: bytes, what: str) -> bytes:
        """The data of one command that must answer 9000 (`_check` otherwise), in a transaction.

        The same as `send` then `_check`, without a `Response` when the answer is 9000.
        """
        raw = self._conn.transmit(apdu)
        if raw[-2:] == _SW_OK:
            return raw[:-2]
        response = finish(self._conn, apdu, raw)
        self._check(response, what)
        return response.data

    @_operation
    def _bounded_read_tag(self, sfi: int, tag: Tag) -> bytes:
        return self._read_tag(sfi, tag)

    def _read_tag(self, sfi: int, tag: Tag) -> bytes:
        with self._conn.transaction():
            self._ensure_ssse()
            return self._read(sfi, tag)

    @_operation
    def read_issuer_info(self) -> IssuerInfo:
        """EF05, every record (works while the application is blocked)."""
        with self._conn.transaction():
            records: dict[int, bytes] = {t: self._read_tag(EF05_SFI, t) for t in EF05_TAGS}
        info = decode_issuer(records)
        self._card_id, self._spec_version = info.card_id, info.spec_version
        return info

    @_operation
    def read_basic_info(self) -> BasicInfo:
        """EF05 and EF06, every record (gen 3: EXTERNAL AUTHENTICATE with RKSSSE first)."""
        with self._conn.transaction():
            issuer = self.read_issuer_info()
            generation = issuer.generation
            if generation == 3 and KeyId.RKSSSE not in self._authenticated:
                self.external_authenticate(KeyId.RKSSSE)
            tags = [t for t in EF06_TAGS if t is not Tag.NAME_EXT or generation >= 2]
            records: dict[int, bytes] = {t: self._read_tag(EF06_SFI, t) for t in tags}
        return BasicInfo.of(issuer, decode_cardholder(records, generation))

    @_operation
    def read_df_records(self, df: Df) -> tuple[DfRecord, ...]:
        """Every record of `df`'s EF05 (needs the PIN verified first: 6982 otherwise)."""
        out: list[DfRecord] = []
        with self._conn.transaction():
            self.select_df(df)
            for number in range(1, MAX_DF_RECORDS + 1):
                command = Command(0x00, Ins.READ_RECORD, number, (EF05_SFI << 3) | 0x04, le=256)
                response = self._send(command)
                if response.sw == SW.RECORD_NOT_FOUND:
                    break
                self._check(response, f"READ RECORD {number} of {df.name} EF05")
                data = response.data
                if len(data) < 2 or data[1] != len(data) - 2:
                    raise CardFormatError(f"{df.name} record {number}", "not one TLV")
                out.append(DfRecord(data[0], bytes(data[2:])))
        return tuple(out)

    @_operation
    def update_record(self, sfi: int, tag: int, value: bytes) -> None:
        """UPDATE RECORD by SFI and tag in the SSSE (EXTERNAL AUTHENTICATE with UK first)."""
        if len(value) > 253:
            raise CardFormatError(f"tag {tag:02X}", "a record value is at most 253 bytes")
        tlv = bytes((tag, len(value))) + value
        with self._conn.transaction():
            self._ensure_ssse()
            if KeyId.UK not in self._authenticated:
                self.external_authenticate(KeyId.UK)
            response = self._send(Command(0x00, Ins.UPDATE_RECORD, tag, sfi << 3, tlv))
            self._check(response, f"UPDATE RECORD {tag:02X} of SFI {sfi:02X}")
        if sfi == EF05_SFI and tag == Tag.CARD_ID:
            self._card_id = None
        if sfi == EF05_SFI and tag == Tag.SPEC_VERSION:
            self._spec_version = None

    # --- authentication -------------------------------------------------------------------

    def _require_sm(self) -> SecurityModule:
        if self._sm is None:
            raise NoSecurityModule()
        return self._sm

    def diversification(self) -> Diversification:
        """The card's key derivation inputs: algorithm, F1 (ATR), F2 (region code)."""
        return Diversification.for_card(self.algorithm, self.atr, self.card_id.region_code)

    @_operation
    def get_challenge(self, length: int = CHALLENGE_LEN) -> bytes:
        """GET CHALLENGE (valid for the next command only)."""
        with self._conn.transaction():
            return self._get_challenge(length)

    def _get_challenge(self, length: int = CHALLENGE_LEN) -> bytes:
        apdu = _GET_CHALLENGE_8 if length == CHALLENGE_LEN else _get_challenge_apdu(length)
        data = self._command(apdu, "GET CHALLENGE")
        if len(data) != length:
            raise CardFormatError("challenge", f"{len(data)} bytes, asked {length}")
        return data

    @_operation
    def internal_authenticate(self) -> None:
        """INTERNAL AUTHENTICATE with IRK on random P, S; ForgedCard unless the module agrees."""
        sm = self._require_sm()
        with self._conn.transaction():
            self._internal_authenticate(sm, self.diversification())

    def _internal_authenticate(self, sm: SecurityModule, div: Diversification) -> None:
        self._ensure_ssse()
        p, s = self._random(8), self._random(8)
        answer = self._command(_INTERNAL_AUTH_HEADER + p + s, "INTERNAL AUTHENTICATE")
        if len(answer) != 8 or not sm.verify_internal_auth(div, p, s, answer):
            logger.warning("internal authentication failed: forged or foreign card")
            raise ForgedCard(
                "internal authentication failed: a forged card, or one of other masters"
            )

    @_operation
    def external_authenticate(self, kid: KeyId) -> None:
        """GET CHALLENGE, then EXTERNAL AUTHENTICATE with `kid` (cryptogram from the module)."""
        sm = self._require_sm()
        with self._conn.transaction():
            self._external_authenticate(sm, kid, self.diversification())

    def _external_authenticate(self, sm: SecurityModule, kid: KeyId, div: Diversification) -> None:
        self._ensure_ssse()
        challenge = self._get_challenge()
        x = self._random(8)
        c = sm.external_auth_cryptogram(div, kid, challenge, x)
        apdu = bytes((0x00, Ins.EXTERNAL_AUTHENTICATE, 0x00, kid, 16)) + c + x
        raw = self._conn.transmit(apdu)
        if raw[-2:] == _SW_OK:  # the usual answer
            self._authenticated.add(kid)
            return
        response = finish(self._conn, apdu, raw)
        if response.sw & 0xFFF0 == 0x63C0 or response.sw == SW.AUTH_BLOCKED:
            self._authenticated.discard(kid)
            raise ExternalAuthFailed(kid, response.sw)
        self._check(response, "EXTERNAL AUTHENTICATE")
        self._authenticated.add(kid)

    # --- PIN --------------------------------------------------------------------------------

    @_operation
    def verify_pin(self, pin: str) -> None:
        """VERIFY; InvalidPin(tries_left), PinBlocked when no try is left."""
        bcd = _pin_bcd(pin)
        with self._conn.transaction():
            self._ensure_ssse()
            response = self._send(Command(0x00, Ins.VERIFY, 0x00, 0x00, bcd))
            self._pin_result(response, "VERIFY")

    @_operation
    def pin_status(self) -> PinStatus:
        """VERIFY with no data: whether the PIN is verified, and the tries left."""
        with self._conn.transaction():
            self._ensure_ssse()
            response = self._send(Command(0x00, Ins.VERIFY, 0x00, 0x00))
        if response.ok:
            return PinStatus(verified=True, tries_left=None, blocked=False)
        if response.sw & 0xFFF0 == 0x63C0:
            left = response.sw & 0x0F
            return PinStatus(verified=False, tries_left=left, blocked=left == 0)
        if response.sw == SW.AUTH_BLOCKED:
            return PinStatus(verified=False, tries_left=0, blocked=True)
        self._check(response, "VERIFY (status)")
        raise AssertionError("unreachable")  # pragma: no cover

    @_operation
    def change_pin(self, old_pin: str, new_pin: str) -> None:
        """CHANGE PIN (a wrong old PIN counts as a failed try)."""
        data = _pin_bcd(old_pin) + b"\xff" + _pin_bcd(new_pin)
        with self._conn.transaction():
            self._ensure_ssse()
            response = self._send(Command(0x80, Ins.CHANGE_PIN, 0x01, 0x00, data))
            self._pin_result(response, "CHANGE PIN")

    @_operation
    def reload_pin(self, new_pin: str) -> None:
        """RELOAD PIN: sets the PIN and resets its counter, also when blocked (key PRK)."""
        _pin_bcd(new_pin)
        sm = self._require_sm()
        with self._conn.transaction():
            div = self.diversification()
            self._ensure_ssse()
            challenge = self._get_challenge()
            encrypted = sm.encrypt_pin_block(div, challenge, new_pin)
            header = bytes((0x84, Ins.RELOAD_PIN, 0x00, 0x00))
            body = header + bytes((len(encrypted) + 4,)) + encrypted
            mac = sm.command_mac(div, KeyId.PRK, challenge, body)
            response = self._send(body + mac)
            self._check(response, "RELOAD PIN")

    def _pin_result(self, response: Response, command: str) -> None:
        if response.ok:
            return
        if response.sw & 0xFFF0 == 0x63C0:
            left = response.sw & 0x0F
            if left == 0:
                raise PinBlocked("wrong PIN: no tries left, the PIN is now blocked")
            raise InvalidPin(left)
        if response.sw == SW.AUTH_BLOCKED:
            raise PinBlocked()
        if response.sw == SW.WRONG_DATA:
            raise PinFormatError("the card refused the PIN's format")
        self._check(response, command)

    # --- block / unblock ------------------------------------------------------------------

    def _stk_command(self, ins: int, what: str) -> None:
        sm = self._require_sm()
        with self._conn.transaction():
            div = self.diversification()
            self._ensure_ssse()
            challenge = self._get_challenge()
            body = bytes((0x84, ins, 0x00, 0x00, 0x04))
            mac = sm.command_mac(div, KeyId.STK, challenge, body)
            response = self._send(body + mac)
            self._check(response, what)

    @_operation
    def application_block(self) -> None:
        """APPLICATION BLOCK (the hotlist action; key STK)."""
        self._stk_command(Ins.APPLICATION_BLOCK, "APPLICATION BLOCK")
        self._blocked = True
        self._authenticated.clear()

    @_operation
    def application_unblock(self) -> None:
        """APPLICATION UNBLOCK (key STK)."""
        self._stk_command(Ins.APPLICATION_UNBLOCK, "APPLICATION UNBLOCK")
        self._blocked = False

    @_operation
    def card_block(self) -> None:
        """CARD BLOCK: permanent; every later command answers 9303 (key STK)."""
        self._stk_command(Ins.CARD_BLOCK, "CARD BLOCK")
        self._authenticated.clear()

    # --- the section-9 flow ----------------------------------------------------------------

    @_operation
    def basic_read(self, hotlist: Hotlist | None = None) -> BasicRead:
        """The terminal's basic read (section 9), authenticated, with the fewest APDUs.

        SELECT SSSE; READ EF05 01, 03; INTERNAL AUTHENTICATE (ForgedCard on a
        mismatch: nothing more is read); gen 3: GET CHALLENGE + EXTERNAL
        AUTHENTICATE with RKSSSE; READ EF05 05, 06, 07 and EF06 08, 09 (4E from
        gen 2 on). With `hotlist`, a card it reports gets APPLICATION BLOCK and
        HotlistedCard is raised.
        """
        return self._basic_read(hotlist)

    def _basic_read(self, hotlist: Hotlist | None) -> BasicRead:
        # The hot path of a terminal: straight-line code, one local per record (no dict
        # per file, no property chain), each record decoded where it always was.
        sm = self._require_sm()
        conn = self._conn
        atr = conn.atr
        historical_bytes(atr)  # a malformed ATR is not a card of ours
        read = self._command
        with conn.transaction():
            alg = self._select()
            card_id_tlv = read(*_READ_CARD_ID)
            spec_tlv = read(*_READ_SPEC_VERSION)
            card_id = decode_card_id(parse_tlv(_CARD_ID, card_id_tlv))
            spec = decode_spec_version(parse_tlv(_SPEC_VERSION, spec_tlv))
            self._card_id, self._spec_version = card_id, spec
            generation = int(spec[0])  # decode_spec_version checked it (generation_of)
            if Algorithm.for_generation(generation) is not alg:
                raise CardFormatError(
                    "spec_version", f"{spec} disagrees with the FCI algorithm {alg.name}"
                )
            div = Diversification.for_card(alg, atr, card_id.region_code)
            self._internal_authenticate(sm, div)
            if generation == 3 and _RKSSSE not in self._authenticated:
                self._external_authenticate(sm, _RKSSSE, div)
            issue_tlv = read(*_READ_ISSUE_DATE)
            expiry_tlv = read(*_READ_EXPIRY_DATE)
            number_tlv = read(*_READ_CARD_NUMBER)
            ssn_tlv = read(*_READ_SSN)
            name_tlv = read(*_READ_NAME)
            ext_tlv = read(*_READ_NAME_EXT) if generation >= 2 else None
            result = BasicRead(
                atr=atr,
                algorithm=alg,
                card_id=card_id,
                spec_version=spec,
                issue_date=bcd_date("issue_date", parse_tlv(_ISSUE_DATE, issue_tlv)),
                expiry_date=bcd_date("expiry_date", parse_tlv(_EXPIRY_DATE, expiry_tlv)),
                card_number=decode_card_number(parse_tlv(_CARD_NUMBER, number_tlv)),
                ssn=decode_ssn(parse_tlv(_SSN, ssn_tlv)),
                # = decode_full_name: 09, then 4E (from generation 2 on), then the text
                name=decode_name(
                    parse_tlv(_NAME, name_tlv),
                    None if ext_tlv is None else parse_tlv(_NAME_EXT, ext_tlv),
                ),
            )
            if hotlist is not None and hotlist(result):
                logger.warning("card %s is on the hotlist: blocking it", result.card_number)
                self.application_block()
                raise HotlistedCard(result.card_number)
        return result

    # --- exchanging -------------------------------------------------------------------------

    def _send(self, command: Command | bytes) -> Response:
        """One command inside the operation's transaction (every public operation holds one)."""
        return send(self._conn, command.to_bytes() if isinstance(command, Command) else command)

    def _check(self, response: Response, command: str) -> None:
        sw = response.sw
        if sw == SW.OK:
            return
        if sw == SW.CARD_BLOCKED:
            raise CardPermanentlyBlocked(command)
        if sw == SW.APP_BLOCKED or (sw == SW.CONDITIONS_NOT_SATISFIED and self._blocked):
            self._blocked = True
            raise ApplicationBlocked(sw, command)
        raise CardStatusError(sw, command)


def parse_fci(fci: bytes) -> Algorithm:
    """The algorithm (tag 86) of the SSSE's FCI `6F .. 84 name A5 .. 9F0C .. 86 01 alg`."""
    return _parse_fci(bytes(fci))


@functools.lru_cache(maxsize=64)
def _parse_fci(fci: bytes) -> Algorithm:
    # A card answers every SELECT with the same FCI: the decode of each is kept (errors not).
    top = dict(_tlvs(fci, "fci"))
    body = top.get(0x6F)
    if body is None:
        raise CardFormatError("fci", "no FCI template (6F)")
    inner = dict(_tlvs(body, "fci"))
    name = inner.get(0x84)
    if name is not None and name != SSSE_NAME:
        raise WrongCardType(f"SELECT SSSE answered the FCI of another application ({name.hex()})")
    prop = inner.get(0xA5)
    if prop is None:
        raise CardFormatError("fci", "no proprietary template (A5)")
    levels = [prop]
    nested = dict(_tlvs(prop, "fci")).get(0x9F0C)
    if nested is not None:
        levels.append(nested)
    for level in levels:
        alg = dict(_tlvs(level, "fci")).get(0x86)
        if alg is not None:
            if len(alg) != 1 or alg[0] not in (a.value for a in Algorithm):
                raise CardFormatError("fci", f"unknown algorithm byte {alg.hex().upper()}")
            return Algorithm(alg[0])
    raise CardFormatError("fci", "no algorithm (tag 86)")


def _tlvs(data: bytes, field_name: str) -> list[tuple[int, bytes]]:
    """BER-TLV items at one level (one- or two-byte tags, short or 81/82 lengths)."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            if i >= len(data):
                raise CardFormatError(field_name, "truncated tag")
            tag = (tag << 8) | data[i]
            i += 1
        if i >= len(data):
            raise CardFormatError(field_name, f"tag {tag:X} has no length")
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            if n not in (1, 2) or i + n > len(data):
                raise CardFormatError(field_name, f"tag {tag:X}: bad length form")
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        if i + length > len(data):
            raise CardFormatError(field_name, f"tag {tag:X}: value runs past the end")
        out.append((tag, data[i : i + length]))
        i += length
    return out


def _pin_bcd(pin: str) -> bytes:
    try:
        return crypto.pin_to_bcd(pin)
    except CryptoError:
        raise PinFormatError("a PIN is 4 to 12 digits") from None
