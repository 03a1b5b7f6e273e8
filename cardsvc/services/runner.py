"""How every item runs: one unit of work, one journal entry, idempotent writes.

An item function hands the runner a *body* (``Callable[[Call], R]``). The runner:

1. opens ONE unit of work (a writing one even for enquiries: the journal entry is
   a write; on SQLite a deferred read transaction could not take the write lock
   later);
2. checks the actor's role/channel for the item (:mod:`cardsvc.services.scope`);
3. runs the body inside a SAVEPOINT. The body resolves whom the item is for
   (:meth:`Call.person` / :meth:`Call.card`, which check scope), and a write body
   calls :meth:`Call.idempotent` with its canonical request before any effect;
4. for a write, stores the idempotency record with the result, in the savepoint;
5. appends the journal entry as the LAST step (the journal head lock is then held
   only until the commit right after), and commits.

A :class:`ServiceError` from the body rolls the savepoint back (no partial effect),
is journaled (``denied`` for role/channel/scope, ``refused`` otherwise) and
committed, then raised to the caller. An out-of-scope person is journaled as
``denied`` with the person's id (the journal is evidence) while the caller gets the
same :class:`NotFound` as for a person who does not exist.

Races (PostgreSQL: another transaction committed first): a unique-index violation
(``IntegrityError``) or a stale card version (``StaleDataError``) rolls the
savepoint back. If the other transaction was the same request (same key), its
stored result is returned; otherwise the body runs once more, now seeing the
committed state, so the caller gets the specific refusal (e.g. the duplicate
registration, or the illegal transition naming the card's new state). A second
race gives ``Conflict("… changed concurrently: retry")``.

A replay (same key, same request) returns the stored result and writes nothing,
not even a journal entry. Technical failures (the database is gone) propagate
and roll everything back: they cannot be journaled in that transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cardsvc.db.journal import append_entry
from cardsvc.db.models import Card, ItemCode, Outcome, Person
from cardsvc.idcheck import is_valid_card_number, is_valid_ssn, mask_ssn
from cardsvc.rules.card_lifecycle import EffectiveState, effective_state, on_hotlist
from cardsvc.rules.config import RulesConfig
from cardsvc.rules.errors import RuleInputError
from cardsvc.services import codec, idempotency
from cardsvc.services.actors import Actor, CardPresence, DeviceActor, OperatorActor, Subject
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ServiceError,
    ValidationFailed,
)
from cardsvc.services.person_records import (
    CardFacts,
    PersonFacts,
    PersonRecord,
    card_and_holder,
    person_by_ssn,
)
from cardsvc.services.scope import (
    NOT_FOUND_PERSON,
    SiteScope,
    ensure_item_allowed,
    person_in_scope,
    presence_card,
    presence_card_and_holder,
)

logger = logging.getLogger(__name__)

R = TypeVar("R")

MAX_REASON = 200
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")
_RACE_ERRORS = (IntegrityError, StaleDataError)


@cache
def _person_by_ssn() -> Select[Person]:
    """The person with the ID number ``:ssn`` (built once: every counter call runs it)."""
    return select(Person).where(Person.ssn == bindparam("ssn"))


class _Replay(Exception):  # noqa: N818 -- internal control flow, never leaves the runner
    def __init__(self, response: Any) -> None:
        super().__init__("replay")
        self.response = response


class Call:
    """The state of one item call: its session, clock, scope and journal fields."""

    def __init__(
        self,
        ctx: ServiceContext,
        actor: Actor,
        item: ItemCode,
        session: Session,
        key: str | None,
    ) -> None:
        self.ctx = ctx
        self.actor = actor
        self.item = item
        self.session = session
        self.now: datetime = ctx.now()
        self.today: date = self.now.astimezone(ctx.local_tz).date()
        self.scope = SiteScope(session, actor)
        self.key = key
        self.request_hash: str | None = None
        self.person_id: int | None = None
        self.card_number: str | None = None
        self.detail: dict[str, Any] = {}
        self.out_of_scope = False

    @property
    def config(self) -> RulesConfig:
        return self.ctx.config

    @property
    def is_kiosk(self) -> bool:
        return isinstance(self.actor, DeviceActor)

    @property
    def operator_id(self) -> int | None:
        return self.actor.operator_id if isinstance(self.actor, OperatorActor) else None

    @property
    def device_id(self) -> int | None:
        return self.actor.device_id if isinstance(self.actor, DeviceActor) else None

    def reset(self) -> None:
        """Forget what a rolled-back attempt found (before the body runs again)."""
        self.person_id = None
        self.card_number = None
        self.detail = {}
        self.out_of_scope = False

    # -- whom the item is for ----------------------------------------------------------

    def person(self, subject: Subject) -> Person:
        """The person `subject` names, if the actor may act on them (else NotFound)."""
        if isinstance(subject, CardPresence):
            return self._person_by_presence(subject)
        if isinstance(subject, str):
            return self._person_by_ssn(subject)
        raise ValidationFailed("subject", "give the person's SSN or a card presence")

    def person_record(self, subject: Subject) -> PersonRecord:
        """:meth:`person` for an item that only reads the person (the enquiries).

        The same checks and the same refusals, but the person's values come back as a
        :class:`PersonRecord` read on the driver's cursor, not as an ORM entity. A card
        presence that carries its card and holder (``CardPresence.read``: read with the
        card session in this request) costs no statement at all.
        """
        if isinstance(subject, CardPresence):
            self.card_number = subject.card_number[:9] or None
            self._check_kiosk_presence(subject)
            found = subject.read or card_and_holder(self.session.connection(), subject.card_number)
            if found is None or found[0].person_id != subject.person_id:
                raise NotFound("card")
            card, record = found
            self.person_id = card.person_id
            if self.is_kiosk:
                self._refuse_hotlisted(card)
            return record
        if isinstance(subject, str):
            self._check_ssn_caller(subject)
            known = self.ctx.known_persons
            by_ssn = (
                known[subject]
                if subject in known
                else person_by_ssn(self.session.connection(), subject)
            )
            if by_ssn is None:
                raise NotFound(NOT_FOUND_PERSON)
            self._check_scope(by_ssn)
            return by_ssn
        raise ValidationFailed("subject", "give the person's SSN or a card presence")

    def _person_by_presence(self, presence: CardPresence) -> Person:
        self.card_number = presence.card_number[:9] or None
        self._check_kiosk_presence(presence)
        card, person = presence_card_and_holder(self.session, presence)
        self.person_id = card.person_id
        if self.is_kiosk:
            self._refuse_hotlisted(card)
        return person

    def _person_by_ssn(self, ssn: str) -> Person:
        self._check_ssn_caller(ssn)
        person = self.session.execute(_person_by_ssn(), {"ssn": ssn}).scalar_one_or_none()
        if person is None:
            raise NotFound(NOT_FOUND_PERSON)
        self._check_scope(person)
        return person

    def _check_ssn_caller(self, ssn: str) -> None:
        """A person named by SSN: not for kiosks, and only a well-formed SSN."""
        if self.is_kiosk:
            raise PermissionDenied("a kiosk acts only for the card in it, after its PIN")
        if not is_valid_ssn(ssn):
            raise ValidationFailed(
                "ssn", "not a valid ID number (18 characters: 17 digits and a check character)"
            )

    def _check_scope(self, person: PersonFacts) -> None:
        """NotFound (as for no such person) unless the actor may act on `person`."""
        self.person_id = person.id
        if not person_in_scope(self.actor, person, self.scope, None):
            self.out_of_scope = True
            raise NotFound(NOT_FOUND_PERSON)

    def card(self, card_number: str, presence: CardPresence | None) -> tuple[Card, Person]:
        """The card `card_number` and its holder, if the actor may act on them."""
        if not isinstance(card_number, str) or not is_valid_card_number(card_number):
            raise ValidationFailed(
                "card_number", "not a valid card number (8 characters 0-9/A-Z and a check)"
            )
        self.card_number = card_number
        if self.is_kiosk:
            if presence is None or presence.card_number != card_number:
                raise PermissionDenied("a kiosk acts only for the card in it")
            self._check_kiosk_presence(presence)
        card = self.session.execute(
            select(Card).where(Card.card_number == card_number)
        ).scalar_one_or_none()
        if card is None:
            raise NotFound("card")
        self.person_id = card.person_id
        person = self.session.get(Person, card.person_id)
        if person is None:  # pragma: no cover - a foreign key guarantees it
            raise NotFound("card")
        if presence is not None and presence.person_id == person.id:
            presence_card(self.session, presence)  # the presence must be real
        if not person_in_scope(self.actor, person, self.scope, presence):
            self.out_of_scope = True
            raise NotFound("card")
        if self.is_kiosk:
            self._refuse_hotlisted(card)
        return card, person

    def lock_person(self, person: Person) -> None:
        """Lock the person's row until commit and reload it (PostgreSQL: SELECT … FOR UPDATE).

        Serialises writes for one person whose duplicates no unique index catches
        (enrolments, R05). SQLite needs nothing: its writers are serialised already.
        """
        self.session.refresh(person, with_for_update=True)

    def _check_kiosk_presence(self, presence: CardPresence) -> None:
        if self.is_kiosk and not presence.pin_verified:
            raise PermissionDenied("the card's PIN must be verified at the kiosk first")

    def effective_state(self, card: Card | CardFacts) -> EffectiveState:
        """The card's state now (a temporary loss may have lapsed)."""
        since = min(card.state_changed_at, self.now)  # a clock step back is not a state
        return effective_state(card.state, since, self.now, self.config)

    def _refuse_hotlisted(self, card: Card | CardFacts) -> None:
        state = self.effective_state(card).state
        if on_hotlist(state):
            raise PermissionDenied(f"the card is on the hotlist ({state.value}): serve nothing")

    # -- idempotency and journal detail -----------------------------------------------------

    def idempotent(self, request: Mapping[str, Any]) -> None:
        """Declare the write's canonical request; replays the stored result if the key has one.

        Call it after resolving whom the item is for and before any effect.
        """
        if self.key is None:
            raise TypeError(f"{self.item.value} is a read: it takes no idempotency key")
        digest = codec.canonical_hash({"item": self.item.value, **request})
        self.request_hash = digest
        stored = idempotency.lookup(
            self.session, idempotency.scope_for(self.actor, self.item), self.key, digest
        )
        if stored is not None:
            raise _Replay(stored)

    def note(self, **detail: Any) -> None:
        """Add small, secret-free values to the journal entry's detail."""
        self.detail.update({k: codec.to_jsonable(v) for k, v in detail.items()})

    # -- the journal entry --------------------------------------------------------------

    def journal(self, failure: ServiceError | None) -> None:
        if failure is None:
            outcome = Outcome.OK
            detail = self.detail
        else:
            outcome = outcome_of(failure, out_of_scope=self.out_of_scope)
            detail = {"error": type(failure).__name__, "reason": _safe_reason(failure)}
            if isinstance(failure, Conflict) and failure.current is not None:
                detail["current"] = failure.current
        append_entry(
            self.session,
            site_code=self.actor.site_code,
            item=self.item,
            outcome=outcome,
            operator_id=self.operator_id,
            device_id=self.device_id,
            card_number=self.card_number,
            person_id=self.person_id,
            detail=detail,
            at=self.now,
        )


