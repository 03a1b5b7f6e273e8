"""The transaction journal: append-only, hash-chained, verifiable.

Every entry commits to its own fields and to the hash of the entry before it::

    hash = SHA-256( canonical_bytes(entry fields, prev_hash) )

`canonical_bytes` is UTF-8 JSON with sorted keys and no whitespace (see the
function for the exact fields and formats; version ``"v": 1``). The first
entry's ``prev_hash`` is `GENESIS_HASH` (64 zeros). Ids are 1, 2, 3, … without
gaps, assigned from the chain head.

Appending (`append_entry`) reads the single chain-head row (`journal_head`)
with ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the transaction already
holds the write lock (``BEGIN IMMEDIATE``, see cardsvc.db.engine). So two
transactions cannot both append after the same entry: the second waits for the
first to commit and then links to it. The lock is held until the caller's
transaction ends, so journal as the last step before committing.

Database guards (migration 0002): on both engines, triggers refuse UPDATE and
DELETE of journal rows, an insert that does not continue the head, and a head
that does not advance by exactly one onto an existing entry. On PostgreSQL
TRUNCATE is refused too, and UPDATE/DELETE/TRUNCATE are revoked from PUBLIC.
Run the service under a role that does NOT own the tables (grant it
SELECT, INSERT on journal_entries and SELECT, UPDATE on journal_head): the owner
could ``ALTER TABLE … DISABLE TRIGGER``.

What remains possible, and what `verify_journal` then finds: a superuser (or
the table owner, or anyone with the SQLite file) can disable the triggers
(``SET session_replication_role = replica``, ``ALTER TABLE … DISABLE
TRIGGER``, ``DROP TRIGGER``) and edit or delete rows. An edited entry no longer
matches its hash (EDITED); an entry whose hash was recomputed no longer matches
the next entry's prev_hash (BROKEN_LINK) or the head (EDITED); a deleted entry
leaves a gap or a head pointing past the end (DELETED); a row beyond the head is
INSERTED. The one undetectable change is rewriting the whole chain from some
entry to the end *and* the head: anchor the head outside the database (the
``cardsvc journal verify`` output names it; print it on the daily ledger, or
keep it in another system) to catch that too.

Details are small JSON objects and must not carry secrets: keys naming a PIN,
key, password, secret or SSN/ID number are refused, and so is any string that
contains a full 18-character ID number (mask it first). Floats are refused
(money is in fen; floats do not encode canonically).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cardsvc.db.errors import JournalError
from cardsvc.db.models import ItemCode, JournalEntry, JournalHead, Outcome, utc_now

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HASH_FORMAT_VERSION = 1
HEAD_ID = 1
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


def canonical_bytes(fields: EntryFields) -> bytes:
    """The exact bytes that are hashed: sorted-key JSON, UTF-8, no whitespace.

    ``at`` is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; absent values are null.
    """
    payload = {
        "v": HASH_FORMAT_VERSION,
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
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


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
) -> JournalEntry:
    """Append one entry in `session`'s transaction and advance the chain head.

    The entry is flushed (it has its id and hash) but committed only with the
    caller's transaction. `at` defaults to the server clock (UTC).
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
    clean_detail = check_detail(detail if detail is not None else {})
    when = (at if at is not None else utc_now()).astimezone(UTC)
    _format_time(when)

    head = session.execute(
        select(JournalHead.last_id, JournalHead.last_hash)
        .where(JournalHead.id == HEAD_ID)
        .with_for_update()
    ).one_or_none()
    if head is None:
        raise JournalError("the journal head row is missing: run `cardsvc db upgrade`")
    fields = EntryFields(
        id=head.last_id + 1,
        at=when,
        site_code=site_code,
        operator_id=operator_id,
        device_id=device_id,
        card_number=card_number,
        person_id=person_id,
        item=item_code,
        outcome=outcome_code,
        detail=clean_detail,
        prev_hash=head.last_hash,
    )
    digest = entry_hash(fields)
    entry = JournalEntry(
        id=fields.id,
        at=fields.at,
        site_code=site_code,
        operator_id=operator_id,
        device_id=device_id,
        card_number=card_number,
        person_id=person_id,
        item=item_code,
        outcome=outcome_code,
        detail=clean_detail,
        prev_hash=fields.prev_hash,
        hash=digest,
    )
    session.add(entry)
    session.flush()  # the entry row must exist before the head advances onto it
    session.execute(
        update(JournalHead)
        .where(JournalHead.id == HEAD_ID)
        .values(last_id=fields.id, last_hash=digest)
        .execution_options(synchronize_session=False)
    )
    logger.debug("journal entry %d: %s %s", fields.id, item_code.value, outcome_code.value)
    return entry


