"""`Station`: the station core. It owns the card reader (and a PSAM when one is found),
follows the reader events (no polling), presents each card to the API and applies the
terminal's decision, runs the PIN commands on the card, and opens card sessions for
callers that need their own (a clerk at a counter: card sessions are per caller).

Threads: one worker consumes the backend's events; the agent's HTTP threads call the
card operations. A re-entrant lock serialises everything that talks to the card;
`card()` and `health()` read snapshots and never wait for the card.

On insertion (shared/ssc-card.md §4, §9; the API's card-session walk-through):

1. SELECT SSSE (6283: the application is blocked), EF05;
2. with a PSAM: INTERNAL AUTHENTICATE checked by the PSAM (a forged card stops here),
   gen 3: EXTERNAL AUTHENTICATE with RKSSSE; EF06;
3. the station's device opens a card session and proves the card (the API's key
   service checks it; gen 3 without a PSAM gets RKSSSE from the API, then EF06);
   a blocked card is presented as such and unblocked when the API says its loss was
   cancelled;
4. the terminal decision: APPLICATION BLOCK for a hotlisted card (serve nothing).

A counter terminal gets no card session of its own (the API lets only the clerk
present cards there): the station then checks GET /v1/hotlist and, with a PSAM,
blocks or unblocks by itself; without a PSAM the clerk's card session (POST
/v1/card/session on the agent) authenticates the card and carries the decision.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from cardsvc.card.errors import (
    ApplicationBlocked,
    CardError,
    ForgedCard,
    InvalidPin,
    NoSecurityModule,
    PinBlocked,
    PinFormatError,
)
from cardsvc.card.reader_string import reader_string
from cardsvc.card.security import PsamSecurityModule
from cardsvc.card.session import SscSession
from cardsvc.client import ApiClient, ApiProblem
from cardsvc.crypto import KeyId
from cardsvc.station import presenting
from cardsvc.station.errors import (
    ApiRefused,
    ApiUnavailable,
    CardFailure,
    CardNotServed,
    InvalidPinFormat,
    NoCardPresent,
    PinBlockedError,
    StationError,
    UnknownCard,
    WrongPin,
)
from cardsvc.station.hotlist import HotlistCache
from cardsvc.station.model import (
    CARD_ERROR,
    CARD_INSERTED,
    CARD_REMOVED,
    READER_ADDED,
    READER_REMOVED,
    PresentedCard,
    StationEvent,
)
from cardsvc.station.reading import basic_read_of, read_holder
from reader_driver.backend import Backend, EventKind, ReaderEvent, ReaderEvents
from reader_driver.errors import ReaderError
from reader_driver.processors import CardChannel

logger = logging.getLogger(__name__)

_EVENT_WAIT_S: Final = 0.5
_STOP_JOIN_S: Final = 10.0
_PROBE_TIMEOUT_S: Final = 2.0
_SAM_RETRIES: Final = 4
_SAM_RETRY_S: Final = 0.25


@dataclass(frozen=True)
class StationConfig:
    """Where the API is, who the station is, which readers it uses.

    The PSAM: in `sam_reader` when it is named; else, only when the station picks its
    readers itself (no `reader` named), in whichever reader holds one; never with
    `no_sam` (the API's key service authenticates every card). With a `reader` named
    and no `sam_reader` the station opens no other reader: on a pcscd shared by several
    stations it must not take another station's PSAM.
    """

    api_url: str
    device: str | None = None
    credential: str | None = None
    reader: str | None = None
    sam_reader: str | None = None
    device_serial: str = ""
    api_timeout: float = 10.0
    no_sam: bool = False


@dataclass(frozen=True, slots=True)
class _Psam:
    reader: str
    channel: CardChannel
    module: PsamSecurityModule


class Station:
    """The card reader, the PSAM and the API for one station (see the module docstring)."""

    def __init__(
        self,
        backend: Backend,
        config: StationConfig,
        *,
        api: ApiClient | None = None,
        caller_api: Callable[[str], ApiClient] | None = None,
    ) -> None:
        self._backend = backend
        self.config = config
        self._api = api or ApiClient(config.api_url, timeout=config.api_timeout)
        self._caller_api = caller_api or self._default_caller_api
        self._lock = threading.RLock()
        self._card: PresentedCard | None = None
        self._snapshot: dict[str, Any] | None = None
        self._psam: _Psam | None = None
        self._readers: list[str] = []
        self._pcscd = False
        self._api_ok: bool | None = None
        self._hotlist = HotlistCache()
        self._subscribers: list[Callable[[StationEvent], None]] = []
        self._subscribers_lock = threading.Lock()
        self._events: ReaderEvents | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Find the PSAM, then follow the reader events on a worker thread."""
        try:
            infos = self._backend.readers()
            self._pcscd = True
        except ReaderError as exc:
            logger.warning("the readers cannot be listed yet: %s", exc)
            infos = []
        self._readers = [info.name for info in infos]
        for info in infos:
            if info.card_present and self._psam is None and self._may_be_sam(info.name):
                self._try_psam(info.name)
        self._events = self._backend.events(initial=True)
        self._thread = threading.Thread(target=self._run, name="station", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following events; end the card sessions; release the readers."""
        self._stop.set()
        if self._events is not None:
            self._events.stop()
        if self._thread is not None:
            self._thread.join(_STOP_JOIN_S)
        with self._lock:
            card = self._card
            if card is not None:
                self._forget_card(card)
            if self._psam is not None:
                self._psam.channel.connection.disconnect()
                self._psam = None
        if card is not None:
            self._end_sessions(card)

    def __enter__(self) -> Station:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the agent reads -----------------------------------------------------------

    def card(self) -> dict[str, Any] | None:
        """The presented card's JSON, None when there is no (readable) card."""
        return self._snapshot

    def health(self, probe_api: bool = True) -> dict[str, Any]:
        """pcscd, readers, the card and SAM readers in use, the API; ok or degraded."""
        api_ok = self._probe_api() if probe_api else bool(self._api_ok)
        card_reader = self._card_reader()
        status = "ok" if self._pcscd and api_ok and card_reader is not None else "degraded"
        return {
            "status": status,
            "pcscd": self._pcscd,
            "readers": list(self._readers),
            "card_reader": card_reader,
            "sam_reader": self._psam.reader if self._psam is not None else None,
            "api": api_ok,
        }

    def reader_string(self) -> str:
        """The section-8 string of the presented, authenticated card."""
        with self._lock:
            card = self._require_card()
            if card.authenticated_by is None or card.holder is None or not card.serve:
                raise CardNotServed(
                    "the card is not authenticated or not served: no reader-interface string"
                )
            assert card.issuer is not None
            read = basic_read_of(card.issuer, card.holder, card.session.atr)
            number = self._psam.module.terminal_number if self._psam is not None else None
            return reader_string(read, number, self.config.device_serial)

    def subscribe(self) -> queue.SimpleQueue[StationEvent]:
        """A queue that receives every event from now on (call `unsubscribe` when done)."""
        subscriber: queue.SimpleQueue[StationEvent] = queue.SimpleQueue()
        self.add_listener(subscriber.put)
        return subscriber

    def unsubscribe(self, subscriber: queue.SimpleQueue[StationEvent]) -> None:
        self.remove_listener(subscriber.put)

    def add_listener(self, listener: Callable[[StationEvent], None]) -> None:
        """Call `listener` with every event from now on (on the station's thread: be quick)."""
        with self._subscribers_lock:
            self._subscribers.append(listener)

    def remove_listener(self, listener: Callable[[StationEvent], None]) -> None:
        with self._subscribers_lock:
            if listener in self._subscribers:
                self._subscribers.remove(listener)

    # --- PIN and caller sessions -------------------------------------------------------

    def verify_pin(self, pin: str) -> None:
        """VERIFY on the card; WrongPin / PinBlockedError / InvalidPinFormat otherwise."""
        with self._card_operation("VERIFY") as card:
            try:
                card.session.verify_pin(pin)
            except InvalidPin as exc:
                raise WrongPin(exc.tries_left) from None
            except PinBlocked:
                raise PinBlockedError() from None
            card.pin_verified = True

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        """CHANGE PIN on the card (a wrong old PIN counts as a failed try)."""
        with self._card_operation("CHANGE PIN") as card:
            try:
                card.session.change_pin(old_pin, new_pin)
            except InvalidPin as exc:
                raise WrongPin(exc.tries_left) from None
            except PinBlocked:
                raise PinBlockedError() from None

    def open_session(self, token: str) -> dict[str, Any]:
        """A fresh challenge/proof for the caller of `token` → the API's VerifiedCardSession.

        `pin_verified` is the card's PIN state in this presentation. The session is
        ended when the card goes out.
        """
        with self._card_operation("card session") as card:
            api = self._caller_api(token)
            try:
                verified = self._prove_for(api, card)
            finally:
                api.close()
            card.caller_sessions.append((str(verified["session_id"]), token))
            return verified

    def reload_pin(self, new_pin: str, token: str, *, id_checked: bool) -> dict[str, Any]:
        """RELOAD PIN built by the API for the operator of `token` (clerk, ID checked)."""
        with self._card_operation("RELOAD PIN") as card:
            api = self._caller_api(token)
            try:
                verified = self._prove_for(api, card)
                session_id = str(verified["session_id"])
                card.caller_sessions.append((session_id, token))
                presenting.send_command(
                    api,
                    card.session,
                    session_id,
                    "reload-pin",
                    new_pin=new_pin,
                    id_checked=id_checked,
                )
            finally:
                api.close()
            card.pin_verified = False
            return {"reloaded": True, "session_id": session_id}

    # --- internals: the worker ----------------------------------------------------------

    def _run(self) -> None:
        events = self._events
        assert events is not None
        while not self._stop.is_set():
            event = events.get(_EVENT_WAIT_S)
            if event is None:
                if events.stopped:
                    return
                continue
            try:
                self._handle(event)
            except Exception:
                logger.exception("the station failed on %s", event)

    def _handle(self, event: ReaderEvent) -> None:
        kind, reader = event.kind, event.reader
        if kind is EventKind.SERVICE_LOST:
            self._pcscd = False
            return
        if kind is EventKind.SERVICE_BACK:
            self._pcscd = True
            return
        self._pcscd = True
        if kind is EventKind.READER_ADDED:
            if reader not in self._readers:
                self._readers.append(reader)
            self._publish(READER_ADDED, {"reader": reader})
        elif kind is EventKind.READER_REMOVED:
            self._card_gone(reader)
            self._sam_gone(reader, reader_removed=True)
            if reader in self._readers:
                self._readers.remove(reader)
            self._publish(READER_REMOVED, {"reader": reader})
        elif kind is EventKind.CARD_REMOVED:
            self._card_gone(reader)
            self._sam_gone(reader)
        elif kind is EventKind.CARD_INSERTED:
            self._card_in(reader)

    def _card_in(self, reader: str) -> None:
        if self._psam is not None and self._psam.reader == reader:
            return
        if self._psam is None and self._may_be_sam(reader) and self._try_psam(reader):
            return
        if self.config.sam_reader == reader:
            # Right after pcscd (re)starts, the first connect to the SAM reader can fail
            # while the card is still being powered: try again a few times.
            for _ in range(_SAM_RETRIES):
                if self._stop.wait(_SAM_RETRY_S) or self._try_psam(reader):
                    return
            return  # the SAM reader holds no PSAM we can use: not a cardholder's reader
        if self.config.reader is not None and reader != self.config.reader:
            return
        if self._psam is None:
            self._look_for_psam(exclude=reader)
        current = self._card
        if current is not None:
            if current.reader != reader:
                logger.info(
                    "a card in %s ignored: the card in %s is served", reader, current.reader
                )
                return
            self._card_gone(reader)  # swapped without a removal seen
        self._present_new(reader)

    def _may_be_sam(self, reader: str) -> bool:
        """Whether the station may look for its PSAM in `reader` (see StationConfig)."""
        if self.config.no_sam:
            return False
        if self.config.sam_reader is not None:
            return reader == self.config.sam_reader
        return self.config.reader is None

    def _try_psam(self, reader: str) -> bool:
        try:
            channel = CardChannel(self._backend.connect(reader))
        except ReaderError as exc:
            logger.info("no PSAM in %s: %s", reader, exc)
            return False
        try:
            module = PsamSecurityModule.open(channel)
        except (CardError, ReaderError) as exc:
            channel.connection.disconnect()
            if self.config.sam_reader == reader:
                logger.warning("the SAM reader %s holds no usable PSAM: %s", reader, exc)
            elif not isinstance(exc, NoSecurityModule):
                logger.info("no PSAM in %s: %s", reader, exc)
            return False
        with self._lock:
            self._psam = _Psam(reader, channel, module)
        logger.info("PSAM found in %s (terminal %s)", reader, module.terminal_number)
        return True

    def _look_for_psam(self, exclude: str) -> None:
        """Before a card is presented without a PSAM: is one in a reader already?

        (After a pcscd restart the readers come back in any order.)
        """
        try:
            infos = self._backend.readers()
        except ReaderError:
            return
        for info in infos:
            usable = info.name != exclude and info.card_present and self._may_be_sam(info.name)
            if usable and self._try_psam(info.name):
                return

    def _sam_gone(self, reader: str, *, reader_removed: bool = False) -> None:
        with self._lock:  # nobody sees the PSAM missing while it is opened again
            psam = self._psam
            if psam is None or psam.reader != reader:
                return
            self._psam = None
            psam.channel.connection.disconnect()
            if not reader_removed and self._card_present(reader) and self._try_psam(reader):
                # pcscd reports a card reset as removed + inserted: the PSAM is still there
                logger.info("the PSAM in %s was reset: opened again", reader)
                return
        logger.warning("the PSAM in %s is gone: cards are authenticated by the key service", reader)

    def _card_present(self, reader: str) -> bool:
        try:
            return any(i.name == reader and i.card_present for i in self._backend.readers())
        except ReaderError:
            return False

    def _card_reader(self) -> str | None:
        """The cardholder's reader: the configured one if present, else the first non-SAM."""
        sam = self._psam.reader if self._psam is not None else self.config.sam_reader
        if self.config.reader is not None:
            return self.config.reader if self.config.reader in self._readers else None
        current = self._card
        if current is not None:
            return current.reader
        return next((r for r in self._readers if r != sam), None)

    # --- internals: presenting a card ---------------------------------------------------

    def _present_new(self, reader: str) -> None:
        try:
            channel = CardChannel(self._backend.connect(reader))
        except ReaderError as exc:
            self._publish(CARD_ERROR, _error(reader, "reader-error", str(exc)))
            return
        with self._lock:
            psam = self._psam
            card = PresentedCard(
                reader=reader,
                channel=channel,
                session=SscSession(channel, psam.module if psam is not None else None),
                inserted_at=dt.datetime.now(dt.UTC),
            )
            self._card = card
            try:
                self._present(card)
            except StationError as exc:
                card.error = {"code": exc.code, "message": exc.message}
            except ForgedCard as exc:
                card.forged, card.serve, card.authenticated_by = True, False, None
                card.error = {"code": "forged-card", "message": str(exc)}
            except (CardError, ReaderError) as exc:
                card.serve = False
                card.error = {"code": _card_code(exc), "message": str(exc)}
            self._refresh(card)
            snapshot = self._snapshot
        if card.error is not None:
            self._publish(CARD_ERROR, {"reader": reader, **card.error})
        if snapshot is not None:
            self._publish(CARD_INSERTED, snapshot)

    def _present(self, card: PresentedCard) -> None:
        session = card.session
        try:
            session.select()
        except ApplicationBlocked:
            card.application_blocked = True
        card.issuer = session.read_issuer_info()
        if not card.application_blocked:
            self._authenticate_locally(card)
        try:
            self._present_to_api(card)
        except ApiProblem as problem:
            if problem.status == 403 and problem.slug == "forbidden":
                self._decide_from_hotlist(card)
            elif problem.status == 403 and problem.slug == "forged-card":
                raise ForgedCard(problem.detail or problem.title) from None
            elif problem.status == 0 or problem.status >= 500:
                self._api_ok = False
                card.serve = False
                raise ApiUnavailable(f"the card cannot be checked: {problem.message}") from None
            elif problem.status == 404:
                card.serve = False
                raise UnknownCard(
                    "the service has no record of this card: serve nothing (a foreign card?)"
                ) from None
            else:
                card.serve = False
                raise ApiRefused(problem.message, problem.status, problem.to_dict()) from None

    def _authenticate_locally(self, card: PresentedCard) -> None:
        """With a PSAM: INTERNAL AUTHENTICATE (and gen 3 RKSSSE); EF06 when readable."""
        assert card.issuer is not None
        generation = card.issuer.generation
        if self._psam is not None and card.session.security_module is not None:
            card.session.internal_authenticate()
            if generation == 3:
                card.session.external_authenticate(KeyId.RKSSSE)
            card.authenticated_by = "psam"
        if card.holder is None and (card.authenticated_by == "psam" or generation < 3):
            card.holder = read_holder(card.session, generation)

    def _present_to_api(self, card: PresentedCard) -> None:
        api = self._device_api()
        issuer = card.issuer
        assert issuer is not None
        if card.application_blocked:
            outcome = presenting.unblock_if_told(api, card.session, issuer)
            self._api_ok = True
            if not outcome.unblocked:
                card.serve = False
                card.on_hotlist = not bool(outcome.decision.get("serve"))
                card.terminal_action = str(outcome.decision.get("action") or "none")
                return
            card.application_blocked = False
            card.terminal_action = presenting.UNBLOCK
            self._authenticate_locally(card)
        verified = presenting.prove(
            api,
            card.session,
            issuer,
            pin_verified=card.pin_verified,
            rkssse=issuer.generation == 3 and card.authenticated_by is None,
        )
        self._api_ok = True
        card.device_session = str(verified["session_id"])
        self._take_verified(api, card, verified)

    def _take_verified(self, api: ApiClient, card: PresentedCard, verified: dict[str, Any]) -> None:
        """Apply a proof's answer: standing, holder, the block command when told."""
        action_done = card.terminal_action if card.terminal_action != "none" else None
        card.apply_verified(verified)
        if card.authenticated_by is None:
            card.authenticated_by = "key-service"
        assert card.issuer is not None
        if card.holder is None and card.serve:
            card.holder = read_holder(card.session, card.issuer.generation)
        if card.terminal_action == presenting.BLOCK and not card.application_blocked:
            presenting.send_command(
                api, card.session, str(verified["session_id"]), presenting.BLOCK
            )
            card.application_blocked = True
            logger.warning(
                "card %s is on the hotlist: application blocked", card.issuer.card_number
            )
        elif action_done is not None and card.terminal_action == "none":
            card.terminal_action = action_done  # what was applied before this proof

    def _decide_from_hotlist(self, card: PresentedCard) -> None:
        """No card session for this device (a counter terminal): the hotlist decides."""
        assert card.issuer is not None
        try:
            self._hotlist.refresh(self._api)
        except ApiProblem as problem:
            self._api_ok = not (problem.status == 0 or problem.status >= 500)
            card.serve = False
            raise ApiUnavailable(f"the hotlist cannot be fetched: {problem.message}") from None
        self._api_ok = True
        standing = self._hotlist.standing(card.issuer.card_number)
        card.on_hotlist, card.state = standing.on_hotlist, standing.state
        psam = self._psam is not None and card.session.security_module is not None
        if standing.on_hotlist:
            card.serve = False
            if not card.application_blocked:
                card.terminal_action = presenting.BLOCK
                if psam:
                    card.session.application_block()
                    card.application_blocked = True
            return
        if card.application_blocked:
            card.terminal_action = presenting.UNBLOCK
            if not psam:
                card.serve = False  # the clerk's card session unblocks it
                return
            card.session.application_unblock()
            card.session.select()
            card.application_blocked = False
            self._authenticate_locally(card)
        card.serve = card.authenticated_by is not None

    def _prove_for(self, api: ApiClient, card: PresentedCard) -> dict[str, Any]:
        """A caller's own challenge/proof; applies the decision it carries."""
        assert card.issuer is not None
        try:
            if card.application_blocked:
                outcome = presenting.unblock_if_told(api, card.session, card.issuer)
                if not outcome.unblocked:
                    card.serve = False
                    card.terminal_action = str(outcome.decision.get("action") or "none")
                    raise CardNotServed(
                        "the card's application is blocked and stays blocked: serve nothing"
                    )
                card.application_blocked = False
                card.terminal_action = presenting.UNBLOCK
                self._authenticate_locally(card)
            verified = presenting.prove(
                api,
                card.session,
                card.issuer,
                pin_verified=card.pin_verified,
                rkssse=card.issuer.generation == 3 and card.holder is None,
            )
            self._take_verified(api, card, verified)
        except ApiProblem as problem:
            raise _api_error(problem, "the card's presentation") from None
        return verified

    # --- internals: removal, sessions, events -------------------------------------------

    def _card_gone(self, reader: str) -> None:
        with self._lock:
            card = self._card
            if card is None or card.reader != reader:
                return
            self._forget_card(card)
        self._publish(CARD_REMOVED, {"reader": reader})
        self._end_sessions(card)

    def _forget_card(self, card: PresentedCard) -> None:
        self._card = None
        self._snapshot = None
        card.channel.connection.disconnect()

    def _end_sessions(self, card: PresentedCard) -> None:
        """DELETE every card session of this presentation (errors only logged)."""
        if card.device_session is not None:
            _quietly_end(self._api, card.device_session)
        for session_id, token in card.caller_sessions:
            api = self._caller_api(token)
            try:
                _quietly_end(api, session_id)
            finally:
                api.close()

    @contextmanager
    def _card_operation(self, what: str) -> Iterator[PresentedCard]:
        """The presented card, under the lock; card and reader failures → StationError."""
        with self._lock:
            card = self._require_card()
            if card.forged:
                raise CardNotServed("the card failed authentication (forged or foreign)")
            if card.application_blocked and what in ("VERIFY", "CHANGE PIN"):
                raise CardNotServed("the card's application is blocked: serve nothing")
            try:
                yield card
            except PinFormatError:
                raise InvalidPinFormat("a PIN is 4 to 12 digits", extra={"field": "pin"}) from None
            except ApiProblem as problem:
                raise _api_error(problem, what) from None
            except (CardError, ReaderError) as exc:
                raise CardFailure(f"{what}: {exc}", extra={"card_code": _card_code(exc)}) from None
            finally:
                if self._card is card:
                    self._refresh(card)

    def _require_card(self) -> PresentedCard:
        card = self._card
        if card is None or not card.readable:
            raise NoCardPresent("no card in the reader: insert the card")
        return card

    def _refresh(self, card: PresentedCard) -> None:
        self._snapshot = card.to_json() if card.readable and self._card is card else None

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        event = StationEvent(kind, data)
        with self._subscribers_lock:
            subscribers = list(self._subscribers)
        for listener in subscribers:
            try:
                listener(event)
            except Exception:
                logger.exception("an event listener failed")

    def _device_api(self) -> ApiClient:
        if self._api.token is None and self.config.device and self.config.credential:
            self._api.device_sign_in(self.config.device, self.config.credential)
        return self._api

    def _default_caller_api(self, token: str) -> ApiClient:
        api = ApiClient(self.config.api_url, timeout=self.config.api_timeout)
        api.use_token(token)
        return api

    def _probe_api(self) -> bool:
        with ApiClient(self.config.api_url, timeout=_PROBE_TIMEOUT_S) as probe:
            try:
                probe.request("GET", "/healthz")
            except ApiProblem:
                self._api_ok = False
            else:
                self._api_ok = True
        return self._api_ok


def _api_error(problem: ApiProblem, what: str) -> StationError:
    """An API failure during a caller's operation: unavailable, or its refusal relayed."""
    if problem.status == 0 or problem.status >= 500:
        return ApiUnavailable(f"{what}: {problem.message}")
    return ApiRefused(problem.message, problem.status, problem.to_dict())


def _quietly_end(api: ApiClient, session_id: str) -> None:
    try:
        api.end_card_session(session_id)
    except ApiProblem as problem:
        logger.info("card session %s… not ended: %s", session_id[:8], problem.message)


def _error(reader: str, code: str, message: str) -> dict[str, Any]:
    return {"reader": reader, "code": code, "message": message}


def _card_code(exc: BaseException) -> str:
    """A short code for a card or reader failure."""
    from reader_driver.errors import CardRemoved, NoCard, ReaderTimeout  # noqa: PLC0415

    if isinstance(exc, NoCard | CardRemoved):
        return "card-removed"
    if isinstance(exc, ReaderTimeout):
        return "card-mute"
    if isinstance(exc, ReaderError):
        return "reader-error"
    if isinstance(exc, ApplicationBlocked):
        return "application-blocked"
    return "card-error"
