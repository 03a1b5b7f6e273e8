"""The transaction journal: append-only, hash-chained in lanes, verifiable.

Entries live in a few hash chains ("lanes", one ``journal_head`` row each) so that
appends in different transactions do not wait for each other. Every entry carries

- ``id``: the global sequence number (PostgreSQL: the sequence
  ``journal_entries_id_seq``, taken while the lane is locked, so ids increase along
  every lane; SQLite: the highest id + 1 under its single writer lock);
- ``lane`` and ``lane_seq`` (1, 2, 3, … without gaps within the lane);
- ``prev_hash``: the hash of the previous entry of the same lane (the first entry
  of a lane links to `GENESIS_HASH`, 64 zeros);
- ``event``: ``item`` (a business item call) or ``card_authentication`` (a card
  refused by its internal authentication; journaled with the item it was for).

Its hash commits to all of them::

    hash = SHA-256( canonical_bytes(entry fields, lane, lane_seq, event, prev_hash) )

`canonical_bytes` is UTF-8 JSON with sorted keys and no whitespace (see the
function for the exact fields and formats). Format ``"v": 2`` covers lane,
lane_seq and event; entries written before migration 0005 keep format 1 (one
chain: lane 1, lane_seq = id) and are verified as such.

Appending (`append_entry`) locks one lane's head row: on PostgreSQL the first
free one (``SELECT … FOR UPDATE SKIP LOCKED``; when every lane is busy it opens
the lanes up to `MAX_LANES`, committed at once, else waits for one); on SQLite lane 1 (the
transaction already holds the write lock, ``BEGIN IMMEDIATE``, see
cardsvc.db.engine). The lock is held until the caller's transaction ends, so
journal as the last step before committing; other transactions meanwhile append
to other lanes.

Database guards (migrations 0002 and 0005): on both engines, triggers refuse
UPDATE and DELETE of journal rows, an insert that does not continue its lane's
head (lane_seq = head + 1, prev_hash = head hash, id above the lane's last id),
a head that does not advance by exactly one onto an existing entry of its lane,
and a new head row that is not empty. On PostgreSQL the insert itself advances
the head (an AFTER INSERT trigger), TRUNCATE is refused, and
UPDATE/DELETE/TRUNCATE are revoked from PUBLIC. Run the service under a role
that does NOT own the tables (grant it SELECT, INSERT on journal_entries,
SELECT, INSERT, UPDATE on journal_head and USAGE on journal_entries_id_seq):
the owner could ``ALTER TABLE … DISABLE TRIGGER``.

What remains possible, and what `verify_journal` then finds: a superuser (or
the table owner, or anyone with the SQLite file) can disable the triggers and
edit or delete rows. An edited entry no longer matches its hash (EDITED); an
entry whose hash was recomputed no longer matches the next entry's prev_hash in
its lane (BROKEN_LINK) or its lane's head (EDITED); a deleted entry leaves a gap
in its lane's sequence or a head pointing past the lane's end (DELETED); a row
beyond its lane's head, or in a lane without a head, is INSERTED. Global ids are
unique (primary key), hashed, and must increase along each lane; unused global
ids are counted and reported (a rolled-back append on PostgreSQL leaves one) but
are not by themselves tampering, because every entry is accounted for by its
lane. The one undetectable change is rewriting a lane from some entry to its end
*and* its head: anchor the heads outside the database (``cardsvc journal
verify`` prints an anchor digest over every lane's head; print it on the daily
ledger, or keep it in another system) to catch that too.

Details are small JSON objects and must not carry secrets: keys naming a PIN,
key, password, secret or SSN/ID number are refused, and so is any string that
contains a full 18-character ID number (mask it first). Floats are refused
(money is in fen; floats do not encode canonically).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    column,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from cardsvc.db.driver_statements import DriverStatement
from cardsvc.db.engine import in_autocommit
from cardsvc.db.errors import JournalError
from cardsvc.db.models import ItemCode, JournalEntry, JournalHead, Outcome, utc_now
from cardsvc.db.models.records import JournalEvent

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HASH_FORMAT_VERSION = 2
LEGACY_FORMAT_VERSION = 1
FIRST_LANE = 1
MAX_LANES = 16
"""PostgreSQL opens lanes as appends find every lane busy, up to this many."""
SEQUENCE = "journal_entries_id_seq"
MAX_DETAIL_BYTES = 2048

_FORBIDDEN_KEY_WORDS = frozenset(
    {"pin", "pins", "key", "keys", "password", "passwd", "secret", "ssn", "idnumber", "idno"}
)
_FULL_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_KEY_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class EntryFields:
    """Everything the hash of an entry covers."""

    id: int
    at: datetime
    site_code: str
    operator_id: int | None
    device_id: int | None
    card_number: str | None
    person_id: int | None
    item: ItemCode
    outcome: Outcome
    detail: Mapping[str, Any]
    prev_hash: str
    lane: int = FIRST_LANE
    lane_seq: int = 0
    """The position in the lane (format 1: not hashed, the id is the position)."""
    event: JournalEvent = JournalEvent.ITEM
    version: int = HASH_FORMAT_VERSION


def canonical_bytes(fields: EntryFields) -> bytes:
    """The exact bytes that are hashed: sorted-key JSON, UTF-8, no whitespace.

    ``at`` is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; absent values are null.
    Format 2 adds ``lane``, ``seq`` (lane_seq) and ``event`` to format 1's keys.
    """
    return _canonical_text(_payload(fields)).encode("utf-8")


def _payload(fields: EntryFields) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "v": fields.version,
        "id": fields.id,
        "at": _format_time(fields.at),
        "site": fields.site_code,
        "operator": fields.operator_id,
        "device": fields.device_id,
        "card": fields.card_number,
        "person": fields.person_id,
        "item": ItemCode(fields.item).value,
        "outcome": Outcome(fields.outcome).value,
        "detail": fields.detail,
        "prev": fields.prev_hash,
    }
    if fields.version == HASH_FORMAT_VERSION:
        payload["lane"] = fields.lane
        payload["seq"] = fields.lane_seq
        payload["event"] = JournalEvent(fields.event).value
    elif fields.version != LEGACY_FORMAT_VERSION:
        raise JournalError(f"journal hash format {fields.version} is unknown")
    return payload


def _canonical_text(payload: Mapping[str, Any]) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(fields: EntryFields) -> str:
    """Lower-case hex SHA-256 of `canonical_bytes(fields)`."""
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def _format_time(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise JournalError(f"journal time must be timezone-aware, got {at.isoformat()}")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a detail object; return a plain-dict copy. Raises JournalError naming the key."""
    if not isinstance(detail, Mapping):
        raise JournalError(f"journal detail must be an object, got {type(detail).__name__}")
    copied = _check_mapping(detail, "detail")
    size = len(json.dumps(copied, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_DETAIL_BYTES:
        raise JournalError(f"journal detail is {size} bytes; at most {MAX_DETAIL_BYTES} allowed")
    return copied


def _check_mapping(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise JournalError(f"journal {path} has a non-text key {key!r}")
        words = set(_KEY_WORD_SPLIT.split(key.lower()))
        joined = _KEY_WORD_SPLIT.sub("", key.lower())
        if words & _FORBIDDEN_KEY_WORDS or joined in _FORBIDDEN_KEY_WORDS:
            raise JournalError(
                f"journal {path}.{key} refused: a journal never stores a PIN, key, "
                "password or ID number"
            )
        result[key] = _check_value(item, f"{path}.{key}")
    return result


def _check_value(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if _FULL_ID_NUMBER.search(value):
            raise JournalError(f"journal {path} holds a full ID number: mask it first")
        return value
    if isinstance(value, float):
        raise JournalError(f"journal {path} is a float: use integers (fen) or strings")
    if isinstance(value, Mapping):
        return _check_mapping(value, path)
    if isinstance(value, list | tuple):
        return [_check_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise JournalError(f"journal {path} has a value of type {type(value).__name__}")


@dataclass(frozen=True)
class _Lane:
    lane: int
    last_seq: int
    last_id: int
    last_hash: str
    next_id: int


def append_entry(
    session: Session,
    *,
    site_code: str,
    item: ItemCode | str,
    outcome: Outcome | str,
    operator_id: int | None = None,
    device_id: int | None = None,
    card_number: str | None = None,
    person_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    event: JournalEvent | str = JournalEvent.ITEM,
) -> JournalEntry:
    """Append one entry in `session`'s transaction and advance its lane's head.

    The entry is written (it has its id and hash) but committed only with the
    caller's transaction; the returned object is not attached to the session.
    `at` defaults to the server clock (UTC).
    """
    if not site_code or len(site_code) > 12:
        raise JournalError(f"journal site_code must be 1-12 characters, got {site_code!r}")
    if card_number is not None and len(card_number) > 9:
        raise JournalError(f"journal card_number must be at most 9 characters: {card_number!r}")
    if operator_id is not None and device_id is not None:
        raise JournalError("a journal entry names an operator or a device, not both")
    try:
        item_code = ItemCode(item)
    except ValueError:
        raise JournalError(f"journal item {item!r} is not a business item code") from None
    try:
        outcome_code = Outcome(outcome)
    except ValueError:
        raise JournalError(f"journal outcome {outcome!r} is not an outcome") from None
    try:
        event_code = JournalEvent(event)
    except ValueError:
        raise JournalError(f"journal event {event!r} is not a journal event") from None
    clean_detail = check_detail(detail if detail is not None else {})
    when = (at if at is not None else utc_now()).astimezone(UTC)

    # The entry before a lane is taken: the lane gives its id, position and previous hash.
    unplaced = EntryFields(
        id=0,
        at=when,
        site_code=site_code,
        operator_id=operator_id,
        device_id=device_id,
        card_number=card_number,
        person_id=person_id,
        item=item_code,
        outcome=outcome_code,
        detail=clean_detail,
        prev_hash=GENESIS_HASH,
        event=event_code,
    )
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        entry = _append_in_one_statement(session, unplaced)
        if entry is not None:
            return entry
        if in_autocommit(session.connection()):
            # Every lane is busy: taking one locks its head row until the entry is in,
            # which needs a transaction; an autocommit session has none to lend.
            bind = session.get_bind()
            own = Session(bind=bind.execution_options(isolation_level=_TRANSACTIONAL))
            with own, own.begin():
                if in_autocommit(own.connection()):  # never take a lane without its lock
                    raise JournalError(
                        "every journal lane is busy and this session cannot open a "
                        "transaction to wait for one: append in a unit of work"
                    )
                return append_entry(
                    own, site_code=site_code, item=item_code, outcome=outcome_code,
                    operator_id=operator_id, device_id=device_id, card_number=card_number,
                    person_id=person_id, detail=clean_detail, at=when, event=event_code,
                )  # fmt: skip
    lane = _take_lane_postgresql(session) if postgresql else _take_lane_single(session)
    fields = replace(
        unplaced,
        id=lane.next_id,
        prev_hash=lane.last_hash,
        lane=lane.lane,
        lane_seq=lane.last_seq + 1,
    )
    digest = entry_hash(fields)
    values: dict[str, Any] = {
        **_columns_of(fields),
        "id": fields.id,
        "prev_hash": fields.prev_hash,
        "hash": digest,
        "lane": fields.lane,
        "lane_seq": fields.lane_seq,
    }
    session.execute(insert(_ENTRIES), values)  # Core: one row, no ORM bulk-insert path
    if not postgresql:  # PostgreSQL: the insert's trigger advances the head itself
        session.execute(
            update(JournalHead)
            .where(JournalHead.id == lane.lane)
            .values(last_seq=fields.lane_seq, last_id=fields.id, last_hash=digest)
            .execution_options(synchronize_session=False)
        )
    logger.debug(
        "journal entry %d (lane %d #%d): %s %s",
        fields.id,
        fields.lane,
        fields.lane_seq,
        item_code.value,
        outcome_code.value,
    )
    return JournalEntry(**values)


_ENTRIES = cast(Table, JournalEntry.__table__)
_TRANSACTIONAL = "READ COMMITTED"
"""PostgreSQL's default isolation level: what an append out of autocommit runs in."""

# The one-statement append (PostgreSQL). The canonical JSON of an entry is rendered here
# with these stand-ins for the four values only the locked lane knows; the database
# fills them in, hashes the text and inserts the row, in one statement.
_STAND_INS = {
    "id": "\x00id\x00",
    "lane": "\x00lane\x00",
    "prev": "\x00prev\x00",
    "seq": "\x00seq\x00",
}
_LANE_KNOWN = ("id", "lane", "prev", "seq")
"""Their order in the sorted-key JSON."""


def _hash_fragments(fields: EntryFields) -> list[str] | None:
    """The canonical text of `fields` around the lane's four values (5 fragments).

    ``prev`` is a JSON string: its quotes stay in the fragments. None when a stand-in
    does not occur exactly once (it could only if the detail held one), so the caller
    appends in two statements instead.
    """
    payload = _payload(fields)
    for key, stand_in in _STAND_INS.items():
        payload[key] = stand_in
    text_ = _canonical_text(payload)
    tokens = [json.dumps(_STAND_INS[key]) for key in _LANE_KNOWN]
    tokens[2] = tokens[2][1:-1]  # prev: the hash goes between the quotes
    fragments: list[str] = []
    rest = text_
    for token in tokens:
        if text_.count(token) != 1:
            return None
        before, _, rest = rest.partition(token)
        fragments.append(before)
    fragments.append(rest)
    return fragments


@cache
def _one_statement_append() -> DriverStatement:
    """INSERT … SELECT from the first free lane (SKIP LOCKED), hashed by the database.

    ``sha256(convert_to(text, 'UTF8'))`` over the fragments joined with the lane's
    values is the same SHA-256 over the same UTF-8 bytes as `entry_hash`; the caller
    still recomputes it from what RETURNING gives back, and refuses a difference.
    """
    lane = (
        text(
            "SELECT id AS lane, last_seq + 1 AS lane_seq, last_hash AS prev_hash, "
            "nextval('journal_entries_id_seq') AS next_id FROM ("
            "SELECT id, last_seq, last_hash FROM journal_head ORDER BY id "
            "FOR UPDATE SKIP LOCKED LIMIT 1) AS free_lane"
        )
        .columns(
            column("lane", SmallInteger),
            column("lane_seq", BigInteger),
            column("prev_hash", String),
            column("next_id", BigInteger),
        )
        .cte("lane")
    )
    c = _ENTRIES.c

    def typed(name: str) -> Any:
        kind = c[name].type
        return sql_cast(bindparam(name, type_=kind), kind)

    def fragment(i: int) -> Any:
        return sql_cast(bindparam(f"f{i}", type_=Text), Text)

    canonical = (
        fragment(0)
        .concat(sql_cast(lane.c.next_id, Text))
        .concat(fragment(1))
        .concat(sql_cast(lane.c.lane, Text))
        .concat(fragment(2))
        .concat(lane.c.prev_hash)
        .concat(fragment(3))
        .concat(sql_cast(lane.c.lane_seq, Text))
        .concat(fragment(4))
    )
    digest = func.encode(func.sha256(func.convert_to(canonical, "UTF8")), "hex")
    names = ["site_code", "operator_id", "device_id", "card_number", "person_id"]
    rows = select(
        lane.c.next_id,
        typed("at"),
        *(typed(name) for name in names),
        typed("item"),
        typed("outcome"),
        typed("detail"),
        lane.c.prev_hash,
        digest,
        lane.c.lane,
        lane.c.lane_seq,
        typed("event"),
        typed("version"),
    ).select_from(lane)
    return DriverStatement(
        insert(_ENTRIES)
        .from_select(
            [
                "id",
                "at",
                *names,
                "item",
                "outcome",
                "detail",
                "prev_hash",
                "hash",
                "lane",
                "lane_seq",
                "event",
                "version",
            ],
            rows,
        )
        .returning(c.id, c.lane, c.lane_seq, c.prev_hash, c.hash)
    )


def _columns_of(fields: EntryFields) -> dict[str, Any]:
    """The entry's columns that do not depend on where it goes in its lane."""
    return {
        "at": fields.at,
        "site_code": fields.site_code,
        "operator_id": fields.operator_id,
        "device_id": fields.device_id,
        "card_number": fields.card_number,
        "person_id": fields.person_id,
        "item": fields.item,
        "outcome": fields.outcome,
        "detail": fields.detail,
        "event": fields.event,
        "version": HASH_FORMAT_VERSION,
    }


def _append_in_one_statement(session: Session, fields: EntryFields) -> JournalEntry | None:
    """PostgreSQL: lock a free lane, number, hash and insert the entry in ONE statement.

    None when every lane is busy (or the detail holds a stand-in): the caller then
    takes a lane as before (opening lanes, or waiting) and inserts in a second statement.
    """
    fragments = _hash_fragments(fields)
    if fragments is None:
        return None
    params: dict[str, Any] = {f"f{i}": fragment for i, fragment in enumerate(fragments)}
    params.update(_columns_of(fields))
    # On the driver's cursor: SQLAlchemy's execute costs more Python than the statement.
    row = _one_statement_append().one_or_none(session.connection(), params)
    if row is None:
        return None
    entry_id, lane, lane_seq, prev_hash, digest = row
    # The canonical text with the lane's values in place (== canonical_bytes of the placed
    # entry, see _hash_fragments), hashed here too: the database must have hashed the same.
    f0, f1, f2, f3, f4 = fragments
    canonical = f"{f0}{entry_id}{f1}{lane}{f2}{prev_hash}{f3}{lane_seq}{f4}"
    if hashlib.sha256(canonical.encode("utf-8")).hexdigest() != digest:
        raise JournalError(
            f"journal entry {entry_id}: the database computed another hash than the "
            "canonical one (check the database encoding)"
        )
    logger.debug(
        "journal entry %d (lane %d #%d): %s %s",
        entry_id,
        lane,
        lane_seq,
        ItemCode(fields.item).value,
        Outcome(fields.outcome).value,
    )
    return JournalEntry(
        **_columns_of(fields),
        id=entry_id,
        prev_hash=prev_hash,
        hash=digest,
        lane=lane,
        lane_seq=lane_seq,
    )


_SQL_LANE_SINGLE = (
    "SELECT id, last_seq, last_id, last_hash, (SELECT max(last_id) FROM journal_head) "
    "FROM journal_head WHERE id = :lane"
)
_SQL_FREE_LANE = (
    "SELECT id, last_seq, last_id, last_hash, nextval('journal_entries_id_seq') FROM ("
    "SELECT id, last_seq, last_id, last_hash FROM journal_head ORDER BY id "
    "FOR UPDATE SKIP LOCKED LIMIT 1) AS free_lane"
)
_SQL_WAIT_LANE = (
    "SELECT id, last_seq, last_id, last_hash, nextval('journal_entries_id_seq') "
    "FROM journal_head WHERE id = :lane FOR UPDATE"
)
_OPENERS_LOCK = 0x6A6F75726E616C  # "journal": the advisory lock openers of lanes take
_SQL_OPEN_LANES = (
    "INSERT INTO journal_head (id, last_seq, last_id, last_hash) "
    "SELECT lane, 0, 0, :genesis FROM generate_series(1, :lanes) AS lane "
    "WHERE NOT EXISTS (SELECT 1 FROM journal_head WHERE id = lane) "
    "ON CONFLICT (id) DO NOTHING"
)


def _take_lane_single(session: Session) -> _Lane:
    """SQLite: lane 1; the transaction holds the database's write lock already."""
    row = session.execute(
        text(_SQL_LANE_SINGLE),
        {"lane": FIRST_LANE},
    ).one_or_none()
    if row is None:
        raise JournalError("the journal head row is missing: run `cardsvc db upgrade`")
    return _Lane(int(row[0]), int(row[1]), int(row[2]), str(row[3]), int(row[4]) + 1)


def _take_lane_postgresql(session: Session) -> _Lane:
    """PostgreSQL: lock the first free lane; open the other lanes; or wait for a busy one."""
    row = session.execute(text(_SQL_FREE_LANE)).one_or_none()
    if row is None:
        _open_lanes(session)
        row = session.execute(text(_SQL_FREE_LANE)).one_or_none()
    if row is None:  # every lane is busy: queue behind one of them
        lanes = session.execute(select(func.max(JournalHead.id))).scalar_one_or_none()
        if lanes is None:
            raise JournalError("the journal head rows are missing: run `cardsvc db upgrade`")
        chosen = random.randint(FIRST_LANE, int(lanes))  # noqa: S311 - spreading, not secrecy
        row = session.execute(text(_SQL_WAIT_LANE), {"lane": chosen}).one()
    return _Lane(int(row[0]), int(row[1]), int(row[2]), str(row[3]), int(row[4]))


def _open_lanes(session: Session) -> None:
    """Create the missing lanes up to MAX_LANES, empty, in a transaction of their own.

    Committed at once (not with the caller's transaction) so that other appenders
    see and can lock them while the caller still holds its work open. Openers take
    an advisory lock in turn and insert only the missing lanes (NOT EXISTS): an ON
    CONFLICT check against a lane whose head another transaction is advancing would
    wait for that transaction to end.
    """
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    with engine.connect() as conn:
        # Openers take turns: the INSERT's snapshot is then taken after any other
        # opener committed, so it never meets a lane that is already there (whose head
        # row an appender may be advancing: a conflict check on it would wait for that).
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OPENERS_LOCK})
        conn.execute(text(_SQL_OPEN_LANES), {"lanes": MAX_LANES, "genesis": GENESIS_HASH})
        conn.commit()
    logger.info("journal: every lane was busy; lanes opened up to %d", MAX_LANES)


class Problem(StrEnum):
    EDITED = "edited"  # an entry's content does not match its hash (or its lane head's hash)
    DELETED = "deleted"  # a lane position is missing, or a head points past its lane's end
    INSERTED = "inserted"  # a row that is not part of a chain (beyond its head, no head)
    BROKEN_LINK = "broken_link"  # prev_hash differs from the previous lane entry's hash
    NO_HEAD = "no_head"  # the chain-head rows are gone


@dataclass(frozen=True)
class LaneHead:
    """One lane's head row as verify read it."""

    lane: int
    last_seq: int
    last_id: int
    last_hash: str


def anchor_of(heads: tuple[LaneHead, ...]) -> str:
    """Hex SHA-256 over every lane head ("lane seq id hash" lines): the value to keep
    outside the database."""
    lines = "".join(f"{h.lane} {h.last_seq} {h.last_id} {h.last_hash}\n" for h in heads)
    return hashlib.sha256(lines.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class VerifyReport:
    """The result of walking every lane: OK with a count, or the first problem found.

    `head_id` is the highest global id any lane head names; `head_hash` is the
    anchor (`anchor_of` the lane heads). For a problem, `entry_id` is the global id
    of the entry found wrong, or None when the entry is missing (then `lane` and
    `lane_seq` say where).
    """

    checked: int
    head_id: int
    head_hash: str
    problem: Problem | None = None
    entry_id: int | None = None
    message: str = ""
    lanes: int = 0
    unused_ids: int = 0
    lane: int | None = None
    lane_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            unused = (
                f"; {self.unused_ids} global ids unused (rolled-back appends)"
                if self.unused_ids
                else ""
            )
            return (
                f"journal OK: {self.checked} entries in {self.lanes} lane(s), no sequence "
                f"number missing{unused}; last id {self.head_id}, anchor {self.head_hash}"
            )
        where = f" at entry {self.entry_id}" if self.entry_id is not None else ""
        return f"journal TAMPERED: {self.problem}{where}: {self.message}"


class _Found(Exception):  # noqa: N818 -- internal control flow of verify_journal
    def __init__(self, problem: Problem, entry_id: int | None, message: str, **where: int) -> None:
        super().__init__(message)
        self.problem = problem
        self.entry_id = entry_id
        self.message = message
        self.lane = where.get("lane")
        self.lane_seq = where.get("lane_seq")


def verify_journal(session: Session, *, batch_size: int = 1000) -> VerifyReport:
    """Walk every lane in order and report the first problem, or OK with the count.

    Safe to run while others append: it checks each lane up to the head it read
    first, then looks for rows beyond heads read afterwards.
    """
    heads = _read_heads(session)
    if not heads:
        return VerifyReport(0, 0, "", Problem.NO_HEAD, None, "the journal_head rows are missing")
    head_id = max(h.last_id for h in heads)
    anchor = anchor_of(heads)
    checked = 0
    try:
        for head in heads:
            checked += _verify_lane(session, head, batch_size)
        _find_rows_beyond(session)
    except _Found as found:
        return VerifyReport(
            checked,
            head_id,
            anchor,
            found.problem,
            found.entry_id,
            found.message,
            lanes=len(heads),
            lane=found.lane,
            lane_seq=found.lane_seq,
        )
    table = JournalEntry.__table__
    ids = session.execute(
        select(func.count(), func.max(table.c.id)).where(
            table.c.id <= head_id, table.c.lane.in_([h.lane for h in heads])
        )
    ).one()
    unused = int(ids[1] or 0) - int(ids[0])
    return VerifyReport(checked, head_id, anchor, lanes=len(heads), unused_ids=max(unused, 0))


def _verify_lane(session: Session, head: LaneHead, batch_size: int) -> int:
    """Check one lane against its head; the number of entries checked."""
    table = JournalEntry.__table__
    lane = head.lane
    expected_seq = 1
    prev_hash = GENESIS_HASH
    prev_id = 0
    while True:
        rows = session.execute(
            select(table)
            .where(
                table.c.lane == lane,
                table.c.lane_seq >= expected_seq,
                table.c.lane_seq <= head.last_seq,
            )
            .order_by(table.c.lane_seq)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        for row in rows:
            seq = int(row.lane_seq)
            entry_id = int(row.id)
            if seq > expected_seq:
                missing = (
                    f"lane {lane} entry #{expected_seq} is missing"
                    if seq == expected_seq + 1
                    else f"lane {lane} entries #{expected_seq}-#{seq - 1} are missing"
                )
                raise _Found(
                    Problem.DELETED,
                    None,
                    f"{missing} (the entry after it is {entry_id})",
                    lane=lane,
                    lane_seq=expected_seq,
                )
            if entry_hash(_fields_of(row)) != row.hash:
                raise _Found(
                    Problem.EDITED,
                    entry_id,
                    f"entry {entry_id} (lane {lane} #{seq}) does not match its hash: its "
                    "content was changed",
                    lane=lane,
                    lane_seq=seq,
                )
            if row.prev_hash != prev_hash:
                raise _Found(
                    Problem.BROKEN_LINK,
                    entry_id,
                    f"entry {entry_id} (lane {lane} #{seq}) does not link to the lane's entry "
                    f"#{seq - 1}: that entry was rewritten with a new hash, or this one was "
                    "put in its place",
                    lane=lane,
                    lane_seq=seq,
                )
            if entry_id <= prev_id:
                raise _Found(
                    Problem.EDITED,
                    entry_id,
                    f"entry {entry_id} (lane {lane} #{seq}) has a global id below its "
                    f"predecessor's ({prev_id}): the ids were changed",
                    lane=lane,
                    lane_seq=seq,
                )
            prev_hash = str(row.hash)
            prev_id = entry_id
            expected_seq += 1
    checked = expected_seq - 1
    if checked < head.last_seq:
        raise _Found(
            Problem.DELETED,
            None,
            f"lane {lane}'s head names entry #{head.last_seq} but the lane ends at "
            f"#{checked}: its last entries were deleted",
            lane=lane,
            lane_seq=checked + 1,
        )
    if head.last_seq > 0 and (prev_hash != head.last_hash or prev_id != head.last_id):
        raise _Found(
            Problem.EDITED,
            prev_id,
            f"entry {prev_id} (lane {lane} #{checked}) does not match the lane head: it "
            "(or the lane up to it) was rewritten",
            lane=lane,
            lane_seq=checked,
        )
    return checked


def _fields_of(row: Any) -> EntryFields:
    return EntryFields(
        id=int(row.id),
        at=row.at,
        site_code=row.site_code,
        operator_id=row.operator_id,
        device_id=row.device_id,
        card_number=row.card_number,
        person_id=row.person_id,
        item=row.item,
        outcome=row.outcome,
        detail=row.detail,
        prev_hash=row.prev_hash,
        lane=int(row.lane),
        lane_seq=int(row.lane_seq),
        event=row.event,
        version=int(row.version),
    )


def _find_rows_beyond(session: Session) -> None:
    """Rows beyond their lane's head (read again now), or in a lane that has no head."""
    table = JournalEntry.__table__
    heads = {h.lane: h for h in _read_heads(session)}
    rows = session.execute(
        select(table.c.lane, func.max(table.c.lane_seq), func.min(table.c.lane_seq)).group_by(
            table.c.lane
        )
    ).all()
    for lane, highest, lowest in rows:
        head = heads.get(int(lane))
        limit = head.last_seq if head is not None else 0
        if int(highest) > limit or int(lowest) < 1:
            first = session.execute(
                select(table.c.id, table.c.lane_seq)
                .where(
                    table.c.lane == lane,
                    (table.c.lane_seq > limit) | (table.c.lane_seq < 1),
                )
                .order_by(table.c.id)
                .limit(1)
            ).one()
            where = "has no head" if head is None else f"ends at #{limit}"
            raise _Found(
                Problem.INSERTED,
                int(first.id),
                f"entry {first.id} (lane {lane} #{first.lane_seq}) lies outside its lane, "
                f"which {where}: it was not appended through the journal",
                lane=int(lane),
                lane_seq=int(first.lane_seq),
            )


def _read_heads(session: Session) -> tuple[LaneHead, ...]:
    rows = session.execute(
        select(
            JournalHead.id, JournalHead.last_seq, JournalHead.last_id, JournalHead.last_hash
        ).order_by(JournalHead.id)
    ).all()
    return tuple(LaneHead(int(r[0]), int(r[1]), int(r[2]), str(r[3])) for r in rows)