class Problem(StrEnum):
    EDITED = "edited"  # an entry's content does not match its hash (or the head's hash)
    DELETED = "deleted"  # an id is missing, or the head points past the last entry
    INSERTED = "inserted"  # a row that is not part of the chain (beyond the head, or id < 1)
    BROKEN_LINK = "broken_link"  # prev_hash differs from the previous entry's hash
    NO_HEAD = "no_head"  # the chain-head row is gone


@dataclass(frozen=True)
class VerifyReport:
    """The result of walking the chain: OK with a count, or the first problem found."""

    checked: int
    head_id: int
    head_hash: str
    problem: Problem | None = None
    entry_id: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            return f"journal OK: {self.checked} entries, chain head {self.head_id} {self.head_hash}"
        where = f" at entry {self.entry_id}" if self.entry_id is not None else ""
        return f"journal TAMPERED: {self.problem}{where}: {self.message}"


def verify_journal(session: Session, *, batch_size: int = 1000) -> VerifyReport:
    """Walk the whole chain in id order and report the first problem, or OK with the count.

    Safe to run while others append: it checks the entries up to the head it
    read first, then looks for rows beyond a head read afterwards.
    """
    table = JournalEntry.__table__
    head = _read_head(session)
    if head is None:
        return VerifyReport(0, 0, "", Problem.NO_HEAD, None, "the journal_head row is missing")
    head_id, head_hash = head

    def report(problem: Problem, entry_id: int | None, message: str, checked: int) -> VerifyReport:
        return VerifyReport(checked, head_id, head_hash, problem, entry_id, message)

    expected_id = 1
    prev_hash = GENESIS_HASH
    last_seen: int | None = None
    while True:
        query = select(table).where(table.c.id <= head_id).order_by(table.c.id).limit(batch_size)
        if last_seen is not None:
            query = query.where(table.c.id > last_seen)
        rows = session.execute(query).all()
        if not rows:
            break
        for row in rows:
            entry_id = int(row.id)
            if entry_id < expected_id:
                return report(
                    Problem.INSERTED, entry_id, f"entry {entry_id} is outside the chain", entry_id
                )
            if entry_id > expected_id:
                missing = (
                    f"entry {expected_id} is missing"
                    if entry_id == expected_id + 1
                    else f"entries {expected_id}-{entry_id - 1} are missing"
                )
                return report(Problem.DELETED, expected_id, missing, expected_id - 1)
            fields = EntryFields(
                id=entry_id,
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
            )
            if entry_hash(fields) != row.hash:
                return report(
                    Problem.EDITED,
                    entry_id,
                    f"entry {entry_id} does not match its hash: its content was changed",
                    entry_id - 1,
                )
            if row.prev_hash != prev_hash:
                return report(
                    Problem.BROKEN_LINK,
                    entry_id,
                    f"entry {entry_id} does not link to entry {entry_id - 1}: entry "
                    f"{entry_id - 1} was rewritten with a new hash, or entry {entry_id} "
                    "was put in its place",
                    entry_id - 1,
                )
            prev_hash = row.hash
            expected_id += 1
        last_seen = int(rows[-1].id)

    checked = expected_id - 1
    if checked < head_id:
        return report(
            Problem.DELETED,
            expected_id,
            f"the chain head names entry {head_id} but the journal ends at entry {checked}",
            checked,
        )
    if head_id > 0 and prev_hash != head_hash:
        return report(
            Problem.EDITED,
            head_id,
            f"entry {head_id} does not match the chain head's hash: it (or the chain "
            "up to it) was rewritten",
            checked,
        )
    # Rows beyond the head. Read the highest id first and the head again after it:
    # an entry committed by a legitimate append is committed with its head.
    max_id = session.execute(select(func.max(table.c.id))).scalar_one_or_none()
    later_head = _read_head(session)
    limit = later_head[0] if later_head is not None else head_id
    if max_id is not None and int(max_id) > limit:
        first = session.execute(select(func.min(table.c.id)).where(table.c.id > limit)).scalar_one()
        return report(
            Problem.INSERTED,
            int(first),
            f"entry {first} lies beyond the chain head ({limit}): it was not appended "
            "through the journal",
            checked,
        )
    return VerifyReport(checked, head_id, head_hash)


def _read_head(session: Session) -> tuple[int, str] | None:
    row = session.execute(
        select(JournalHead.last_id, JournalHead.last_hash).where(JournalHead.id == HEAD_ID)
    ).one_or_none()
    if row is None:
        return None
    return int(row.last_id), str(row.last_hash)
