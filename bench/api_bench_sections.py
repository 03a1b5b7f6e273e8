"""CPU per section of an E02 answer, measured in one process without HTTP.

    .venv/bin/python bench/api_bench_sections.py [--rounds 500]

Seeds a database of its own (as bench/api_bench.py does) and times, with
``time.process_time`` over many rounds, the parts a ``GET /v1/persons/{ssn}/contributions``
request runs: the bearer-token lookup with its rate-limit count, the card-session
lookup (kiosk), the service call (E02: scope, page, journal entry, commit), and building
and serialising the answer. The figures are the server's Python and driver CPU per
part; the database server's own CPU is not in them. ``SECTIONS_PROFILE=authenticate``
(or ``endpoint``) first prints a cProfile of that part in CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import api_bench_setup as setup  # noqa: E402
from api_bench_profile import ThreadProfiles  # noqa: E402


def cpu_ms(rounds: int, step: Callable[[], Any]) -> float:
    for _ in range(min(50, rounds)):
        step()
    start = time.process_time()
    for _ in range(rounds):
        step()
    return (time.process_time() - start) * 1000 / rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the whole-request loop, every thread"
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    from fastapi import Response  # noqa: PLC0415
    from fastapi.security import HTTPAuthorizationCredentials  # noqa: PLC0415
    from sqlalchemy import select  # noqa: PLC0415

    from api import security  # noqa: PLC0415
    from api.app import create_app  # noqa: PLC0415
    from api.context import ApiContext  # noqa: PLC0415
    from api.routes import persons as person_routes  # noqa: PLC0415
    from cardsvc.db.models import Person  # noqa: PLC0415
    from cardsvc.db.uow import make_session_factory  # noqa: PLC0415
    from cardsvc.settings import Settings  # noqa: PLC0415

    with setup.bench_database("postgresql", args.pg_url) as url:
        setup.seed(url, args.persons)
        clerk = setup.add_clerks(url, 1)
        person_rows = setup.in_scope(url, 50)
        for key, value in setup._env(url).items():
            if key.startswith("CARDSVC_"):
                os.environ[key] = value
        app = create_app(Settings.from_env())
        profiles = ThreadProfiles()
        if args.profile:
            threading.setprofile(profiles.hook)
        from fastapi.testclient import TestClient  # noqa: PLC0415

        with TestClient(app) as client:
            response = client.post(
                "/v1/auth/login",
                json={"username": clerk[0].name, "password": clerk[0].secret},
                headers={"Idempotency-Key": "profile-login-0001"},
            )
            token = str(response.json()["access_token"])
            context: ApiContext = app.state.context
            credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
            # authenticate reads the request's X-Card-Session header (none here)
            request: Any = SimpleNamespace(headers={}, state=SimpleNamespace())
            actor = security.authenticate(request, credentials, context).actor
            ssns = [ssn for _, ssn in person_rows]
            position = [0]

            def next_ssn() -> str:
                position[0] = (position[0] + 1) % len(ssns)
                return ssns[position[0]]

            if os.environ.get("SECTIONS_GC_FREEZE"):
                import gc  # noqa: PLC0415

                gc.freeze()
            endpoint = _endpoint(app, "/v1/persons/{ssn}/contributions")
            field = _response_field(app, "/v1/persons/{ssn}/contributions")
            results: dict[str, float] = {}

            def authenticate() -> Any:
                return security.authenticate(request, credentials, context)

            caller = _CallerAs(actor, context)

            def call_endpoint() -> Any:
                call = endpoint(caller=caller, ssn=next_ssn(), scheme=None, limit=50, offset=0)
                return _finish(call)

            part = os.environ.get("SECTIONS_PROFILE", "")
            if part:  # one part under cProfile, in CPU time (not waiting on the database)
                step = {"authenticate": authenticate, "endpoint": call_endpoint}[part]
                profile = cProfile.Profile(time.process_time)
                profile.runctx("for _ in range(500): step()", {"step": step}, {})
                profile.print_stats(sort="cumulative")
            results["authenticate (token + rate limit)"] = cpu_ms(args.rounds, authenticate)
            floor_factory = make_session_factory(context.database.engine, read_only=True)
            person_ids = [person_id for person_id, _ in person_rows]

            def floor_select() -> Any:
                position[0] = (position[0] + 1) % len(person_ids)
                with floor_factory() as session:
                    row = session.execute(
                        select(
                            Person.id, Person.ssn, Person.name, Person.residence_site_code
                        ).where(Person.id == person_ids[position[0]])
                    ).one_or_none()
                    session.rollback()
                return row

            results["floor's work (one primary-key select, read-only session)"] = cpu_ms(
                args.rounds, floor_select
            )
            results["endpoint (service E02 + building the model)"] = cpu_ms(
                args.rounds, call_endpoint
            )
            answer = call_endpoint()
            if not isinstance(answer, Response):  # a route returning its JSON skips this
                results["FastAPI serialize_response (validate + JSON)"] = cpu_ms(
                    args.rounds, lambda: asyncio.run(_serialize(field, answer))
                )
            results["  asyncio.run alone (subtract)"] = cpu_ms(
                args.rounds, lambda: asyncio.run(_nothing())
            )

            def whole() -> Any:
                return client.get(
                    f"/v1/persons/{next_ssn()}/contributions",
                    headers={"Authorization": f"Bearer {token}"},
                )

            results["TestClient GET, whole request (in-process client too)"] = cpu_ms(
                min(args.rounds, 300), whole
            )
            if args.profile:
                for _ in range(20):
                    whole()
                profiles.active = True
                for _ in range(300):
                    whole()
                profiles.active = False
                stats = profiles.stats()
                stats.sort_stats("tottime").print_stats(50)
                stats.sort_stats("cumulative").print_stats(90)
                stats.dump_stats("/tmp/api_bench_sections.prof")
            results["TestClient GET /healthz"] = cpu_ms(
                min(args.rounds, 300), lambda: client.get("/healthz")
            )
        del person_routes
    for name, ms in results.items():
        print(f"{ms:8.3f} ms  {name}")
    return 0


class _CallerAs:
    """Stands in for api.enquiry_caller.EnquiryCaller: the caller is `actor`, already
    looked up (the endpoint's own work is timed without the bearer lookup)."""

    def __init__(self, actor: Any, context: Any) -> None:
        self.actor = actor
        self.context = context

    async def run(self, ssn: str, answer: Callable[[Any, Any, Any], Any]) -> Any:
        return answer(self.context.service_context(), self.actor, ssn)


def _finish(coroutine: Any) -> Any:
    """The value of a coroutine that never suspends (no event loop needed)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the endpoint suspended")


async def _nothing() -> None:
    return None


async def _serialize(field: Any, answer: Any) -> Any:
    from fastapi.routing import serialize_response  # noqa: PLC0415

    return await serialize_response(field=field, response_content=answer)


def _route(app: Any, path: str) -> Any:
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for context in contexts() if contexts is not None else [route]:
            if getattr(context, "path", None) == path:
                return context
    raise SystemExit(f"no route {path}")


def _endpoint(app: Any, path: str) -> Any:
    return _route(app, path).endpoint


def _response_field(app: Any, path: str) -> Any:
    return _route(app, path).response_field


if __name__ == "__main__":
    raise SystemExit(main())
