"""schemathesis 4 against the served OpenAPI of the real server: every check, every phase
(examples, coverage, fuzzing, stateful), a fixed seed, bounded examples, no shrinking.

The server runs over PostgreSQL (SQLite when no PostgreSQL is available), with the
card contract's demo keys as its key service (the card-session routes need one). Three
runs against it (`schemathesis run` in a subprocess, each its own test):

1. as a supervisor of the city site (every person and site is in scope, so the
   enquiries, reports, ledgers, journal and C08 answer with data);
2. as a clerk of township 370402001 (registrations, changes and card items);
3. the sign-in routes ``/v1/auth/*`` as a throwaway operator: ``logout`` revokes the
   token it is called with, and failed sign-ins lock accounts, so these routes never
   run with the tokens of runs 1 and 2.

What is left out, and why:

- ``/v1/test/*``: routes of the test app only (``/v1/test/boom`` is a deliberate 500);
- ``/v1/auth/*`` in runs 1 and 2 (run 3 has them);
- positive_data_acceptance also accepts 410, 422 and 423 (schemathesis.toml says why);
- a hook gives the ``Idempotency-Key`` of every positive case a fresh value (the
  service refuses a key reused with another body, by design: schemathesis_hooks.py);
- :func:`known_foreign`: failures found in code of other modules, tolerated (and
  listed in the output) only for that operation and check while a fix is pending
  (none at present).

Asserted: no response 5xx, and zero failures of every check (server errors, status
codes, content types, headers and response schemas included) apart from the known
foreign ones. The counts of each run (cases; passed, failed and skipped per check;
responses per status) go into the test output (the "schemathesis" section of the
terminal summary).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from persons_city import (
    CITY,
    OWN,
    SCHEMATHESIS_REPORT,
    MiniCity,
    Where,
    add_card_session,
    add_operator,
    served_city,
)

from cardsvc.db.models import Role

HERE = Path(__file__).resolve().parent
SEED = "20110101"
MAX_EXAMPLES = "5"
RUN_TIMEOUT_S = 150
SERVER_ENV = {"CARDSVC_DEMO": "1", "CARDSVC_KEY_FILE": "demo"}
"""The card-session routes need the key service: the card contract's demo masters."""

EXCLUDED = "^/v1/(test|auth)/"


@dataclass
class RunCounts:
    """What one schemathesis run did, from its NDJSON event report."""

    label: str
    exit_code: int
    cases: int = 0
    checks: dict[str, collections.Counter[str]] = field(default_factory=dict)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """(operation, check) of every failed check → why it is known and not ours (or None)."""
    output: str = ""

    def lines(self) -> list[str]:
        width = max((len(name) for name in self.checks), default=10)
        out = [f"{self.label}: exit {self.exit_code}, {self.cases} cases"]
        out.append(f"  {'check':<{width}}  passed  failed  skipped")
        for name, c in sorted(self.checks.items()):
            out.append(f"  {name:<{width}}  {c['success']:>6}  {c['failure']:>6}  {c['skip']:>7}")
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        out.append(f"  responses by status: {shown}")
        return out


def _counts(label: str, exit_code: int, events: Path, output: str) -> RunCounts:
    run = RunCounts(label, exit_code, output=output)
    cases: set[str] = set()
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        cases.update(recorder.get("cases", {}))
        operation = recorder.get("label", "?")
        interactions = recorder.get("interactions", {})
        for case_id, results in recorder.get("checks", {}).items():
            response = (interactions.get(case_id) or {}).get("response") or {}
            for result in results:
                counter = run.checks.setdefault(result["name"], collections.Counter())
                counter[result["status"]] += 1
                if result["status"] == "failure":
                    key = (operation, result["name"])
                    known = known_foreign(*key, response.get("headers") or {})
                    # one unexplained failure makes the pair unexplained
                    run.failures[key] = (
                        None if key in run.failures and not run.failures[key] else known
                    )
        for interaction in interactions.values():
            response = interaction.get("response") or {}
            if "status_code" in response:
                run.statuses[int(response["status_code"])] += 1
    run.cases = len(cases)
    return run


