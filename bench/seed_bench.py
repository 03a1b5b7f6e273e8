"""Seeding benchmark: wall time and database size of `cardsvc seed` for N persons.

    .venv/bin/python bench/seed_bench.py --engine sqlite --persons 100000
    .venv/bin/python bench/seed_bench.py --engine postgresql --persons 100000
    .venv/bin/python bench/seed_bench.py --engine none --persons 100000   (generation only)

PostgreSQL: a database of its own (``cardsvc_seed_bench_<pid>``, or ``--name``) is
created on the server (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
trust auth) and dropped at the end (``--keep`` keeps it). SQLite: a file in ``--dir``
(default the system temp directory), deleted at the end unless ``--keep``. Prints one
JSON line with the figures, including the process's peak RSS (``peak_rss_mib``).

To seed the cities of bench/enquiry_bench.py and keep them::

    .venv/bin/python bench/seed_bench.py --engine postgresql --persons 10000 \
        --name cardsvc_bench_10k --keep
    .venv/bin/python bench/seed_bench.py --engine postgresql --persons 1000000 \
        --name cardsvc_bench_1m --keep
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cardsvc.db.engine import make_engine
from cardsvc.seed.options import SeedOptions
from cardsvc.seed.progress import TextProgress
from cardsvc.seed.runner import seed_database

AS_OF = date(2026, 6, 30)


def _generate_only(persons: int, seed: int) -> dict[str, object]:
    from cardsvc.seed.access import device_specs, operator_specs  # noqa: PLC0415
    from cardsvc.seed.context import IdCounters, SeedContext, SsnAllocator  # noqa: PLC0415
    from cardsvc.seed.employers import (  # noqa: PLC0415
        EmployerPool,
        employer_count,
        make_employers,
    )
    from cardsvc.seed.lives import SeedState, person_batches  # noqa: PLC0415
    from cardsvc.seed.runner import _directory  # noqa: PLC0415
    from cardsvc.seed.sites import build_layout  # noqa: PLC0415

    options = SeedOptions(as_of=AS_OF, persons=persons, seed=seed)
    layout = build_layout(AS_OF)
    operators, devices = operator_specs(layout), device_specs(layout)
    actors = _directory(
        operators,
        {o.username: i for i, o in enumerate(operators, 1)},
        devices,
        {d.name: i for i, d in enumerate(devices, 1)},
    )
    ctx = SeedContext.build(options, layout, actors)
    employers = make_employers(seed, 1, employer_count(persons), layout)
    state = SeedState(
        IdCounters({"employers": len(employers)}), SsnAllocator(), EmployerPool(employers)
    )
    started = time.monotonic()
    rows = 0
    progress = TextProgress()
    progress.phase("persons", persons)
    for done, buf in person_batches(ctx, state, persons, options.batch_persons):
        rows += buf.count()
        progress.advance(done)
    progress.finish()
    elapsed = time.monotonic() - started
    return {"engine": "none", "persons": persons, "rows": rows, "seconds": round(elapsed, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "none"), required=True)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2011)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--name",
        help="database (or SQLite file stem) name instead of cardsvc_seed_bench_<pid>; "
        "with --keep the seeded database stays for bench/enquiry_bench.py",
    )
    args = parser.parse_args()

    if args.engine == "none":
        print(json.dumps(_generate_only(args.persons, args.seed)))
        return 0

    admin = None
    name = args.name or f"cardsvc_seed_bench_{os.getpid()}"
    if args.engine == "postgresql":
        server = make_url(args.server).set(drivername="postgresql+psycopg")
        admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)
        path = None
    else:
        path = args.dir / f"{name}.db"
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        options = SeedOptions(as_of=AS_OF, persons=args.persons, seed=args.seed)
        report = seed_database(engine, options, progress=TextProgress())
        if path is not None:
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        else:
            with engine.connect() as conn:
                size = int(
                    conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
                )
        result = {
            "engine": args.engine,
            "persons": args.persons,
            "rows": sum(report.added.values()),
            "seconds": round(report.elapsed_s, 1),
            "size_mib": round(size / 2**20, 1),
            "contributions": report.added.get("contributions", 0),
            "phases_s": report.timings,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        print(json.dumps(result))
    finally:
        engine.dispose()
        if not args.keep:
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            elif path is not None:
                for leftover in path.parent.glob(path.name + "*"):
                    leftover.unlink()
        if admin is not None:
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
