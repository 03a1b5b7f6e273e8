"""`cardsvc person SSN`: a person's summary and enquiries E01-E05 as text tables.

Runs the real services as an operator, so every enquiry is checked against that
operator's sites and journaled under their name, as at a counter.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cardsvc.db import Database, DatabaseError, open_database
from cardsvc.db.models import Operator, Role, Site, SiteLevel
from cardsvc.idcheck import is_valid_ssn, mask_ssn
from cardsvc.services.actors import OperatorActor
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import NotFound, PermissionDenied, ValidationFailed
from cardsvc.services.items import enquiries
from cardsvc.settings import Settings

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
DEFAULT_ROWS = 12

DESCRIPTION = """\
Print a person's summary and the enquiries E01-E05 (insurance participation,
contribution history, personal account, benefit payments, employment status).

The enquiries run through the services as an operator: they see only persons of
that operator's site and the sites below it, and each is journaled under that
operator. --as USERNAME names the operator (an active clerk or supervisor); by
default the first active supervisor of the city site (the root of the site tree)
is used, when one exists. ID numbers are shown masked.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "person",
        help="a person's summary and enquiries E01-E05, as an operator",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ssn", metavar="SSN", help="the person's 18-character ID number")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: $CARDSVC_DATABASE_URL, else sqlite:///./var/cardsvc.db)",
    )
    parser.add_argument(
        "--as",
        dest="username",
        metavar="USERNAME",
        help="act as this operator (default: a supervisor of the city site)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        metavar="N",
        help=f"rows of contributions and payments to show (default {DEFAULT_ROWS})",
    )
    parser.set_defaults(func=run)


def _fail(message: str, code: int) -> int:
    print(f"cardsvc person: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    ssn: str = args.ssn.strip().upper()
    if not is_valid_ssn(ssn):
        return _fail(
            "not a valid ID number: 18 characters, 17 digits and a check character "
            "(0-9 or X) with a real birth date; check the number",
            EXIT_USAGE,
        )
    if not 1 <= args.rows <= enquiries.MAX_PAGE:
        return _fail(f"--rows must be 1..{enquiries.MAX_PAGE}", EXIT_USAGE)
    url: str = args.database or Settings.from_env().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        db = open_database(url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"database {shown}: {reason}") from exc
    try:
        return _run(db, ssn, args.username, args.rows)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"database {shown}: {reason}") from exc
    finally:
        db.dispose()


def _actor(db: Database, username: str | None) -> OperatorActor | str:
    """The operator to act as, or a message saying why there is none."""
    with db.read_only_unit_of_work() as uow:
        session = uow.session
        if username is not None:
            op = session.execute(
                select(Operator).where(Operator.username == username, Operator.active)
            ).scalar_one_or_none()
            if op is None:
                return f"no active operator {username!r}: pass --as with an existing username"
        else:
            city = session.execute(
                select(Site.code).where(Site.level == SiteLevel.CITY).order_by(Site.code)
            ).scalar()
            candidates = (
                session.execute(
                    select(Operator)
                    .where(Operator.site_code == city, Operator.active)
                    .order_by(Operator.id)
                ).scalars()
                if city is not None
                else ()
            )
            op = next((o for o in candidates if Role.SUPERVISOR in o.roles), None)
            if op is None:
                return (
                    "no active supervisor at the city site to act as: pass --as USERNAME "
                    "(a clerk or supervisor whose sites include the person)"
                )
        return OperatorActor(op.id, op.username, op.site_code, op.roles)