def _run(
    city: MiniCity, label: str, token: str, tmp: Path, *filters: str, card_session: str = ""
) -> RunCounts:
    events = tmp / f"{label}.ndjson"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{city.server.url}/openapi.json",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", MAX_EXAMPLES,
        "--seed", SEED,
        "--generation-deterministic",
        "--workers", "1",  # 2 workers made schemathesis itself fail (Python 3.11 threads)
        "--no-shrink",
        "--request-timeout", "20",
        "--no-color",
        "--output-sanitize", "false",
        "-H", f"Authorization: Bearer {token}",
        "--report", "ndjson", "--report-ndjson-path", str(events),
        *filters,
    ]  # fmt: skip
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py"),
        "CARDSVC_ST_CARD_SESSION": card_session,
    }
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=env,
        cwd=tmp,
        check=False,
    )
    return _counts(label, done.returncode, events, done.stdout + done.stderr)


KNOWN_FOREIGN: dict[tuple[str, str], str] = {}
"""Failures found in code that is not this module's, tolerated by operation and check
while their fix is pending (none now: the `since` Unix time, the 405 Allow header of a
path with two routes and the replay before validation were fixed in api/)."""


def known_foreign(operation: str, check: str, headers: dict[str, list[str]]) -> str | None:
    """Why a failure is a known one in code that is not this module's, else None."""
    del headers  # kept for the call sites: a cause could be told by a response header
    return KNOWN_FOREIGN.get((operation, check))


def _assert_clean(run: RunCounts) -> None:
    assert run.cases > 0, run.output[-4000:]
    assert "not_a_server_error" in run.checks
    assert "response_schema_conformance" in run.checks
    assert not any(500 <= status < 600 for status in run.statuses), run.statuses
    unknown = sorted(failure for failure, known in run.failures.items() if known is None)
    assert unknown == [], run.output[-12000:]
    assert run.exit_code == 0 or run.failures, run.output[-12000:]


@pytest.fixture(scope="module")
def city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MiniCity]:
    """The city on PostgreSQL (the production engine); on SQLite when there is none."""
    try:
        request.getfixturevalue("pg_databases")
        engine = "postgresql"
    except pytest.skip.Exception:
        engine = "sqlite"
    with served_city(request, tmp_path_factory, engine) as seeded:
        yield seeded


@pytest.fixture(scope="module")
def report_lines(request: pytest.FixtureRequest) -> list[str]:
    """Lines for the "schemathesis" section of the terminal summary (conftest.py)."""
    lines: list[str] = request.config.stash.setdefault(SCHEMATHESIS_REPORT, [])
    return lines


def _run_and_report(
    city: MiniCity,
    who: tuple[str, str, frozenset[Role]],
    tmp: Path,
    lines: list[str],
    *filters: str,
) -> RunCounts:
    """Run as a new operator (`who`: label, site, roles) with a card session of theirs for
    the card of the OpenAPI examples (A00000011, the own-site resident's)."""
    label, site, roles = who
    operator_id, token = add_operator(city.url, site, roles)
    session = add_card_session(city.url, operator_id, city.matrix_resident(Where.OWN))
    run = _run(city, f"{city.engine_name}, {label}", token, tmp, *filters, card_session=session)
    lines += run.lines()
    lines += [
        f"  known failure, not ours: {operation} {check}: {known}"
        for (operation, check), known in sorted(run.failures.items())
        if known is not None
    ]
    return run


@pytest.mark.timeout(RUN_TIMEOUT_S + 30)
def test_schemathesis_as_a_city_supervisor(
    city: MiniCity, tmp_path: Path, report_lines: list[str]
) -> None:
    who = ("supervisor of the city", CITY, frozenset({Role.SUPERVISOR}))
    run = _run_and_report(city, who, tmp_path, report_lines, "--exclude-path-regex", EXCLUDED)
    _assert_clean(run)


@pytest.mark.timeout(RUN_TIMEOUT_S + 30)
def test_schemathesis_as_a_township_clerk(
    city: MiniCity, tmp_path: Path, report_lines: list[str]
) -> None:
    who = ("clerk of 370402001", OWN, frozenset({Role.CLERK}))
    run = _run_and_report(city, who, tmp_path, report_lines, "--exclude-path-regex", EXCLUDED)
    _assert_clean(run)


def test_schemathesis_on_the_sign_in_routes(
    city: MiniCity, tmp_path: Path, report_lines: list[str]
) -> None:
    who = ("/v1/auth/* as a throwaway operator", OWN, frozenset({Role.CLERK}))
    run = _run_and_report(city, who, tmp_path, report_lines, "--include-path-regex", "^/v1/auth/")
    _assert_clean(run)
