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

from sqlalchemy import select
from sqlalchemy.orm import Session

from cardsvc.db.models import Card, Channel, ItemCode, Person, Role, Site
from cardsvc.services.actors import Actor, CardPresence, DeviceActor, OperatorActor
from cardsvc.services.errors import NotFound, PermissionDenied

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


class SiteScope:
    """The sites an actor sees, computed at most once per call."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self._session = session
        self._actor = actor
        self._codes: frozenset[str] | None = None

    @property
    def codes(self) -> frozenset[str]:
        if self._codes is None:
            self._codes = site_subtree(self._session, self._actor.site_code)
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


def person_in_scope(
    actor: Actor, person: Person, scope: SiteScope, presence: CardPresence | None
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
