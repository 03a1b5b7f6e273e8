"""`cardsvc seed`: fill a database with a synthetic Zaozhuang (see cardsvc.seed).

The database comes from ``--database URL`` or else from the settings
(``CARDSVC_DATABASE_URL``, default SQLite ``./var/cardsvc.db``). A database with no
schema is migrated first; one with data is refused unless ``--force`` or ``--append``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cardsvc.cli.db import add_database_argument, open_engine
from cardsvc.seed.demo import DEMO_DEVICE_SECRET, DEMO_OPERATOR_PASSWORD, DEMO_PIN
from cardsvc.seed.errors import SeedOptionError
from cardsvc.seed.options import (
    DEFAULT_CARD_FILES,
    DEFAULT_HISTORY_YEARS,
    DEFAULT_PERSONS,
    DEFAULT_SEED,
    SeedMode,
    SeedOptions,
)
from cardsvc.settings import Settings

if TYPE_CHECKING:  # the seeder itself is imported when the command runs
    from cardsvc.seed.card_files import CardFile
    from cardsvc.seed.runner import SeedReport

EXIT_OK: Final = 0
EXIT_BAD_INPUT: Final = 2

EPILOG: Final = f"""\
what you get:
  sites      city 370400, its 6 districts, 65 townships, about 425 stations, with staff
             (some sites deliberately short of the plan's standards)
  operators  <role>.<site code>: admin.370400, supervisor.370400; at every district
             centre clerk, clerk2, reviewer, supervisor, admin (e.g. clerk.370402);
             at its first township clerk, reviewer, supervisor (e.g. clerk.370402001);
             at that township's first station clerk (e.g. clerk.370402001001)
  devices    kiosk.<code> and counter.<code> at every district centre and first
             township, kiosk.<code> at every first station
  residents  --persons of them with employers, insurance, contributions, pensions,
             benefits, registrations and cards in every lifecycle state

credentials (only with --demo or CARDSVC_DEMO=1; otherwise accounts are locked):
  operators  password {DEMO_OPERATOR_PASSWORD}      devices  secret {DEMO_DEVICE_SECRET}
  card files PIN {DEMO_PIN}, demo master keys

determinism:
  the same --seed, --persons, --as-of, --history-years and --demo on an empty
  database give the same content, on SQLite and PostgreSQL. --as-of defaults to
  today (UTC): certification due dates, temporary-loss lapses and medical status are
  judged against the service's clock, so demo data is seeded "as of" today.

examples:
  cardsvc seed --database sqlite:///var/demo.db
  cardsvc seed --demo --cards-dir var/cards --card-files 5
  cardsvc sim --card var/cards/<file>.json --psam
  cardsvc seed --persons 100000 --database postgresql://postgres@127.0.0.1/cardsvc
"""


def _as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {text!r}; write it as YYYY-MM-DD, e.g. --as-of 2026-06-30"
        ) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "seed",
        help="fill a database with a synthetic Zaozhuang (sites, operators, residents, cards)",
        description=(
            "Fill a database with a synthetic Zaozhuang: the real site tree, documented "
            "operators and devices, and N residents with everything the service keeps "
            "about them. Runs the migrations first when the database is empty."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_argument(parser)
    parser.add_argument(
        "--persons",
        type=int,
        default=DEFAULT_PERSONS,
        metavar="N",
        help=f"residents to create (default {DEFAULT_PERSONS})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"random seed: same seed, same content (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--as-of",
        type=_as_of,
        default=None,
        metavar="YYYY-MM-DD",
        help="the day the data is as of; nothing happens after it (default: today, UTC)",
    )
    parser.add_argument(
        "--history-years",
        type=int,
        default=DEFAULT_HISTORY_YEARS,
        metavar="Y",
        help="calendar years of monthly contributions and payments before as-of's year "
        f"(default {DEFAULT_HISTORY_YEARS})",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--force",
        action="store_true",
        help="delete ALL data of a non-empty database first (refused if the journal has entries)",
    )
    mode.add_argument(
        "--append",
        action="store_true",
        help="add residents to a database seeded before (reuses its sites and operators)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="set the documented demo passwords (also CARDSVC_DEMO=1); needed for --cards-dir",
    )
    parser.add_argument(
        "--cards-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write personalisation files of seeded residents' active cards, with an index",
    )
    parser.add_argument(
        "--card-files",
        type=int,
        default=None,
        metavar="K",
        help=f"how many card files (default {DEFAULT_CARD_FILES}; needs --cards-dir)",
    )
    parser.set_defaults(func=run_seed)


def options_from_args(args: argparse.Namespace, *, demo_env: bool, today: date) -> SeedOptions:
    """Raises SeedOptionError naming the option, the problem and the fix."""
    if args.force:
        mode = SeedMode.FORCE
    elif args.append:
        mode = SeedMode.APPEND
    else:
        mode = SeedMode.FRESH
    card_files = args.card_files
    if card_files is None:
        card_files = DEFAULT_CARD_FILES if args.cards_dir is not None else 0
    return SeedOptions(
        as_of=args.as_of or today,
        persons=args.persons,
        seed=args.seed,
        history_years=args.history_years,
        mode=mode,
        demo=args.demo or demo_env,
        cards_dir=args.cards_dir,
        card_files=card_files,
    )


def run_seed(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    today = datetime.now(UTC).date()
    try:
        options = options_from_args(args, demo_env=settings.demo, today=today)
    except SeedOptionError as exc:
        print(f"cardsvc seed: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from cardsvc.seed.card_files import write_card_files  # noqa: PLC0415 - see above
    from cardsvc.seed.progress import TextProgress  # noqa: PLC0415
    from cardsvc.seed.runner import seed_database  # noqa: PLC0415

    with open_engine(args) as (engine, shown):
        report = seed_database(engine, options, progress=TextProgress())
        files: tuple[CardFile, ...] = ()
        if options.cards_dir is not None:
            files = write_card_files(engine, report, options.cards_dir, options.card_files)
    print(format_report(report, shown, files, as_of_given=args.as_of is not None))
    return EXIT_OK


def format_report(
    report: SeedReport, shown: str, files: Sequence[CardFile], *, as_of_given: bool
) -> str:
    added = report.added
    lines = [f"seeded {shown}"]
    how = {
        SeedMode.FRESH: "fresh",
        SeedMode.FORCE: "after deleting the existing data",
        SeedMode.APPEND: "appended",
    }[report.mode]
    if report.schema_created:
        how += "; schema created (the database was empty)"
    as_of = report.as_of.isoformat()
    if not as_of_given:
        as_of += f" (today; --as-of {as_of} reproduces this content)"
    lines.append(f"  as of {as_of}, seed {report.seed}, {how}")
    if report.wiped:
        lines.append("  deleted first: " + ", ".join(f"{t} {n:,}" for t, n in report.wiped.items()))
    order = [
        "sites",
        "staff",
        "operators",
        "devices",
        "employers",
        "persons",
        "cards",
        "insurance_relations",
        "contributions",
        "pension_account_years",
        "pension_entitlements",
        "pension_certifications",
        "benefit_payments",
        "registrations",
        "pending_changes",
    ]
    lines.append(
        "  rows: " + ", ".join(f"{t.replace('_', ' ')} {added[t]:,}" for t in order if added.get(t))
    )
    lines.append(
        "  cards by state: "
        + ", ".join(f"{s.replace('_', ' ')} {n:,}" for s, n in sorted(report.card_states.items()))
    )
    if report.mode is SeedMode.APPEND and "operators" not in report.added:
        lines.append(
            "  operators and devices of the earlier seed kept"
            + (f" (password {DEMO_OPERATOR_PASSWORD})" if report.demo else "")
        )
    elif report.demo:
        lines.append(
            f"  {len(report.operators)} operators, password {DEMO_OPERATOR_PASSWORD} "
            f"(e.g. clerk.370402, reviewer.370402001, supervisor.370402, admin.370400); "
            f"{len(report.devices)} devices, secret {DEMO_DEVICE_SECRET}"
        )
    else:
        lines.append(
            f"  {len(report.operators)} operators and {len(report.devices)} devices are locked "
            "(no password): add --demo for the documented demo credentials"
        )
    for f in files:
        lines.append(
            f"  card file {f.path}: generation {f.generation}, {f.card_number}, {f.masked_ssn} "
            f"{f.name} (PIN {DEMO_PIN})"
        )
    if files:
        lines.append(f"  index: {files[0].path.parent / 'README.txt'}")
    lines.append(f"  {report.elapsed_s:.1f} s")
    return "\n".join(lines)
