"""Who may do which item, and for whom (shared/domain.md section 5).

Items and roles (an operator may hold several roles):

* **clerk** — every business item except C08;
* **supervisor** — the enquiries (E01-E05, B01, B03, B04), C08 card cancellation,
  the daily ledgers and the site reports;
* **reviewer** — approves or rejects R05 name/ID-number changes (never their own);
* **administrator** — no business items.

Channels: items at a counter are done by an operator. A kiosk (a device of kind
kiosk) acts only for the card in it, after the card authenticated and its PIN was
verified (a :class:`CardPresence` with ``pin_verified``), only for the items the
domain table marks "kiosk" (R05: phone only), and never for a hotlisted card. A
counter *device* does no business on its own.

Whom for: an operator acts on persons whose residence site is the operator's site
or a site below it (the subtree, via parent links), or on the person of a card
presented in their reader (a CardPresence for that person). Everything else is
:class:`NotFound`, exactly as for a person who does not exist.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

from sqlalchemy import Connection, Select, bindparam, event, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from cardsvc.db.models import Card, Channel, ItemCode, Person, Role, Site
from cardsvc.services.actors import Actor, CardPresence, DeviceActor, OperatorActor
from cardsvc.services.errors import NotFound, PermissionDenied
from cardsvc.services.person_records import PersonFacts

I = ItemCode  # noqa: E741 -- short alias for the tables below

READ_ITEMS: frozenset[ItemCode] = frozenset(
    {I.E01, I.E02, I.E03, I.E04, I.E05, I.B01, I.B03, I.B04}
)
"""Enquiries: journaled, but they change nothing and take no idempotency key."""

KIOSK_ITEMS: frozenset[ItemCode] = frozenset(
    {I.E01, I.E02, I.E03, I.E04, I.E05, I.R02, I.R05, I.B01, I.B02, I.B03, I.B04, I.C05, I.C07}
)
"""Items marked "kiosk (card + PIN)" in the domain table."""

SUPERVISOR_ITEMS: frozenset[ItemCode] = READ_ITEMS | {I.C08}
CLERK_ITEMS: frozenset[ItemCode] = frozenset(ItemCode) - {I.C08}

NOT_FOUND_PERSON = "person"


def ensure_item_allowed(actor: Actor, item: ItemCode) -> None:
    """Raise PermissionDenied unless the actor's role or channel may do `item`."""
    if isinstance(actor, DeviceActor):
        if actor.channel is not Channel.KIOSK:
            raise PermissionDenied(
                "a counter terminal does no business on its own: an operator must log in"
            )
        if item not in KIOSK_ITEMS:
            raise PermissionDenied(f"{item.value} is not available at a kiosk: go to a counter")
        return
    if item in CLERK_ITEMS and actor.has(Role.CLERK):
        return
    if item in SUPERVISOR_ITEMS and actor.has(Role.SUPERVISOR):
        return
    if item is ItemCode.C08:
        raise PermissionDenied("C08 card cancellation needs the supervisor role")
    raise PermissionDenied(f"{item.value} needs the clerk role")


def ensure_role(actor: Actor, role: Role, what: str) -> OperatorActor:
    """The actor as an operator holding `role`, else PermissionDenied."""
    if not isinstance(actor, OperatorActor) or not actor.has(role):
        raise PermissionDenied(f"{what} needs an operator with the {role.value} role")
    return actor


def site_subtree(session: Session, root_code: str) -> frozenset[str]:
    """`root_code` and every site below it (a recursive CTE; works on both engines).

    Empty when `root_code` is not a site.
    """
    sites = Site.__table__
    tree = select(sites.c.code).where(sites.c.code == root_code).cte("subtree", recursive=True)
    tree = tree.union_all(select(sites.c.code).where(sites.c.parent_code == tree.c.code))
    return frozenset(session.execute(select(tree.c.code)).scalars())


SUBTREE_TTL_S = 30.0
"""How long a process reuses a site subtree it computed (sites change rarely)."""


