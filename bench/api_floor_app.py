"""The floor of the HTTP API benchmark (bench/api_bench.py): the least an API can do.

One FastAPI route, ``GET /persons/{person_id}``, doing one primary-key select on the
same database, through an engine made by the same function as the service's
(:func:`cardsvc.db.engine.make_engine`, so the same pool, idle-connection ping and
connection settings), with the same thread pool fitted to the engine's pool
(:func:`api.app.fit_thread_pool`) and the same frozen start-up heap (api.heap). It is
a plain ``def`` route: its work runs in ONE hand-off to the thread pool, as the
service's enquiries do (api.enquiry_caller); it reads in a read-only unit of work and
answers JSON. It has no authentication, no rate limit, no journal and no middleware:
whatever the real enquiry costs above it is the price of those.

Served by uvicorn as a factory with the same options as ``cardsvc serve``
(api.serving: the worker count, and api.nodelay's HTTP protocol, which turns
TCP_NODELAY on where uvicorn's own leaves it off; uvicorn's command line cannot name
another protocol, so this module starts uvicorn itself)::

    CARDSVC_DATABASE_URL=... python bench/api_floor_app.py --port 8001 --workers 2
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from sqlalchemy import select

from api.app import fit_thread_pool
from api.heap import freeze_startup_heap
from cardsvc.db.engine import make_engine
from cardsvc.db.models import Person
from cardsvc.db.uow import make_session_factory


def create_floor_app() -> FastAPI:
    """The floor app for the database in ``CARDSVC_DATABASE_URL`` (opened at start-up)."""
    url = os.environ["CARDSVC_DATABASE_URL"]
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(url)
        fit_thread_pool(engine)  # served the same way as the service (api/app.py)
        state["factory"] = make_session_factory(engine, read_only=True)
        freeze_startup_heap()  # as the service's app does once started (api/app.py)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="cardsvc API benchmark floor", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/persons/{person_id}")
    def person(person_id: int) -> dict[str, object]:
        with state["factory"]() as session:
            row = session.execute(
                select(Person.id, Person.ssn, Person.name, Person.residence_site_code).where(
                    Person.id == person_id
                )
            ).one_or_none()
            session.rollback()
        if row is None:
            raise HTTPException(status_code=404, detail="no such person")
        return {"id": row.id, "ssn": row.ssn, "name": row.name, "site": row.residence_site_code}

    return app


def main() -> None:
    """Serve the floor app as ``cardsvc serve`` serves the API (bench/api_bench_setup.py)."""
    import argparse  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from api.serving import run_server  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="the API benchmark's floor app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    run_server(
        "api_floor_app:create_floor_app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        app_dir=str(Path(__file__).resolve().parent),
    )


if __name__ == "__main__":
    main()