def outcome_of(failure: ServiceError, *, out_of_scope: bool) -> Outcome:
    """How a refusal is journaled and counted."""
    if isinstance(failure, PermissionDenied):
        return Outcome.DENIED
    if isinstance(failure, NotFound) and out_of_scope:
        return Outcome.DENIED
    return Outcome.REFUSED


def _safe_reason(failure: ServiceError) -> str:
    text = _ID_NUMBER.sub(lambda m: mask_ssn(m.group(0)), str(failure))
    return text[:MAX_REASON]


def run_read(
    ctx: ServiceContext,
    actor: Actor,
    item: ItemCode,
    body: Callable[[Call], R],
    *,
    allowed: Callable[[Actor], None] | None = None,
) -> R:
    """Run an enquiry: reads, then one journal entry; no idempotency key.

    An enquiry writes nothing but its journal entry, and that is one statement on
    PostgreSQL (cardsvc.db.journal), so it runs in autocommit there
    (:meth:`~cardsvc.db.Database.single_statements`): READ COMMITTED gives every
    statement its own snapshot inside a transaction too, so the reads see the same,
    and BEGIN and COMMIT cost no round trips. The entry is durable when its statement
    returns, before the answer leaves. SQLite: one writing unit of work, as for writes.
    """
    with ctx.database.single_statements(writes=True) as session:
        call = Call(ctx, actor, item, session, key=None)
        failure: ServiceError | None = None
        results: list[R] = []
        try:
            (allowed or _item_allowed(item))(actor)
            results.append(body(call))
        except RuleInputError as exc:
            failure = ValidationFailed(exc.field, exc.problem)
        except ServiceError as exc:
            failure = exc
        call.journal(failure)
    if failure is not None:
        raise failure
    return results[0]


