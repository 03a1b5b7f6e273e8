"""The hash-chained journal: append, verify, and what tampering looks like."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cardsvc.db import Database, migrate
from cardsvc.db.engine import in_autocommit
from cardsvc.db.errors import JournalError
from cardsvc.db.journal import (
    GENESIS_HASH,
    MAX_LANES,
    EntryFields,
    LaneHead,
    Problem,
    _hash_fragments,
    anchor_of,
    append_entry,
    canonical_bytes,
    check_detail,
    entry_hash,
    verify_journal,
)
from cardsvc.db.models import ItemCode, JournalEntry, JournalHead, Outcome
from cardsvc.db.models.records import JournalEvent
from cardsvc.db.uow import UnitOfWork, make_session_factory

GuardsOff = Callable[[Engine], AbstractContextManager[Connection]]
AT = datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


def _append(factory: sessionmaker[Session], count: int, **fields: Any) -> list[int]:
    ids = []
    for n in range(count):
        with UnitOfWork(factory) as uow:
            entry = append_entry(
                uow.session,
                site_code="370402",
                item=fields.get("item", ItemCode.E01),
                outcome=Outcome.OK,
                operator_id=fields.get("operator_id", 7),
                card_number="A00000011",
                person_id=42,
                detail={"n": n, "name": "张三𠀀"},
                at=fields.get("at"),
            )
            ids.append(entry.id)
    return ids


def _verify(factory: sessionmaker[Session]) -> Any:
    with UnitOfWork(factory) as uow:
        return verify_journal(uow.session, batch_size=2)  # small batches: cross a boundary


def test_canonical_encoding_is_stable() -> None:
    fields = EntryFields(
        id=1,
        at=AT,
        site_code="370402",
        operator_id=7,
        device_id=None,
        card_number="A00000011",
        person_id=42,
        item=ItemCode.C01,
        outcome=Outcome.OK,
        detail={"b": 1, "a": "临时挂失"},
        prev_hash=GENESIS_HASH,
        version=1,
    )
    assert (
        canonical_bytes(fields)
        == (
            '{"at":"2025-03-01T08:30:00.123456Z","card":"A00000011","detail":{"a":"临时挂失",'
            '"b":1},"device":null,"id":1,"item":"C01","operator":7,"outcome":"ok","person":42,'
            '"prev":"' + "0" * 64 + '","site":"370402","v":1}'
        ).encode()
    )
    assert entry_hash(fields) == entry_hash(fields)
    assert len(entry_hash(fields)) == 64


@pytest.mark.parametrize(
    ("detail", "problem"),
    [
        ({"pin": "123456"}, "detail.pin refused"),
        ({"new_pin": "123456"}, "detail.new_pin refused"),
        ({"session_key": "00" * 16}, "detail.session_key refused"),
        ({"idNumber": "x"}, "detail.idNumber refused"),
        ({"who": {"ssn": "x"}}, "detail.who.ssn refused"),
        ({"ssn_masked": "370402********1238"}, "detail.ssn_masked refused"),
        ({"note": "holder 370402199001011238"}, "full ID number"),
        ({"ids": ["37040219900101123X"]}, "full ID number"),
        ({"amount": 1.5}, "float"),
        ({"blob": "x" * 3000}, "at most 2048"),
    ],
)
def test_detail_refuses_secrets_and_unencodable_values(
    detail: dict[str, Any], problem: str
) -> None:
    with pytest.raises(JournalError, match=problem):
        check_detail(detail)


def test_detail_accepts_masked_and_plain_values() -> None:
    detail = {"holder": "370402********1238", "tries_left": 3, "ok": True, "x": None, "l": [1]}
    assert check_detail(detail) == detail


def test_format_2_also_hashes_lane_position_and_event() -> None:
    fields = EntryFields(
        id=9,
        at=AT,
        site_code="370402",
        operator_id=None,
        device_id=3,
        card_number="A00000011",
        person_id=None,
        item=ItemCode.E01,
        outcome=Outcome.DENIED,
        detail={},
        prev_hash=GENESIS_HASH,
        lane=2,
        lane_seq=1,
        event=JournalEvent.CARD_AUTHENTICATION,
    )
    assert (
        canonical_bytes(fields)
        == (
            '{"at":"2025-03-01T08:30:00.123456Z","card":"A00000011","detail":{},"device":3,'
            '"event":"card_authentication","id":9,"item":"E01","lane":2,"operator":null,'
            '"outcome":"denied","person":null,"prev":"' + "0" * 64 + '","seq":1,'
            '"site":"370402","v":2}'
        ).encode()
    )
    hashes = {
        entry_hash(replace(fields, **change))
        for change in ({}, {"lane": 3}, {"lane_seq": 2}, {"event": JournalEvent.ITEM})
    }
    assert len(hashes) == 4


def test_append_then_verify(session_factory: sessionmaker[Session]) -> None:
    assert _verify(session_factory).ok
    ids = _append(session_factory, 5, at=AT)
    assert ids == [1, 2, 3, 4, 5]
    report = _verify(session_factory)
    assert report.ok, str(report)
    assert (report.checked, report.head_id) == (5, 5)
    assert "journal OK: 5 entries in 1 lane(s), no sequence number missing" in str(report)
    with UnitOfWork(session_factory) as uow:
        entries = uow.session.scalars(select(JournalEntry).order_by(JournalEntry.id)).all()
        assert entries[0].prev_hash == GENESIS_HASH
        assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
        assert entries[0].at == AT
        assert entries[0].detail == {"n": 0, "name": "张三𠀀"}
        assert [(e.lane, e.lane_seq, e.version) for e in entries] == [
            (1, n, 2) for n in range(1, 6)
        ]
        head = uow.session.get_one(JournalHead, 1)
        assert (head.last_seq, head.last_id, head.last_hash) == (5, 5, entries[-1].hash)
        assert report.head_hash == anchor_of((LaneHead(1, 5, 5, entries[-1].hash),))


def test_append_refuses_bad_fields(session_factory: sessionmaker[Session]) -> None:
    with UnitOfWork(session_factory) as uow:
        with pytest.raises(JournalError, match="not a business item"):
            append_entry(uow.session, site_code="370402", item="X99", outcome="ok")
        with pytest.raises(JournalError, match="operator or a device"):
            append_entry(
                uow.session,
                site_code="370402",
                item="E01",
                outcome="ok",
                operator_id=1,
                device_id=2,
            )
    assert _verify(session_factory).checked == 0


def test_an_edited_entry_is_found(
    migrated_engine: Engine, session_factory: sessionmaker[Session], guards_off: GuardsOff
) -> None:
    _append(session_factory, 4)
    with guards_off(migrated_engine) as conn:
        conn.exec_driver_sql("UPDATE journal_entries SET outcome = 'refused' WHERE id = 2")
    report = _verify(session_factory)
    assert (report.problem, report.entry_id) == (Problem.EDITED, 2)
    assert "TAMPERED" in str(report)


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    migrated_engine: Engine, session_factory: sessionmaker[Session], guards_off: GuardsOff
) -> None:
    _append(session_factory, 4)
    with UnitOfWork(session_factory) as uow:
        row = uow.session.get_one(JournalEntry, 2)
        forged = EntryFields(
            id=2,
            at=row.at,
            site_code=row.site_code,
            operator_id=99,
            device_id=None,
            card_number=row.card_number,
            person_id=row.person_id,
            item=row.item,
            outcome=row.outcome,
            detail=row.detail,
            prev_hash=row.prev_hash,
            lane=row.lane,
            lane_seq=row.lane_seq,
        )
    with guards_off(migrated_engine) as conn:
        conn.exec_driver_sql(
            f"UPDATE journal_entries SET operator_id = 99, hash = '{entry_hash(forged)}' "
            "WHERE id = 2"
        )
    report = _verify(session_factory)
    assert (report.problem, report.entry_id) == (Problem.BROKEN_LINK, 3)


@pytest.mark.parametrize(("deleted", "found"), [(2, 2), (4, 4)])  # the lane position
def test_a_deleted_entry_is_found(
    migrated_engine: Engine,
    session_factory: sessionmaker[Session],
    guards_off: GuardsOff,
    deleted: int,
    found: int,
) -> None:
    _append(session_factory, 4)
    with guards_off(migrated_engine) as conn:
        conn.exec_driver_sql(f"DELETE FROM journal_entries WHERE id = {deleted}")
    report = _verify(session_factory)
    assert (report.problem, report.lane, report.lane_seq) == (Problem.DELETED, 1, found)
    assert report.entry_id is None  # a missing entry has no id to name
    assert "lane 1" in report.message


def test_a_row_beyond_the_head_is_found(
    migrated_engine: Engine, session_factory: sessionmaker[Session], guards_off: GuardsOff
) -> None:
    _append(session_factory, 2)
    with guards_off(migrated_engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO journal_entries (id, at, site_code, item, outcome, detail, "
            "prev_hash, hash, lane, lane_seq) SELECT 3, at, site_code, item, outcome, detail, "
            "hash, hash, 1, 3 FROM journal_entries WHERE id = 2"
        )
    report = _verify(session_factory)
    assert (report.problem, report.entry_id) == (Problem.INSERTED, 3)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_entries SET outcome = 'failed' WHERE id = 1",
        "DELETE FROM journal_entries WHERE id = 2",
        "UPDATE journal_head SET last_id = 1",
        "DELETE FROM journal_head",
        "INSERT INTO journal_entries (id, at, site_code, item, outcome, detail, prev_hash, hash, "
        "lane, lane_seq) VALUES (9, '2025-01-01 00:00:00', '370402', 'E01', 'ok', '{}', 'x', "
        "'y', 1, 3)",
        "INSERT INTO journal_head (id, last_seq, last_id, last_hash) VALUES (5, 1, 1, 'x')",
        "UPDATE journal_head SET last_seq = 3",
    ],
)
def test_the_normal_path_cannot_change_the_journal(
    migrated_engine: Engine, session_factory: sessionmaker[Session], statement: str
) -> None:
    _append(session_factory, 2)
    with migrated_engine.connect() as conn:
        with pytest.raises(DBAPIError, match=r"append-only|chain head|advance"):
            conn.exec_driver_sql(statement)
        conn.rollback()
    assert _verify(session_factory).checked == 2


def test_postgresql_refuses_truncate(pg_engine: Engine) -> None:
    factory = make_session_factory(pg_engine)
    _append(factory, 1)
    with pg_engine.connect() as conn:
        for table in ("journal_entries", "journal_head"):
            with pytest.raises(DBAPIError, match="append-only"):
                conn.exec_driver_sql(f"TRUNCATE {table} CASCADE")
            conn.rollback()
        public_grants = conn.exec_driver_sql(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'journal_entries' AND grantee = 'PUBLIC'"
        ).all()
    assert public_grants == []
    assert _verify(factory).checked == 1


def test_concurrent_appends_make_one_chain(migrated_engine: Engine) -> None:
    factory = make_session_factory(migrated_engine)
    per_thread = 12
    start = threading.Barrier(2, timeout=30)

    def worker(operator_id: int) -> list[int]:
        start.wait()
        return _append(factory, per_thread, operator_id=operator_id)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(worker, op) for op in (1, 2)]
        results = [f.result(timeout=90) for f in futures]
    assert sorted(results[0] + results[1]) == list(range(1, 2 * per_thread + 1))
    report = _verify(factory)
    assert report.ok, str(report)
    assert report.checked == 2 * per_thread


def _hold_appends(engine: Engine, holders: int) -> list[int]:
    """`holders` transactions that each append and keep their lane locked until all did."""
    factory = make_session_factory(engine)
    all_appended = threading.Barrier(holders, timeout=30)

    def worker(operator_id: int) -> int:
        with UnitOfWork(factory) as uow:
            entry = append_entry(
                uow.session, site_code="370402", item=ItemCode.E02, outcome=Outcome.OK,
                operator_id=operator_id,
            )  # fmt: skip
            all_appended.wait()  # nobody commits before everyone appended: lanes are held
            return entry.lane

    with ThreadPoolExecutor(max_workers=holders) as pool:
        return list(pool.map(worker, range(1, holders + 1)))


def test_postgresql_appends_in_parallel_use_several_lanes(pg_engine: Engine) -> None:
    lanes = _hold_appends(pg_engine, 4)
    assert sorted(lanes) == [1, 2, 3, 4]  # no append waited for another's commit
    factory = make_session_factory(pg_engine)
    _append(factory, 3)  # afterwards the first free lane is taken again
    report = _verify(factory)
    assert report.ok, str(report)
    assert (report.checked, report.lanes, report.head_id, report.unused_ids) == (7, 16, 7, 0)
    with UnitOfWork(factory) as uow:
        heads = uow.session.scalars(select(JournalHead).order_by(JournalHead.id)).all()
        assert [(h.id, h.last_seq) for h in heads] == [(1, 4), (2, 1), (3, 1), (4, 1)] + [
            (lane, 0) for lane in range(5, MAX_LANES + 1)
        ]  # the other lanes were opened, empty, when lane 1 was found busy


def test_postgresql_tampering_in_another_lane_is_found(pg_engine: Engine) -> None:
    _hold_appends(pg_engine, 3)
    factory = make_session_factory(pg_engine)
    _append(factory, 2)
    with UnitOfWork(factory) as uow:
        lane2 = uow.session.scalars(select(JournalEntry).where(JournalEntry.lane == 2)).one()
        lane1_last = uow.session.scalars(
            select(JournalEntry).where(JournalEntry.lane == 1).order_by(JournalEntry.id.desc())
        ).first()
    assert lane1_last is not None
    with _guards_off_pg(pg_engine) as conn:
        conn.exec_driver_sql(f"UPDATE journal_entries SET site_code = 'X' WHERE id = {lane2.id}")
    report = _verify(factory)
    assert (report.problem, report.entry_id, report.lane) == (Problem.EDITED, lane2.id, 2)
    with _guards_off_pg(pg_engine) as conn:
        conn.exec_driver_sql(f"DELETE FROM journal_entries WHERE id = {lane2.id}")
    report = _verify(factory)
    assert (report.problem, report.lane, report.lane_seq) == (Problem.DELETED, 2, 1)
    # An entry moved to another lane's end no longer links there.
    with _guards_off_pg(pg_engine) as conn:
        conn.exec_driver_sql(f"DELETE FROM journal_entries WHERE id = {lane1_last.id}")
        conn.exec_driver_sql(
            "UPDATE journal_head SET last_seq = last_seq - 1 WHERE id = 1"
        )  # the deleted tail hidden by rewinding the head: the anchor changes
    assert _verify(factory).head_hash != report.head_hash


@contextlib.contextmanager
def _guards_off_pg(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield conn
        conn.commit()


def test_postgresql_a_rolled_back_append_leaves_an_unused_id_not_a_gap(pg_engine: Engine) -> None:
    factory = make_session_factory(pg_engine)
    _append(factory, 1)
    with UnitOfWork(factory) as uow:
        append_entry(uow.session, site_code="370402", item=ItemCode.E01, outcome=Outcome.OK)
        uow.rollback()
    _append(factory, 1)
    report = _verify(factory)
    assert report.ok, str(report)
    assert (report.checked, report.head_id, report.unused_ids) == (2, 3, 1)
    assert "1 global ids unused" in str(report)


def test_an_edited_event_is_found(
    migrated_engine: Engine, session_factory: sessionmaker[Session], guards_off: GuardsOff
) -> None:
    with UnitOfWork(session_factory) as uow:
        entry = append_entry(
            uow.session, site_code="370402", item=ItemCode.E01, outcome=Outcome.DENIED,
            device_id=3, card_number="A00000011", event=JournalEvent.CARD_AUTHENTICATION,
        )  # fmt: skip
    _append(session_factory, 1)
    assert _verify(session_factory).ok
    with UnitOfWork(session_factory) as uow:
        assert uow.session.get_one(JournalEntry, entry.id).event is JournalEvent.CARD_AUTHENTICATION
    with guards_off(migrated_engine) as conn:
        conn.exec_driver_sql(f"UPDATE journal_entries SET event = 'item' WHERE id = {entry.id}")
    report = _verify(session_factory)
    assert (report.problem, report.entry_id) == (Problem.EDITED, entry.id)


def test_entries_from_before_lanes_stay_verifiable(engine: Engine, guards_off: GuardsOff) -> None:
    """Upgrade a journal written by the one-chain code (format 1), then append and verify."""
    migrate.upgrade(engine, "0003")
    prev = GENESIS_HASH
    with engine.begin() as conn:
        for n in (1, 2, 3):
            fields = EntryFields(
                id=n, at=AT, site_code="370402", operator_id=7, device_id=None,
                card_number=None, person_id=42, item=ItemCode.E02, outcome=Outcome.OK,
                detail={"n": n}, prev_hash=prev, version=1,
            )  # fmt: skip
            digest = entry_hash(fields)
            conn.execute(
                text(
                    "INSERT INTO journal_entries (id, at, site_code, operator_id, person_id, "
                    "item, outcome, detail, prev_hash, hash) VALUES (:id, :at, '370402', 7, 42, "
                    "'E02', 'ok', :detail, :prev, :hash)"
                ),
                {"id": n, "at": AT, "detail": json.dumps({"n": n}), "prev": prev, "hash": digest},
            )
            conn.execute(
                text("UPDATE journal_head SET last_id = :id, last_hash = :hash WHERE id = 1"),
                {"id": n, "hash": digest},
            )
            prev = digest
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    assert _append(factory, 2) == [4, 5]
    report = _verify(factory)
    assert report.ok, str(report)
    assert report.checked == 5
    with UnitOfWork(factory) as uow:
        rows = uow.session.scalars(select(JournalEntry).order_by(JournalEntry.id)).all()
        assert [(r.lane_seq, r.version) for r in rows] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]
        assert rows[3].prev_hash == rows[2].hash  # the chain goes on across the upgrade
    with guards_off(engine) as conn:
        conn.exec_driver_sql("UPDATE journal_entries SET person_id = 43 WHERE id = 2")
    report = _verify(factory)
    assert (report.problem, report.entry_id) == (Problem.EDITED, 2)
    with pytest.raises(RuntimeError, match="cannot downgrade the journal"):
        migrate.downgrade(engine, "0003")


def _statements_of(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_postgresql_appends_in_one_statement_hashed_by_the_database(pg_engine: Engine) -> None:
    factory = make_session_factory(pg_engine)
    _append(factory, 1)  # the lanes exist
    with contextlib.contextmanager(_statements_of)(pg_engine) as seen:
        _append(factory, 2)  # non-ASCII detail, a 4-byte character included (see _append)
    inserts = [s for s in seen if "journal" in s]
    assert len(inserts) == 2
    assert all(s.startswith("WITH lane AS") for s in inserts)
    report = _verify(factory)  # every hash recomputed in Python from the stored fields
    assert report.ok, str(report)
    assert report.checked == 3


def test_a_detail_holding_a_stand_in_is_appended_in_two_statements(pg_engine: Engine) -> None:
    factory = make_session_factory(pg_engine)
    with contextlib.contextmanager(_statements_of)(pg_engine) as seen, UnitOfWork(factory) as uow:
        append_entry(
            uow.session, site_code="370402", item=ItemCode.E01, outcome=Outcome.OK,
            operator_id=7, detail={"note": "\x00id\x00"},
        )  # fmt: skip
    journal = [s for s in seen if "journal" in s]
    assert not journal[0].startswith("WITH lane AS")  # the stand-in is not unique: two steps
    assert any(s.startswith("INSERT INTO journal_entries") for s in journal)
    report = _verify(factory)
    assert report.ok, str(report)
    assert report.checked == 1


def test_hash_fragments_rebuild_the_canonical_text() -> None:
    fields = EntryFields(
        id=0, at=AT, site_code="370402", operator_id=None, device_id=3, card_number=None,
        person_id=9, item=ItemCode.E02, outcome=Outcome.DENIED,
        detail={"reason": "不在本站", "rows": [1, 2]}, prev_hash=GENESIS_HASH,
    )  # fmt: skip
    fragments = _hash_fragments(fields)
    assert fragments is not None
    assert len(fragments) == 5
    placed = replace(fields, id=812, lane=3, lane_seq=17, prev_hash="ab" * 32)
    joined = (
        fragments[0] + "812" + fragments[1] + "3" + fragments[2] + "ab" * 32 + fragments[3]
        + "17" + fragments[4]
    )  # fmt: skip
    assert joined.encode("utf-8") == canonical_bytes(placed)


def test_an_autocommit_append_takes_a_busy_lane_in_a_transaction_of_its_own(
    pg_engine: Engine,
) -> None:
    database = Database(
        engine=pg_engine,
        session_factory=make_session_factory(pg_engine),
        read_only_session_factory=make_session_factory(pg_engine, read_only=True),
    )
    autocommit_engine = database.autocommit_engine
    assert autocommit_engine is not None
    in_autocommit_at: list[bool] = []

    def record(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if "journal_head" in statement:
            in_autocommit_at.append(in_autocommit(conn))

    held = threading.Event()
    done = threading.Event()

    def holder() -> int:  # holds lane 1 (the only lane yet) until the other append is in
        with UnitOfWork(make_session_factory(pg_engine)) as uow:
            entry = append_entry(uow.session, site_code="370402", item=ItemCode.R01,
                                 outcome=Outcome.OK, operator_id=1)  # fmt: skip
            held.set()
            assert done.wait(30)
            return entry.lane

    event.listen(autocommit_engine, "before_cursor_execute", record)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            holding = pool.submit(holder)
            assert held.wait(30)
            with database.single_statements(writes=True) as session:
                assert in_autocommit(session.connection())
                entry = append_entry(
                    session, site_code="370402", item=ItemCode.E01, outcome=Outcome.OK
                )
            done.set()
            assert holding.result(timeout=30) == 1
    finally:
        done.set()
        event.remove(autocommit_engine, "before_cursor_execute", record)
        autocommit_engine.dispose()
    assert entry.lane != 1  # lane 1 was busy: the append opened the lanes and took another
    # first the one-statement attempt (autocommit, found every lane busy), then the lane
    # taken in a transaction that holds its lock until the insert
    assert in_autocommit_at[0] is True
    assert in_autocommit_at[1:]
    assert not any(in_autocommit_at[1:])
    report = _verify(make_session_factory(pg_engine))
    assert report.ok, str(report)
    assert report.checked == 2


def test_postgresql_the_head_check_reads_the_index_on_a_long_lived_connection(
    pg_engine: Engine, guards_off: GuardsOff
) -> None:
    """Migration 0006: a connection whose first appends ran on an empty journal cached a
    sequential-scan plan for the head trigger's lookup, and kept reading the whole journal."""

    scans = text(
        "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables "
        "WHERE relname = 'journal_entries'"
    )

    def append_and_count_scans(conn: Connection) -> tuple[int, int]:
        """(sequential, index) scans of journal_entries by one append (the transaction's
        own counts: they are not flushed while it runs)."""
        with Session(bind=conn) as session:
            seq_before, idx_before = session.execute(scans).one()
            append_entry(session, site_code="370402", item=ItemCode.E02, outcome=Outcome.OK,
                         operator_id=7)  # fmt: skip
            seq_after, idx_after = session.execute(scans).one()
            session.commit()
        return int(seq_after - seq_before), int(idx_after - idx_before)

    with pg_engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE journal_entries")  # as `cardsvc seed` leaves it: empty
        conn.commit()
        # More than PL/pgSQL's five custom plans: a generic plan is cached now, on a
        # journal of one page.
        early = [append_and_count_scans(conn) for _ in range(8)]
        with guards_off(pg_engine) as other:  # a journal of thousands of entries
            other.exec_driver_sql(
                f"INSERT INTO journal_entries (id, at, site_code, item, outcome, detail, "
                f"prev_hash, hash, lane, lane_seq, event, version) "
                f"SELECT 1000000 + n, now(), '370402', 'E01', 'ok', '{{}}', "
                f"'{GENESIS_HASH}', '{GENESIS_HASH}', {MAX_LANES}, n, 'item', 2 "
                f"FROM generate_series(1, 20000) AS n"
            )
        late = append_and_count_scans(conn)
    assert early == [(0, 1)] * 8
    assert late == (0, 1)
