"""`seed_database(engine, options)`: check the database, prepare it, generate, bulk-load.

Modes (:class:`~cardsvc.seed.options.SeedMode`):

* **fresh** (default): the database must hold no data. A database without any
  schema is migrated first (``cardsvc db upgrade`` is not needed); a schema at an
  older revision is refused (run ``cardsvc db upgrade``: migrating a database
  that may hold data is the administrator's decision).
* **force**: every row of every table is deleted first (sites, persons, cards,
  operators, ledgers, …), then the database is seeded as if fresh. Refused when
  the transaction journal holds entries: it is append-only evidence.
* **append**: adds persons (with new employers, records and cards) to a database
  seeded before; the site tree, operators and devices are reused. Ids, SSNs and
  card numbers continue after the existing ones. On an empty database it seeds
  afresh.

Everything happens in ONE transaction: a failed or interrupted seed leaves the
database as it was.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Engine, func, inspect, select, text

from cardsvc.db import migrate
from cardsvc.db.engine import check_durability
from cardsvc.db.models import Base, Role
from cardsvc.seed import bulk
from cardsvc.seed.access import (
    ActorDirectory,
    DeviceSpec,
    OperatorSpec,
    credential_hashes,
    device_specs,
    operator_specs,
    registered_at,
)
from cardsvc.seed.context import IdCounters, SeedContext, SsnAllocator
from cardsvc.seed.demo import DEMO_DEVICE_SECRET, DEMO_OPERATOR_PASSWORD
from cardsvc.seed.employers import EmployerPool, employer_count, make_employers
from cardsvc.seed.errors import DatabaseNotEmptyError, SeedStateError
from cardsvc.seed.lives import SeedState, person_batches
from cardsvc.seed.options import SeedMode, SeedOptions
from cardsvc.seed.passwords import verify_secret
from cardsvc.seed.progress import NoProgress, Progress
from cardsvc.seed.sites import Layout, build_layout
from cardsvc.seed.tables import COLUMNS, ID_TABLES, PERSON_TABLES, WRITE_ORDER, Row
from cardsvc.seed.writer import BulkWriter, make_writer

logger = logging.getLogger(__name__)

JOURNAL_TABLES = ("journal_entries", "journal_head")
"""Never emptied: the journal is append-only (and its head row belongs to the schema)."""


@dataclass(frozen=True)
class SeedReport:
    """What a seeding run did."""

    mode: SeedMode
    """What was done: FRESH also when --force or --append met an empty database."""
    as_of: date
    seed: int
    schema_created: bool
    persons_added: int
    first_person_id: int
    first_card_id: int
    added: Mapping[str, int]
    """Rows written per table."""
    card_states: Mapping[str, int]
    """Cards written per state."""
    operators: tuple[OperatorSpec, ...]
    devices: tuple[DeviceSpec, ...]
    demo: bool
    """The operators and devices have the demo credentials (set now, or by the seed
    appended to)."""
    elapsed_s: float
    wiped: Mapping[str, int] = field(default_factory=dict)
    """Rows deleted per table (--force)."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds per phase: prepare, load (generate and write), indexes, commit, tidy."""

    @property
    def operator_password(self) -> str | None:
        return DEMO_OPERATOR_PASSWORD if self.demo else None

    @property
    def device_secret(self) -> str | None:
        return DEMO_DEVICE_SECRET if self.demo else None


def data_tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables if t.name not in JOURNAL_TABLES]