def _run(db: Database, ssn: str, username: str | None, rows: int) -> int:
    actor = _actor(db, username)
    if isinstance(actor, str):
        return _fail(actor, EXIT_NOT_FOUND)
    ctx = ServiceContext(database=db)
    try:
        e01 = enquiries.insurance_participation(ctx, actor, ssn)
        e02 = enquiries.contribution_history(ctx, actor, ssn, limit=rows)
        e03 = enquiries.personal_account(ctx, actor, ssn)
        e04 = enquiries.benefit_payments(ctx, actor, ssn, limit=rows)
        e05 = enquiries.employment_status(ctx, actor, ssn)
    except NotFound:
        return _fail(
            f"no person with ID number {mask_ssn(ssn)} among the residents of site "
            f"{actor.site_code} and the sites below it (acting as {actor.username}): check "
            "the number, or pass --as with an operator of the person's site",
            EXIT_NOT_FOUND,
        )
    except PermissionDenied as exc:
        return _fail(
            f"{actor.username} may not do enquiries ({exc.reason}): pass --as with a clerk "
            "or supervisor",
            EXIT_NOT_FOUND,
        )
    except ValidationFailed as exc:
        return _fail(str(exc), EXIT_USAGE)

    p = e01.person
    out: list[str] = []
    out += _section(
        "Person",
        ("field", "value"),
        [
            ("name", p.name),
            ("ID number", mask_ssn(p.ssn)),
            ("sex", p.sex.value),
            ("birth date", p.birth_date.isoformat()),
            ("residence site", p.residence_site_code),
            ("employment", p.employment_status.value),
            ("phone", p.phone or "-"),
        ],
    )
    out += _section(
        "E01 insurance participation",
        ("scheme", "status", "from", "to", "employer"),
        [
            (r.scheme.value, r.status.value, r.start_date, r.end_date, r.employer_name)
            for r in e01.relations
        ],
    )
    out += _section(
        f"E02 contribution history ({len(e02.lines)} of {e02.total}, newest first)",
        ("month", "scheme", "base", "employer", "personal", "employer name", "paid on"),
        [
            (
                str(c.month),
                c.scheme.value,
                _yuan(c.base_fen),
                _yuan(c.employer_part_fen),
                _yuan(c.personal_part_fen),
                c.employer_name,
                c.paid_on,
            )
            for c in e02.lines
        ],
    )
    out += _section(
        f"E03 personal pension account (balance {_yuan(e03.balance_fen)} yuan, "
        f"{_yuan(e03.uncredited_fen)} paid since, not yet credited)",
        ("year", "opening", "credited", "rate", "interest", "closing"),
        [
            (
                y.year,
                _yuan(y.opening_fen),
                _yuan(y.credited_fen),
                _percent(y.interest_rate),
                _yuan(y.interest_fen),
                _yuan(y.closing_fen),
            )
            for y in e03.years
        ],
    )
    out += _section(
        f"E04 benefit payments ({len(e04.lines)} of {e04.total}, "
        f"{_yuan(e04.total_amount_fen)} yuan in all)",
        ("month", "benefit", "amount", "paid on"),
        [(str(b.month), b.benefit.value, _yuan(b.amount_fen), b.paid_on) for b in e04.lines],
    )
    out += _section(
        f"E05 employment status: {e05.employment_status.value}; open registrations",
        ("kind", "since", "site", "employer", "contract", "certificate"),
        [
            (
                r.kind.value,
                r.opened_at.date(),
                r.site_code,
                r.employer_name,
                r.contract_type.value if r.contract_type else None,
                r.certificate_no,
            )
            for r in e05.open_registrations
        ],
    )
    ended = e05.last_ended_employment
    out += _section(
        "E05 last ended employment",
        ("employer", "from", "to", "why it ended", "closed"),
        []
        if ended is None
        else [
            (
                ended.employer_name,
                ended.start_date,
                ended.end_date,
                ended.separation_reason.value if ended.separation_reason else None,
                ended.closed_at.date() if ended.closed_at else None,
            )
        ],
    )
    print("\n".join(out).rstrip())
    return EXIT_OK


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _width(text: str) -> int:
    """Columns on a terminal: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


_NUMBER = re.compile(r"-?[0-9][0-9,]*(\.[0-9]+)?%?")


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _section(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = [title, "=" * _width(title)]
    if not rows:
        return [*lines, "(none)", ""]
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(_width(h), *(_width(r[i]) for r in cells)) for i, h in enumerate(header)]
    numeric = [
        all(_NUMBER.fullmatch(r[i]) or r[i] == "-" for r in cells)
        and not all(r[i] == "-" for r in cells)
        for i in range(len(header))
    ]

    def line(values: Sequence[str]) -> str:
        padded = (_pad(v, w, right=n) for v, w, n in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(row) for row in cells)
    return [*lines, ""]