def run_write(
    ctx: ServiceContext,
    actor: Actor,
    item: ItemCode,
    body: Callable[[Call], R],
    *,
    key: str,
    result_type: type[R],
    allowed: Callable[[Actor], None] | None = None,
) -> R:
    """Run a write item: one unit of work, one journal entry, idempotent on `key`."""
    with ctx.database.unit_of_work() as uow:
        session = uow.session
        call = Call(ctx, actor, item, session, key=key)
        failure: ServiceError | None = None
        results: list[R] = []
        try:
            (allowed or _item_allowed(item))(actor)
            idempotency.check_key(key)
            results.append(_attempt(call, result_type, body, retry_race=True))
        except _Replay as replay:
            return codec.decode(result_type, replay.response)
        except RuleInputError as exc:
            failure = ValidationFailed(exc.field, exc.problem)
        except ServiceError as exc:
            failure = exc
        call.journal(failure)
    if failure is not None:
        raise failure
    return results[0]


def _attempt(call: Call, result_type: type[R], body: Callable[[Call], R], *, retry_race: bool) -> R:
    session = call.session
    try:
        with session.begin_nested():
            result = body(call)
            if call.request_hash is None or call.key is None:
                raise TypeError(f"{call.item.value}: the body never called Call.idempotent")
            idempotency.store(
                session,
                idempotency.scope_for(call.actor, call.item),
                call.key,
                call.request_hash,
                codec.to_jsonable(result),
                at=call.now,
            )
            session.flush()
        return result
    except _RACE_ERRORS as exc:
        logger.info("%s: lost a race (%s)", call.item.value, type(exc).__name__)
        session.expire_all()
        if call.request_hash is not None and call.key is not None:
            stored = idempotency.lookup(
                session,
                idempotency.scope_for(call.actor, call.item),
                call.key,
                call.request_hash,
            )
            if stored is not None:
                raise _Replay(stored) from None
        if not retry_race:
            raise Conflict(f"{call.item.value}: the records changed concurrently: retry") from None
        call.reset()
        call.request_hash = None
        return _attempt(call, result_type, body, retry_race=False)


def _item_allowed(item: ItemCode) -> Callable[[Actor], None]:
    def check(actor: Actor) -> None:
        ensure_item_allowed(actor, item)

    return check