class SubtreeCache:
    """Site subtrees per database and root site, reused for `ttl_s` seconds.

    Sites change rarely, and every scoped call needs the caller's subtree, so each
    process keeps the subtrees it computed. A commit that added, changed or
    deleted a :class:`Site` through the ORM in this process clears the cache at
    once (and so does a rollback of such a change); changes made elsewhere (another
    process, bulk loads) are seen after at most `ttl_s` seconds. `clear()` drops
    everything (e.g. after a bulk load in this process).
    """

    def __init__(self, ttl_s: float = SUBTREE_TTL_S, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: WeakKeyDictionary[Pool, dict[str, tuple[float, frozenset[str]]]] = (
            WeakKeyDictionary()
        )
        self._generation = 0
        self._listening = False

    def subtree(self, session: Session, root_code: str) -> frozenset[str]:
        """`site_subtree(session, root_code)`, from the cache while it is fresh."""
        self._listen()
        bind = session.get_bind()
        # The pool identifies the database: an engine's execution_options() copies (the
        # read-only session factory's bind) share it.
        pool = (bind.engine if isinstance(bind, Connection) else bind).pool
        if _changes_sites(session):  # this transaction changed sites: neither read nor cache
            return site_subtree(session, root_code)
        now = self._clock()
        with self._lock:
            cached = self._entries.get(pool, {}).get(root_code)
            generation = self._generation
        if cached is not None and cached[0] > now:
            return cached[1]
        codes = site_subtree(session, root_code)
        with self._lock:
            if generation == self._generation:
                self._entries.setdefault(pool, {})[root_code] = (now + self.ttl_s, codes)
        return codes

    def clear(self) -> None:
        """Forget every subtree (the next calls compute them again)."""
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def _listen(self) -> None:
        with self._lock:
            if not self._listening:
                _watch_site_changes(self)
                self._listening = True


_SITES_CHANGED = "cardsvc_sites_changed"
_CACHES: WeakSet[SubtreeCache] = WeakSet()
_WATCHING = threading.Lock()


def _watch_site_changes(cache: SubtreeCache) -> None:
    """Clear `cache` (and every other watched cache) when a session commits or rolls
    back site changes. One set of Session listeners serves every cache."""
    with _WATCHING:
        if not event.contains(Session, "before_flush", _note_site_changes):
            event.listen(Session, "before_flush", _note_site_changes)
            event.listen(Session, "after_commit", _sites_settled)
            event.listen(Session, "after_soft_rollback", _sites_rolled_back)
        _CACHES.add(cache)


def _sites_settled(session: Session) -> None:
    if session.info.pop(_SITES_CHANGED, False):
        for cache in list(_CACHES):
            cache.clear()


def _sites_rolled_back(session: Session, _previous: Any) -> None:
    _sites_settled(session)


def _note_site_changes(session: Session, _context: Any, _instances: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, Site) for obj in changed):
        session.info[_SITES_CHANGED] = True


def _changes_sites(session: Session) -> bool:
    if session.info.get(_SITES_CHANGED, False):
        return True
    return any(isinstance(obj, Site) for obj in (*session.new, *session.dirty, *session.deleted))


SUBTREES = SubtreeCache()
"""The process's subtree cache (SiteScope uses it)."""


class SiteScope:
    """The sites an actor sees, computed at most once per call (and cached per process)."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self._session = session
        self._actor = actor
        self._codes: frozenset[str] | None = None

    @property
    def codes(self) -> frozenset[str]:
        if self._codes is None:
            self._codes = SUBTREES.subtree(self._session, self._actor.site_code)
        return self._codes

    def __contains__(self, site_code: object) -> bool:
        return isinstance(site_code, str) and site_code in self.codes


def presence_card(session: Session, presence: CardPresence) -> Card:
    """The presented card; NotFound unless it exists and belongs to the presence's person."""
    card = session.execute(
        select(Card).where(Card.card_number == presence.card_number)
    ).scalar_one_or_none()
    if card is None or card.person_id != presence.person_id:
        raise NotFound("card")
    return card


def presence_card_and_holder(session: Session, presence: CardPresence) -> tuple[Card, Person]:
    """:func:`presence_card` and its holder, in one statement."""
    row = session.execute(_card_and_holder(), {"card_number": presence.card_number}).one_or_none()
    if row is None or row[0].person_id != presence.person_id:
        raise NotFound("card")
    return row[0], row[1]


@cache
def _card_and_holder() -> Select[Card, Person]:
    """The card ``:card_number`` and its holder (built once: every kiosk enquiry runs it)."""
    return (
        select(Card, Person)
        .join(Person, Person.id == Card.person_id)
        .where(Card.card_number == bindparam("card_number"))
    )


def person_in_scope(
    actor: Actor, person: PersonFacts, scope: SiteScope, presence: CardPresence | None
) -> bool:
    """Whether `actor` may act on `person` (see the module doc)."""
    if presence is not None and presence.person_id == person.id:
        if isinstance(actor, DeviceActor):
            return presence.pin_verified
        return True
    if isinstance(actor, DeviceActor):
        return False
    return person.residence_site_code in scope


def ensure_person_in_scope(
    actor: Actor, person: Person, scope: SiteScope, presence: CardPresence | None
) -> None:
    """NotFound (the same as for a missing person) unless `actor` may act on `person`."""
    if not person_in_scope(actor, person, scope, presence):
        raise NotFound(NOT_FOUND_PERSON)