def row_counts(conn: Connection, tables: Sequence[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for name in tables:
        table = Base.metadata.tables[name]
        result[name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    return result


def ensure_schema(engine: Engine) -> bool:
    """Create the schema in a database that has none; True when it did."""
    current = migrate.current_revision(engine)
    if current is None:
        existing = inspect(engine).get_table_names()
        if existing:
            raise SeedStateError(
                f"the database has tables ({', '.join(sorted(existing)[:5])}…) but no cardsvc "
                "schema revision: seed an empty database"
            )
        migrate.upgrade(engine)
        return True
    head = migrate.head_revision()
    if current != head:
        raise SeedStateError(
            f"the database schema is at revision {current}, the code needs {head}: "
            "run `cardsvc db upgrade` first"
        )
    return False


def _summary(counts: Mapping[str, int]) -> str:
    shown = [f"{name} {n:,}" for name, n in counts.items() if n]
    return ", ".join(shown[:6]) + (", …" if len(shown) > 6 else "")


def _wipe(conn: Connection, counts: Mapping[str, int]) -> dict[str, int]:
    journal = int(conn.execute(text("SELECT count(*) FROM journal_entries")).scalar_one())
    if journal:
        raise SeedStateError(
            f"the transaction journal holds {journal:,} entries and is append-only: "
            "--force will not delete it; seed a new database instead"
        )
    tables = [t for t in reversed(data_tables())]
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY"))
    else:
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - names from the models
    return {name: n for name, n in counts.items() if n}


def _directory(
    operators: Sequence[OperatorSpec],
    operator_ids: Mapping[str, int],
    devices: Sequence[DeviceSpec],
    device_ids: Mapping[str, int],
) -> ActorDirectory:
    clerk_by_site: dict[str, int] = {}
    for spec in operators:
        found = operator_ids.get(spec.username)
        if found is not None and Role.CLERK in spec.roles:
            clerk_by_site.setdefault(spec.site_code, found)
    kiosk_by_site: dict[str, int] = {}
    for device in devices:
        found = device_ids.get(device.name)
        if found is not None and device.kind.value == "kiosk":
            kiosk_by_site.setdefault(device.site_code, found)
    by_district = {code: i for code, i in clerk_by_site.items() if len(code) == 6}
    if not by_district:
        raise SeedStateError(
            "no clerk at any district centre: the operators of an earlier seed are missing; "
            "use --force or a fresh database"
        )
    return ActorDirectory(clerk_by_site, kiosk_by_site, by_district)


def _write_fixed(
    writer: BulkWriter,
    options: SeedOptions,
    *,
    layout: Layout,
    operators: Sequence[OperatorSpec],
    devices: Sequence[DeviceSpec],
    added: Counter[str],
) -> None:
    sites: list[Row] = [
        (
            s.code,
            s.parent_code,
            s.level.value,
            s.name,
            s.population,
            s.floor_area,
            s.archive_area,
        )
        for s in layout.sites
    ]
    staff: list[Row] = [
        (i, s.site_code, s.name, s.degree.value, s.hired_on) for i, s in enumerate(layout.staff, 1)
    ]
    operator_hashes = credential_hashes(
        options.seed,
        [o.username for o in operators],
        DEMO_OPERATOR_PASSWORD if options.demo else None,
        options.scrypt_n,
    )
    device_hashes = credential_hashes(
        options.seed,
        [d.name for d in devices],
        DEMO_DEVICE_SECRET if options.demo else None,
        options.scrypt_n,
    )
    operator_rows: list[Row] = [
        (
            i,
            o.username,
            o.site_code,
            ",".join(sorted(r.value for r in o.roles)),
            operator_hashes[o.username],
            0,
            None,
            True,
        )
        for i, o in enumerate(operators, 1)
    ]
    device_rows: list[Row] = [
        (
            i,
            d.name,
            d.kind.value,
            d.site_code,
            device_hashes[d.name],
            True,
            registered_at(d.name, options.as_of),
        )
        for i, d in enumerate(devices, 1)
    ]
    for table, rows in (
        ("sites", sites),
        ("staff", staff),
        ("operators", operator_rows),
        ("devices", device_rows),
    ):
        writer.write(table, rows)
        added[table] += len(rows)


def _existing_state(
    conn: Connection,
    layout: Layout,
    operators: Sequence[OperatorSpec],
    devices: Sequence[DeviceSpec],
) -> tuple[dict[str, int], SsnAllocator, ActorDirectory]:
    codes = {row[0] for row in conn.execute(text("SELECT code FROM sites"))}
    missing = [s.code for s in layout.sites if s.code not in codes]
    if missing:
        raise SeedStateError(
            f"--append needs the site tree of an earlier `cardsvc seed`, but {len(missing)} of "
            f"its {len(layout.sites)} sites are missing (e.g. {missing[0]}): "
            "seed a fresh database, or use --force"
        )
    last_ids = {
        table: int(
            conn.execute(text(f"SELECT COALESCE(max(id), 0) FROM {table}")).scalar_one()  # noqa: S608
        )
        for table in ID_TABLES
    }
    ssns = SsnAllocator()
    for (ssn,) in conn.execute(text("SELECT ssn FROM persons")).yield_per(10_000):
        ssns.observe(str(ssn))
    operator_ids = {
        str(name): int(i) for i, name in conn.execute(text("SELECT id, username FROM operators"))
    }
    device_ids = {
        str(name): int(i) for i, name in conn.execute(text("SELECT id, name FROM devices"))
    }
    return last_ids, ssns, _directory(operators, operator_ids, devices, device_ids)


def _has_demo_credentials(conn: Connection, operators: Sequence[OperatorSpec]) -> bool:
    """Whether an earlier seed set the demo passwords (checked on its first operator)."""
    stored = conn.execute(
        text("SELECT password_hash FROM operators WHERE username = :u"),
        {"u": operators[0].username},
    ).scalar_one_or_none()
    return stored is not None and verify_secret(DEMO_OPERATOR_PASSWORD, str(stored))


def seed_database(
    engine: Engine, options: SeedOptions, *, progress: Progress | None = None
) -> SeedReport:
    """Seed the database behind `engine` (see the module docstring for the modes)."""
    started = time.monotonic()
    show = progress or NoProgress()
    check_durability(engine)
    schema_created = ensure_schema(engine)
    layout = build_layout(options.as_of)
    operators = operator_specs(layout)
    devices = device_specs(layout)
    added: Counter[str] = Counter()
    card_states: Counter[str] = Counter()
    wiped: dict[str, int] = {}
    timings: dict[str, float] = {}
    mode = options.mode

    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # 256 MiB of page cache for building the indexes (outside any transaction)
            driver = conn.connection.driver_connection
            if driver is not None:
                driver.execute("PRAGMA cache_size = -262144")
        with conn.begin():
            counts = row_counts(conn, data_tables())
            has_data = any(counts.values())
            appending = has_data and mode is SeedMode.APPEND
            if has_data and mode is SeedMode.FRESH:
                raise DatabaseNotEmptyError(
                    f"the database already holds data ({_summary(counts)}): seed an empty "
                    "database, or add --append to add persons to an earlier seed, or --force "
                    "to delete all its data and seed it again"
                )
            if has_data and mode is SeedMode.FORCE:
                wiped = _wipe(conn, counts)
            if not has_data:
                mode = SeedMode.FRESH  # --force or --append on an empty database
            writer = make_writer(conn)
            restore_statements = [] if appending else bulk.relax(conn, PERSON_TABLES)
            demo = options.demo
            if appending:
                last_ids, ssns, actors = _existing_state(conn, layout, operators, devices)
                demo = _has_demo_credentials(conn, operators)
            else:
                last_ids, ssns = {}, SsnAllocator()
                show.phase("sites", 1)
                _write_fixed(
                    writer,
                    options,
                    layout=layout,
                    operators=operators,
                    devices=devices,
                    added=added,
                )
                show.advance(1)
                actors = _directory(
                    operators,
                    {o.username: i for i, o in enumerate(operators, 1)},
                    devices,
                    {d.name: i for i, d in enumerate(devices, 1)},
                )
            ids = IdCounters(last_ids)
            ctx = SeedContext.build(options, layout, actors)
            first_employer = last_ids.get("employers", 0) + 1
            employers = make_employers(
                options.seed, first_employer, employer_count(options.persons), layout
            )
            for _ in employers:
                ids.next("employers")
            writer.write("employers", [e.row() for e in employers])
            added["employers"] += len(employers)
            state = SeedState(ids=ids, ssns=ssns, employers=EmployerPool(employers))

            timings["prepare"] = time.monotonic() - started
            mark = time.monotonic()
            show.phase("persons", options.persons)
            state_column = COLUMNS["cards"].index("state")
            for done, buf in person_batches(ctx, state, options.persons, options.batch_persons):
                for table in WRITE_ORDER:
                    rows = buf[table]
                    if rows:
                        writer.write(table, rows)
                        added[table] += len(rows)
                card_states.update(str(row[state_column]) for row in buf["cards"])
                show.advance(done)
            timings["load"] = time.monotonic() - mark
            mark = time.monotonic()
            show.phase("indexes", 1)
            bulk.restore(conn, restore_statements)
            show.advance(1)
            writer.finish()
            timings["indexes"] = time.monotonic() - mark
            mark = time.monotonic()
        timings["commit"] = time.monotonic() - mark
        show.finish()
    mark = time.monotonic()
    _tidy(engine)
    timings["tidy"] = time.monotonic() - mark
    elapsed = time.monotonic() - started
    logger.info("seeded %d persons in %.1f s", options.persons, elapsed)
    return SeedReport(
        mode=mode,
        as_of=options.as_of,
        seed=options.seed,
        schema_created=schema_created,
        persons_added=options.persons,
        first_person_id=last_ids.get("persons", 0) + 1,
        first_card_id=last_ids.get("cards", 0) + 1,
        added=dict(added),
        card_states=dict(card_states),
        operators=operators,
        devices=devices,
        demo=demo,
        elapsed_s=elapsed,
        wiped=wiped,
        timings={k: round(v, 2) for k, v in timings.items()},
    )


def _tidy(engine: Engine) -> None:
    """Statistics for the planner; on SQLite also fold the WAL back into the file."""
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if engine.dialect.name == "sqlite":
            assert driver is not None
            driver.execute("PRAGMA optimize")
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            cursor = raw.cursor()
            cursor.execute("ANALYZE")
            cursor.close()
            raw.commit()
    finally:
        raw.close()
